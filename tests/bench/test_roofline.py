"""bench/roofline.py: one tiny run on the built-in policy counts the step's matrix products."""

from __future__ import annotations

import re

import pytest

from bench.roofline import gemm_rates, main


def test_gemm_rates_cover_the_square_and_the_models_shapes():
    rates = gemm_rates(__import__("torch").float32, repeats=1, size=64)
    assert set(rates) == {"64^3", "16 x 576 x 1536", "1024 x 576 x 1536"} and all(r > 0 for r in rates.values())


# demo_sft_cache builds the demo's 700-step policy (~90 s) on a cold cache: slow, out of `make test-fast`.
@pytest.mark.slow
def test_a_tiny_run_counts_the_steps_products_and_gives_a_floor(demo_sft_cache, monkeypatch, capsys):
    monkeypatch.setenv("SEALIGN_CACHE", str(demo_sft_cache))
    assert main(["--policy", "builtin", "--repeats", "1", "--gemm-size", "64", "--batch-size", "2",
                 "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    rows = {m[1]: (float(m[2]), float(m[3]), float(m[4]))
            for m in re.finditer(r"^\| (learner step|sampling|step) \| ([\d.]+) \| ([\d.]+) \| \**([\d.]+)", out, re.M)}
    assert set(rows) == {"learner step", "sampling", "step"}, out
    assert rows["learner step"][1] > 0 and rows["sampling"][1] > 0  # the profiler counted FLOPs
    assert abs(rows["step"][1] - rows["learner step"][1] - rows["sampling"][1]) <= 0.002
