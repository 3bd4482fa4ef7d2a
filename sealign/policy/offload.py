"""A frozen network's weights in a file, resident in memory only while they are read.

A full fine-tune holds the policy and a frozen copy of its initial weights, the DPO reference (plus
the policy's gradients and AdamW's two moments). The reference is read once a step: its
log-probabilities of the step's pairs. ``FileBackedWeights`` moves a frozen network's parameters
into one file mapped (shared) into memory, so that between those reads ``release()`` can drop the
pages from the process (``madvise(MADV_DONTNEED)``); the next read faults them back in from the
page cache, or from the disk where the kernel reclaimed them under memory pressure. This is the
CPU counterpart of OpenRLHF's ``--ref_offload``: the reference's weights and the policy's gradients
are never resident together (``PreferenceLearner`` scores a batch with the reference before the
policy's forward pass, then releases it).

The file is an unlinked temporary file in the folder given (the run's): nothing is left behind,
even after ``kill -9``. It must be on a disk, not tmpfs, or the "released" pages stay in memory.
Writes to the parameters (SELM's ``pi_ref = pi_t``, a resumed checkpoint) go through the shared
mapping to the file, so a release never loses them. Buffers (rotary tables) stay in memory.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

import torch

ALIGNMENT = 64
"""Byte alignment of each parameter in the file (and so in memory): whole cache lines for SIMD."""


class FileBackedWeights:
    """Moves ``network``'s parameters (CPU tensors, each shared one once) into a file in ``directory``,
    mapped into memory; the parameters keep their objects, shapes, dtypes and values.

    ``size``: the file's bytes. ``release()``: the pages leave the process until next read."""

    def __init__(self, network: torch.nn.Module, directory: str | Path):
        params = list(network.parameters())  # a tied weight (embedding = LM head) is listed once
        devices = {p.device.type for p in params}
        if devices - {"cpu"}:
            raise ValueError(f"FileBackedWeights maps CPU tensors; this network is on {sorted(devices)}")
        offsets, size = [], 0
        for p in params:
            size = -(-size // ALIGNMENT) * ALIGNMENT
            offsets.append(size)
            size += p.numel() * p.element_size()
        self.size = size
        self.file = tempfile.TemporaryFile(dir=directory, prefix="sealign-weights-")  # unlinked at once
        os.ftruncate(self.file.fileno(), max(size, 1))
        for p, offset in zip(params, offsets):
            data = p.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
            written = os.pwrite(self.file.fileno(), memoryview(data), offset)
            if written != data.nbytes:
                raise OSError(f"short write to the weights file ({written} of {data.nbytes} bytes)")
        self.mapping = mmap.mmap(self.file.fileno(), max(size, 1), flags=mmap.MAP_SHARED,
                                 prot=mmap.PROT_READ | mmap.PROT_WRITE)
        flat = torch.frombuffer(self.mapping, dtype=torch.uint8)
        with torch.no_grad():
            for p, offset in zip(params, offsets):
                p.data = flat[offset:offset + p.numel() * p.element_size()].view(p.dtype).view(p.shape)

    def release(self) -> None:
        """Drop the weights' pages from this process; they stay in the file and the page cache."""
        if hasattr(mmap, "MADV_DONTNEED"):  # Linux, macOS; elsewhere the pages simply stay
            self.mapping.madvise(mmap.MADV_DONTNEED)
