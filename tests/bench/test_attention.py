"""bench/attention.py: it times the grouped bf16 attention against SDPA."""

from __future__ import annotations


def test_the_attention_bench_times_both_kernels(tmp_path, capsys):
    from bench.attention import main

    assert main(["--heads", "4", "--kv-heads", "2", "--dim", "8", "--context", "16", "--repeats", "1",
                 "--out", str(tmp_path / "table.md")]) == 0
    lines = (tmp_path / "table.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| ") and line.endswith("x |")]
    assert len(rows) == 6 and {"float32", "bfloat16"} <= {row.split(" | ")[1] for row in rows}
