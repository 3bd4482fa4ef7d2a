"""bench/bf16_fallback.py: it times a policy in bf16 and in float32."""

from __future__ import annotations

from sealign.policy import hardware


def test_the_bf16_fallback_bench_times_both_precisions(tiny_policy_folder):
    from bench.bf16_fallback import measure

    times = measure(str(tiny_policy_folder), lora_r=0, max_new_tokens=3, repeats=1)
    assert {"decode_no", "decode_bf16", "learn_no", "learn_bf16"} <= set(times)
    assert all(times[key] > 0 for key in ("decode_no", "decode_bf16", "learn_no", "learn_bf16"))
    assert times["onednn_bf16"] == hardware.onednn_bf16()
