"""The hardware checks in front of every fast path (sealign/policy/hardware.py): forced off by
SEALIGN_FORCE_UNSUPPORTED, each fallback said in one line per process."""

from __future__ import annotations

import pytest
import torch

from sealign.policy import hardware

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(hardware, "_warned", set())
    monkeypatch.delenv(hardware.FORCE_VARIABLE, raising=False)


def hardware_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "sealign.hardware"]


@pytest.mark.parametrize("value,off", [("", set()), ("bf16", {"bf16"}), (" fused-adamw , bf16", set(hardware.FEATURES)),
                                       ("all", set(hardware.FEATURES))])
def test_the_force_variable_names_the_features_it_turns_off(monkeypatch, value, off):
    monkeypatch.setenv(hardware.FORCE_VARIABLE, value)
    assert {feature for feature in hardware.FEATURES if hardware.forced_off(feature)} == off


def test_forcing_bf16_off_turns_every_bf16_check_off(monkeypatch):
    monkeypatch.setenv(hardware.FORCE_VARIABLE, "bf16")
    assert not hardware.onednn_bf16() and not hardware.native_bf16(CPU)
    assert hardware.bf16_runs(CPU)  # a CPU emulates bf16: autocast still runs, slower
    assert hardware.fused_adamw([torch.zeros(2)]) == ("cpu" in hardware._fused_kernel_devices())  # not a bf16 matter


def test_native_cpu_bf16_needs_onednn_bf16_and_the_instructions():
    native = hardware.native_bf16(CPU)
    assert native <= hardware.onednn_bf16()
    if hardware._is_x86():
        assert native == (hardware.onednn_bf16() and hardware._cpu_has_bf16_instructions())


def test_bf16_on_a_cpu_without_it_in_hardware_runs_and_says_once_that_it_is_slower(monkeypatch, caplog):
    monkeypatch.setenv(hardware.FORCE_VARIABLE, "bf16")
    assert [hardware.mixed_precision_for("bf16", CPU) for _ in range(3)] == ["bf16"] * 3
    warnings = hardware_warnings(caplog)
    assert len(warnings) == 1 and "slower than float32" in warnings[0] and "avx512_bf16" in warnings[0]
    assert hardware.mixed_precision_for("no", CPU) == "no"


def test_bf16_where_it_cannot_run_falls_back_to_float32_in_one_line(monkeypatch, caplog):
    monkeypatch.setattr(hardware, "bf16_runs", lambda device: False)  # a GPU older than bf16 emulation
    assert [hardware.mixed_precision_for("bf16", CPU) for _ in range(2)] == ["no", "no"]
    warnings = hardware_warnings(caplog)
    assert len(warnings) == 1 and "run in float32" in warnings[0]


def test_no_warning_where_bf16_is_native(caplog):
    if not hardware.native_bf16(CPU):
        pytest.skip("this CPU has no bf16 in hardware (avx512_bf16 / AMX)")
    assert hardware.mixed_precision_for("bf16", CPU) == "bf16"
    assert hardware_warnings(caplog) == []
