"""bench/packed.py: it times oneDNN-packed against plain linear layers."""

from __future__ import annotations

import pytest

from sealign.policy import hardware, packed

pytestmark = pytest.mark.skipif(not packed.available(), reason="this torch has no oneDNN linear ops")


@pytest.mark.parametrize("forced", [False, True], ids=["this-cpu", "without-onednn-bf16"])
def test_the_packing_bench_times_every_shape_in_every_dtype_the_cpu_packs(capsys, monkeypatch, forced):
    from bench.packed import SHAPES, main

    if forced:
        monkeypatch.setenv(hardware.FORCE_VARIABLE, "bf16")
    assert main(["--repeats", "1", "--rows", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.endswith("x |")]
    assert len(rows) == (2 if hardware.onednn_bf16() else 1) * len(SHAPES)  # float32, and bfloat16 where it packs
    assert not forced or all("bfloat16" not in row for row in rows)
