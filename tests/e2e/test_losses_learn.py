"""Three objectives of different shapes each improve on the SFT policy in a short online run (minutes)."""

import pytest
import torch

from sealign.config import RunConfig
from sealign.run.loop import run
from tests.conftest import TEST_SFT_STEPS

pytestmark = pytest.mark.slow
torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("loss", "settings"),
    [
        ("ipo", {}),  # squared loss toward a finite margin
        ("simpo", {"beta": 2.0}),  # reference-free, length-normalised (its paper's beta)
        ("selm", {"alpha": 0.005}),  # DPO + an exploration term on samples of the reference policy
    ],
)
def test_short_online_run_beats_the_sft_policy(tmp_path, sft_cache, loss, settings):
    config = RunConfig(
        out_dir=str(tmp_path), run_name=loss, cache_dir=str(sft_cache), sft_steps=TEST_SFT_STEPS, threads=1,
        loss=loss, budget=256, batch_size=32, eval_every=8, num_eval_prompts=96, **settings,
    )
    summary = run(config, log=lambda _: None)
    assert summary["queries"] == 256
    assert summary["final_win_rate"] > 0.5, (loss, summary["curve"])
