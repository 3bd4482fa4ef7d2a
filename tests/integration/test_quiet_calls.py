"""A normal run makes only current library calls: no DeprecationWarning or FutureWarning (a deprecated
call works today and breaks on the next transformers or peft release)."""

from __future__ import annotations

import traceback
import warnings
from pathlib import Path

import pytest

from sealign.run.loop import run
from tests.conftest import tiny_run_config

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
# Libraries whose deprecated API raises the warning; the deprecated *call* is made by the first frame outside them.
RAISERS = ("/transformers/", "/torch/", "/warnings.py", str(Path(__file__)))


def deprecations_during(action) -> list[tuple[str, str]]:
    """(warning, file that made the deprecated call) for each deprecation warned while ``action()`` runs."""
    caught: list[tuple[str, str]] = []

    def record(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DEPRECATIONS):
            stack = [f.filename for f in traceback.extract_stack()]
            caller = next((f for f in reversed(stack) if not any(part in f for part in RAISERS)), filename)
            caught.append((f"{category.__name__}: {message}", caller))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record  # restored when the block ends
        action()
    return caught


@pytest.mark.parametrize("settings", [{}, {"preset": "sea", "explorer": "sea-ee", "erm_sync": 0.3, "erm_burn_in": 1},
                                      {"schedule": "offline"}], ids=["online-dpo", "sea", "offline-dpo"])
def test_a_short_run_emits_no_deprecation_warning(tmp_path, tiny_policy_folder, settings):
    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="quiet", budget=16, **settings)
    assert deprecations_during(lambda: run(config, log=lambda _: None)) == []


def test_a_lora_run_makes_no_deprecated_call_of_its_own(tmp_path, tiny_policy_folder):
    """peft (0.21.2, its latest release) itself reads transformers' deprecated `is_gradient_checkpointing`
    when it wraps a model; that call is peft's to change, and is the only deprecation allowed here."""
    pytest.importorskip("peft")
    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="quiet-lora", budget=16, lora_r=4, lora_alpha=8)
    caught = deprecations_during(lambda: run(config, log=lambda _: None))
    assert [(w, caller) for w, caller in caught if "/sealign/" in caller] == []
    assert all("/peft/" in caller and "is_gradient_checkpointing" in w for w, caller in caught), caught
