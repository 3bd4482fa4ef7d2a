"""The learner: loss steps on the policy (against a frozen reference where the loss has one), and checkpoints.

Two inputs: ``step(PreferenceBatch)`` for the pairwise losses of ``sealign.learning.losses.PAIR_LOSSES`` (and
for ``reinforce``, which turns each pair into two signed signals), and
``reinforce_step(SignalBatch)`` for Asghari et al.'s update on (prompt, response, signal) triples,
regularised toward an EMA anchor of the policy (``sealign.learning.optimiser.AnchorEMA``). The reference
network and its lifecycle are ``sealign.learning.reference.ReferenceModel``; atomic writes and RNG states
``sealign.learning.checkpoint``.
"""

from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path

import torch

from sealign.learning import checkpoint
from sealign.learning.learner_settings import OptimiserSettings
from sealign.learning.losses import LOSSES, PAIR_SETTINGS, PairLogps, compute_loss
from sealign.learning.optimiser import AnchorEMA, build_optimiser
from sealign.learning.reference import build_reference
from sealign.lookup import pick
from sealign.policy.base import TrainablePolicy
from sealign.policy.dropout import disable_dropout
from sealign.records.types import PreferenceBatch, SignalBatch
from sealign.run.faults import fault_point
from sealign.run.sampling_settings import SamplingSettings


def loss_hyperparameters(loss_name: str, config) -> dict:
    """The loss's keyword arguments, read from the run settings its ``Loss`` spec names (plus
    ``compute_loss``'s own ``sft_weight`` for the pairwise losses)."""
    loss = pick("loss", loss_name, LOSSES)
    settings = {**loss.settings, **(PAIR_SETTINGS if loss.input == "pairs" else {})}
    return {keyword: getattr(config, setting) for keyword, setting in settings.items()}


