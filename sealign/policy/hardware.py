"""What this machine can compute, asked before a fast path is taken.

Each fast path of the policy and the learner needs something a CPU, a GPU or the torch build may lack:

- oneDNN's bfloat16 kernels (the packed linear layers of ``packed.py``) need avx512bw/vl/dq or
  avx_ne_convert; without them oneDNN raises ``bf16 path needs the cpu support ...`` (an AMD EPYC
  without AVX-512).
- bfloat16 at speed needs it in hardware: avx512_bf16 or AMX on an x86 CPU, compute capability 8.0
  or more on a GPU. Elsewhere bf16 products are emulated (slower than float32), and a GPU without
  even emulation cannot run bf16 autocast at all.
- fused AdamW needs a torch with the fused kernel for the parameters' device.

A caller asks here, takes the plain path where the answer is no, and says so once per process
(``warn_once``), never once per call. ``SEALIGN_FORCE_UNSUPPORTED`` (a comma-separated list of
``FEATURES``, or ``all``) makes the named checks answer no: the plain paths then run, and are
tested, on a machine that has everything.
"""

from __future__ import annotations

import functools
import logging
import os
import platform

import torch

FORCE_VARIABLE = "SEALIGN_FORCE_UNSUPPORTED"
FEATURES = ("bf16", "fused-adamw")
"""What ``SEALIGN_FORCE_UNSUPPORTED`` can turn off: 'bf16' (every bfloat16 check: oneDNN's, the
CPU's, the GPU's) and 'fused-adamw'."""

FUSED_ADAMW_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)

logger = logging.getLogger("sealign.hardware")
_warned: set[str] = set()


def forced_off(feature: str) -> bool:
    """True when ``SEALIGN_FORCE_UNSUPPORTED`` names ``feature`` (or says ``all``). Read on every call,
    so a test can set it for one test alone."""
    named = {name.strip() for name in os.environ.get(FORCE_VARIABLE, "").split(",") if name.strip()}
    return feature in named or "all" in named


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as one warning line, the first time ``key`` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def onednn_bf16() -> bool:
    """oneDNN computes in bfloat16 on this CPU (what a packed bf16 linear layer needs)."""
    return not forced_off("bf16") and _onednn_bf16()


def native_bf16(device: torch.device) -> bool:
    """bfloat16 products run in hardware on ``device``: avx512_bf16 or AMX (x86) or oneDNN's bf16
    (other CPUs, e.g. Arm's bf16 extension), compute capability >= 8.0 (CUDA). Other devices: True
    (nothing known to check)."""
    if forced_off("bf16"):
        return False
    if device.type == "cpu":
        return _onednn_bf16() and (_cpu_has_bf16_instructions() if _is_x86() else True)
    if device.type == "cuda":
        return _cuda_bf16(including_emulation=False)
    return True


def bf16_runs(device: torch.device) -> bool:
    """bfloat16 autocast runs on ``device`` at all (natively or emulated). Every CPU emulates it;
    a GPU that cannot is refused by ``torch.autocast`` itself."""
    if device.type == "cuda":
        return not forced_off("bf16") and _cuda_bf16(including_emulation=True)
    return True


def fused_adamw(params: list[torch.Tensor]) -> bool:
    """torch has a fused AdamW kernel for every one of ``params`` (its device type and dtype)."""
    if forced_off("fused-adamw") or not params:
        return False
    devices = _fused_kernel_devices()
    return all(p.device.type in devices and p.dtype in FUSED_ADAMW_DTYPES for p in params)


def mixed_precision_for(requested: str, device: torch.device) -> str:
    """``requested`` ('no' or 'bf16') as ``device`` can run it. 'bf16' becomes 'no' where bf16 autocast
    cannot run at all (a GPU without bf16), and stays where bf16 is emulated, which is slower than
    float32 (bench/results/throughput.md, "Without native bf16"); one warning line says which."""
    if requested != "bf16":
        return requested
    if not bf16_runs(device):
        warn_once("bf16-off", f"--mixed-precision bf16: this {device.type} device cannot compute in bfloat16; "
                              "the forward passes run in float32 instead")
        return "no"
    if not native_bf16(device):
        warn_once("bf16-emulated", f"--mixed-precision bf16: this {device.type} has no bfloat16 in hardware "
                                   f"({BF16_HARDWARE.get(device.type, 'bf16 units')}); emulated bf16 is slower "
                                   f"than float32{EMULATED_COST.get(device.type, '')}: drop --mixed-precision for "
                                   "speed")
    return "bf16"


BF16_HARDWARE = {"cpu": "avx512_bf16 or AMX", "cuda": "compute capability 8.0+"}
EMULATED_COST = {"cpu": " (SmolLM2 + LoRA: steps 2-11x slower; bench/results/throughput.md)"}
"""What emulated bf16 was measured to cost (``python bench/bf16_fallback.py``), by device type."""


@functools.cache
def _onednn_bf16() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the probe, or without oneDNN
        return False


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@functools.cache
def _cpu_has_bf16_instructions() -> bool:
    """avx512_bf16 or AMX's bf16 tiles: torch's own probes, else the kernel's list of CPU flags."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(probe is not None for probe in probes):
        return any(probe() for probe in probes)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            flags = set(file.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _cuda_bf16(including_emulation: bool) -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=including_emulation)
    except TypeError:  # an older torch: no emulation switch, and no emulation
        return torch.cuda.is_bf16_supported()


@functools.cache
def _fused_kernel_devices() -> tuple[str, ...]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # a torch older than the fused kernels' registry had them on CUDA only
        return ("cuda",)
    return tuple(_get_fused_kernels_supported_devices())
