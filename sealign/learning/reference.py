"""The reference policy pi_ref of the pairwise losses: its network, and that network's lifecycle.

- At first it is the policy's shared frozen initial copy (``HFPolicy.frozen_copy``), which the
  explorer's features and the actor's reference samples (XPO) also read.
- Before it first moves (SELM's ``pi_ref = pi_t``, ``sync``; a resumed checkpoint's moved reference,
  ``move_to``) it becomes its own copy, so the shared one stays the initial policy.
- With ``--offload-reference`` its weights live in a file mapped into memory (``FileBackedWeights``),
  resident only while read: ``release`` drops them after each step's reference pass. Its own copy is
  offloaded again when it is made.
- ``logprobs`` scores responses with it; inside ``remembering`` each (prompt, response) is scored
  once and reused (the network does not change there: an offline round's epochs, one offloaded step).
- ``sample`` draws one response per prompt from it (SELM's and XPO's ``y~ ~ pi_ref``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import Tensor

from sealign.errors import UserError
from sealign.learning.learner_settings import OptimiserSettings
from sealign.policy.base import TrainablePolicy
from sealign.policy.dropout import disable_dropout
from sealign.records.types import TokenIds


def build_reference(policy: TrainablePolicy, settings: OptimiserSettings, loss: str, run_dir: Path,
                    uses_reference: bool, network=None) -> ReferenceModel | None:
    """The loss's pi_ref: ``network`` when given (a frozen copy), else the policy's shared frozen initial
    copy, its dropout off unless ``--keep-dropout``; None for a reference-free loss (SimPO, reinforce).
    With ``--offload-reference`` its weights live in a file in ``run_dir``."""
    offload = settings.offload_reference
    if not uses_reference:
        if offload:
            raise UserError(f"--offload-reference: loss {loss!r} uses no reference model; "
                            "run without --offload-reference")
        return None
    network = network or policy.frozen_copy()
    if not settings.keep_dropout and isinstance(network, torch.nn.Module):
        disable_dropout(network)
    return ReferenceModel(policy, network, run_dir if offload else None)


class ReferenceModel:
    """pi_ref over ``policy``'s tokenizer and scoring code; ``network`` is the frozen copy it scores with."""

    def __init__(self, policy: TrainablePolicy, network, offload_to: Path | None = None):
        self.policy = policy
        self.network = network
        self.moved = False  # True once set to an iterate: a checkpoint must keep it
        self.offload_to = offload_to
        self.file = self._offloaded(network) if offload_to is not None else None
        self.memo: dict | None = None  # (prompt, response) -> log pi_ref, inside ``remembering``

    def logprobs(self, prompts: list[TokenIds], responses: list[TokenIds]) -> Tensor:
        """log pi_ref(y|x) ``[B]``, remembered per pair inside ``remembering``."""
        keys = [(tuple(p), tuple(r)) for p, r in zip(prompts, responses)] if self.memo is not None else None
        if keys is not None and all(k in self.memo for k in keys):
            return torch.tensor([self.memo[k] for k in keys], device=self.policy.device)
        with torch.no_grad():
            ref, _ = self.policy.sequence_logprobs(prompts, responses, model=self.network)
        if keys is not None:
            self.memo.update(zip(keys, ref.tolist()))
        return ref

    @contextlib.contextmanager
    def remembering(self):
        """Inside, each pair's log-prob is computed once (a memo already open is kept)."""
        outer = self.memo
        self.memo = {} if outer is None else outer
        try:
            yield
        finally:
            self.memo = outer

    def sample(self, prompt_ids: list[TokenIds], seed: int, temperature: float, top_p: float,
               max_new_tokens: int) -> list[TokenIds]:
        """One response per prompt from pi_ref; the randomness depends only on ``seed`` (the global
        RNG is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            samples = self.policy.generate(prompt_ids, n=1, temperature=temperature, top_p=top_p,
                                           max_new_tokens=max_new_tokens, model=self.network)
        return [group[0] for group in samples]

    @property
    def offloaded(self) -> bool:
        return self.file is not None

    def release(self) -> None:
        """Offloaded: its weights leave memory until next read; otherwise nothing."""
        if self.file is not None:
            self.file.release()

    def sync(self) -> None:
        """pi_ref = the policy as it is now (SELM Algorithm 1, line 4: ``pi_ref = pi_t``)."""
        self.move_to(self.policy.model.state_dict())

    def move_to(self, state: dict) -> None:
        """pi_ref = the network weights ``state`` (a checkpoint's moved reference)."""
        self._own().load_state_dict(state)
        self.moved = True

    def state_dict(self) -> dict | None:
        """What a checkpoint keeps of pi_ref: its weights once moved, else None (the initial policy)."""
        return self.network.state_dict() if self.moved else None

    def _own(self):
        """The network, made this reference's own before it first moves: until then it is the
        policy's shared frozen initial copy, which the explorer's features also read."""
        if not self.moved and self.policy.is_initial(self.network):
            self.network = self.policy.detached_copy()
            if self.file is not None:
                self.file = self._offloaded(self.network)
        return self.network

    def _offloaded(self, network):
        """``--offload-reference``: ``network``'s weights moved to a file in ``offload_to`` (the run's folder)."""
        from sealign.policy.offload import FileBackedWeights

        if self.policy.is_lora:
            raise UserError("--offload-reference: a LoRA policy's reference is the policy itself with its "
                            "adapters off (no second copy to offload); run without --offload-reference")
        if self.policy.device.type != "cpu":
            raise UserError(f"--offload-reference keeps the reference in CPU memory mapped from a file; this "
                            f"policy is on {self.policy.device.type}: run without --offload-reference")
        self.offload_to.mkdir(parents=True, exist_ok=True)
        return FileBackedWeights(network, self.offload_to)