class PreferenceLearner:
    """AdamW on a training objective, with micro-batch gradient accumulation and norm clipping.

    Pairwise losses get the frozen reference's log-probs unless reference-free (SimPO); SELM and
    XPO also get the policy's log-probs of one reference sample per pair, sampled here with the
    reference weights when the batch does not carry them. ``reinforce`` keeps an ``AnchorEMA``.
    """

    def __init__(self, policy: TrainablePolicy, config, reference=None):
        """``config``: the run's (``RunConfig``). The learner reads its own group, ``OptimiserSettings``,
        and besides it the loss's settings, ``seed``, ``run_dir``, ``round_init`` and, for the
        reference samples of SELM and XPO, the candidates' ``SamplingSettings``."""
        self.loss = pick("loss", config.loss, LOSSES)
        self.policy = policy
        self.config = config
        self.settings: OptimiserSettings = config.part(OptimiserSettings)
        self.sampling: SamplingSettings = config.part(SamplingSettings)
        self.seed = config.seed
        self.loss_name = config.loss
        self.hyper = loss_hyperparameters(config.loss, config)
        self.reference_model = build_reference(policy, self.settings, config.loss, Path(config.run_dir),
                                               self.loss.uses_reference, reference)
        if not self.settings.keep_dropout:
            disable_dropout(policy.model)
        self.anchor = (AnchorEMA(policy.model, config.anchor_tau, config.anchor_weight)
                       if self.loss.input == "signals" else None)
        self.optimizer, self.scheduler = build_optimiser(policy.model, self.settings,
                                                         planned_updates=-(-config.budget // config.batch_size))
        self.steps = 0
        self.initial_state = (
            {k: v.detach().clone() for k, v in policy.model.state_dict().items()}
            if config.round_init == "sft" else None
        )

    @property
    def reference(self):  # the reference's network (None for a reference-free loss)
        return self.reference_model and self.reference_model.network

    @property
    def reference_file(self):  # --offload-reference: the file the reference's weights live in (else None)
        return self.reference_model and self.reference_model.file

    # ------------------------------------------------------------------ pairwise losses
    def step(self, batch: PreferenceBatch) -> dict[str, float]:
        """One optimiser step on ``batch`` (split into micro-batches); returns averaged metrics."""
        if len(batch) == 0:
            return {}
        if self.loss.input == "signals":
            return self.reinforce_step(SignalBatch.from_preferences(batch))
        if self.loss.needs_ref_sample and batch.ref_sample_ids is None:
            batch = self.with_reference_samples(batch)
        reference = self.reference_model
        if reference is None or not reference.offloaded:
            return self._optimise(batch, self._pair_loss)
        # The reference's pages and the policy's gradients are never resident together: the whole
        # batch is scored with the reference first, then its weights leave memory until next step.
        with reference.remembering():
            reference.logprobs(batch.prompt_ids + batch.prompt_ids, batch.chosen_ids + batch.rejected_ids)
            reference.release()
            return self._optimise(batch, self._pair_loss)

    def _pair_loss(self, part: PreferenceBatch):
        return compute_loss(self.loss_name, self._pair_logps(part), **self.hyper)

    def _optimise(self, batch, loss_of) -> dict[str, float]:
        """Accumulate ``loss_of(micro_batch)`` over micro-batches, add the anchor penalty, clip, step."""
        self.policy.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        micro = self.settings.micro_batch_size
        for start in range(0, len(batch), micro):
            part = batch.slice(start, start + micro)
            weight = len(part) / len(batch)
            out = loss_of(part)
            (out.loss * weight).backward()
            for key, value in {"loss": out.loss.item(), **out.metrics}.items():
                totals[key] = totals.get(key, 0.0) + value * weight
        if self.anchor is not None:
            penalty = self.anchor.penalty()
            if penalty.requires_grad:
                penalty.backward()
            totals["anchor/penalty"] = float(penalty.detach())
            totals["loss"] = totals.get("loss", 0.0) + float(penalty.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        if self.reference_file is not None:  # gone before the next reference pass, and while sampling
            self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.anchor is not None:
            self.anchor.update()
            totals["anchor/distance"] = float(self.anchor.squared_distance().detach().sqrt())
        self.steps += 1
        self.policy.model.eval()
        totals["grad_norm"] = float(grad_norm)
        totals["lr"] = self.scheduler.get_last_lr()[0]
        totals["learn/pairs"] = len(batch)  # a short step (tail, query grid) shows in its size
        return totals

    def with_reference_samples(self, batch: PreferenceBatch) -> PreferenceBatch:
        """``batch`` with one response per pair sampled from the frozen reference policy, at the
        candidates' temperature / top-p; the randomness depends only on (seed, learner step)."""
        sampling = self.sampling
        samples = self.reference_model.sample(batch.prompt_ids, self.seed * 1_000_003 + 500_009 + self.steps,
                                              sampling.temperature, sampling.top_p, sampling.max_new_tokens)
        return PreferenceBatch(batch.prompt_ids, batch.chosen_ids, batch.rejected_ids, samples)

    def load_weights(self, state: dict) -> None:
        """Set the trainable weights to ``state`` (a ``policy.trainable_state()``), e.g. an earlier
        round's snapshot picked on a validation split; the optimiser is left as it is."""
        self.policy.load_trainable_state(state)

    def sync_reference(self) -> None:
        """Set pi_ref to the current policy (SELM Algorithm 1, line 4: ``pi_ref = pi_t``)."""
        if self.reference_model is not None:
            self.reference_model.sync()

    def restart_from_initial(self) -> None:
        """Back to the starting weights with a fresh optimiser: RLHFlow's "train each iteration from
        the SFT model on all data so far" (Dong et al. 2024 Algorithm 2)."""
        if self.initial_state is None:
            raise ValueError("restart_from_initial needs round_init='sft' when the learner is built")
        self.policy.model.load_state_dict(self.initial_state)
        self.optimizer.state.clear()

    def _pair_logps(self, part: PreferenceBatch) -> PairLogps:
        n = len(part)
        prompts = part.prompt_ids + part.prompt_ids
        responses = part.chosen_ids + part.rejected_ids
        with_sample = self.loss.needs_ref_sample and part.ref_sample_ids is not None
        # One policy forward over chosen, rejected (and reference samples).
        all_prompts = prompts + (part.prompt_ids if with_sample else [])
        all_responses = responses + (part.ref_sample_ids if with_sample else [])
        logps, lengths = self.policy.sequence_logprobs(all_prompts, all_responses)
        ref_chosen = ref_rejected = ref_sample = ref_sample_len = None
        if self.reference_model is not None:
            ref = self.reference_model.logprobs(prompts, responses)
            ref_chosen, ref_rejected = ref[:n], ref[n:]
        if with_sample:
            ref_sample, ref_sample_len = logps[2 * n:], lengths[2 * n:]
        return PairLogps(logps[:n], logps[n:2 * n], ref_chosen, ref_rejected, lengths[:n], lengths[n:2 * n],
                         ref_sample, ref_sample_len)

    # ------------------------------------------------------------------ reinforce (Asghari et al. 2026)
    def reinforce_step(self, batch: SignalBatch) -> dict[str, float]:
        """One step of Asghari et al.'s policy update on (prompt, response, signal) triples:
        ``-(s + nudge) * lp(y)`` averaged, plus ``anchor_weight * ||theta - theta_bar||^2``, then
        the anchor's EMA update. Needs ``loss='reinforce'``."""
        if self.anchor is None:
            raise ValueError(f"reinforce_step needs loss 'reinforce' (this learner's loss is {self.loss_name!r})")
        if len(batch) == 0:
            return {}
        loss_fn = self.loss.fn

        def loss_of(part: SignalBatch):
            logps, _ = self.policy.sequence_logprobs(part.prompt_ids, part.response_ids)
            signals = torch.tensor(part.signals, dtype=logps.dtype, device=logps.device)
            out = loss_fn(logps, signals, **self.hyper)
            if not torch.isfinite(out.loss):
                raise FloatingPointError(f"{self.loss_name} loss is not finite ({out.loss.item()})")
            return out

        return self._optimise(batch, loss_of)

    def train_epochs(self, data: PreferenceBatch, epochs: int, batch_size: int, seed: int,
                     on_step=None) -> None:
        """Offline training: ``epochs`` shuffled passes over ``data`` in batches of ``batch_size``; the
        reference's log-probs of each pair are computed once and reused on the later epochs."""
        order_rng = random.Random(seed)
        steps_per_epoch = math.ceil(len(data) / batch_size)
        with (self.reference_model.remembering() if self.reference_model and epochs > 1 else contextlib.nullcontext()):
            for epoch in range(epochs):
                order = list(range(len(data)))
                order_rng.shuffle(order)
                shuffled = data.select(order)
                for k in range(steps_per_epoch):
                    metrics = self.step(shuffled.slice(k * batch_size, (k + 1) * batch_size))
                    if on_step:
                        on_step(epoch, k, metrics)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: Path, extra: dict | None = None) -> None:
        """Write model, optimiser, schedule and RNG states atomically (temp file, then rename)."""
        state = {
            "model": self.policy.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "steps": self.steps,
            "reference": self.reference_model.state_dict() if self.reference_model is not None else None,
            "rng": checkpoint.rng_states(),
            "extra": extra or {},
        }
        if self.anchor is not None:
            state["anchor"] = self.anchor.state_dict()
        # A crash at the fault point, after the fsync and before the rename, leaves the previous checkpoint intact.
        checkpoint.atomic_write(path, lambda f: torch.save(state, f),
                                before_replace=lambda: fault_point("checkpoint", self.steps))

    def load(self, path: Path) -> dict:
        with checkpoint.reading(path):
            state = checkpoint.load(path, self.policy.device)
            self.policy.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps = state["steps"]
        if state.get("reference") is not None:
            self.reference_model.move_to(state["reference"])
        if self.anchor is not None and "anchor" in state:
            self.anchor.load_state_dict(state["anchor"])
        checkpoint.restore_rng_states(state["rng"])
        return state["extra"]
