"""RunConfig.validate: a setting the chosen schedule, explorer or runtime would silently ignore is refused in
one line instead."""

from __future__ import annotations

import pytest

from sealign.config import RunConfig
from sealign.errors import ConfigError


@pytest.mark.parametrize("settings, message", [
    (dict(schedule="iterative", erm_sync=0.3, explorer="sea-ee"), "erm_sync .* needs --schedule online"),
    (dict(schedule="offline", loss="reinforce", policy_signal="reward-model"), "needs --schedule online"),
    (dict(schedule="iterative", learn_policy=False), "learn_policy false .* needs --schedule online"),
    (dict(schedule="iterative", round_reference="last", lora_r=8), "LoRA"),
    (dict(explorer="xpo"), "--reference-candidates 1"),
    (dict(reference_candidates=1, policy_backend="vllm"), "needs --policy-backend hf"),
])
def test_settings_a_schedule_would_ignore_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**settings).validate()
