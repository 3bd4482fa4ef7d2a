"""The learner: preference-loss steps on the policy against a frozen reference, and checkpoints."""

from __future__ import annotations

import inspect
import math
import os
import random
from pathlib import Path

import numpy as np
import torch

from sealign.losses import LOSSES, REFERENCE_FREE, PairLogps, compute_loss
from sealign.policy.hf import HFPolicy
from sealign.types import PreferenceBatch


def loss_hyperparameters(loss_name: str, config) -> dict:
    """The config values named by the loss function's keyword parameters."""
    params = list(inspect.signature(LOSSES[loss_name]).parameters)[1:]
    return {p: getattr(config, p) for p in params if hasattr(config, p)}


class PreferenceLearner:
    """AdamW on a DPO-family loss, with micro-batch gradient accumulation and norm clipping."""

    def __init__(self, policy: HFPolicy, config, reference=None):
        if config.loss not in LOSSES:
            from sealign.errors import ConfigError

            raise ConfigError(f"unknown loss {config.loss!r}; choose one of: {', '.join(sorted(LOSSES))}")
        self.policy = policy
        self.config = config
        self.loss_name = config.loss
        self.hyper = loss_hyperparameters(config.loss, config)
        self.reference = None if config.loss in REFERENCE_FREE else (reference or policy.frozen_copy())
        self.optimizer = torch.optim.AdamW(
            [p for p in policy.model.parameters() if p.requires_grad],
            lr=config.lr, betas=(config.adam_beta1, config.adam_beta2), weight_decay=config.weight_decay,
        )
        warmup = max(1, config.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup)
        )
        self.steps = 0

    def step(self, batch: PreferenceBatch) -> dict[str, float]:
        """One optimiser step on ``batch`` (split into micro-batches); returns averaged metrics."""
        if len(batch) == 0:
            return {}
        self.policy.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        micro = self.config.micro_batch_size
        for start in range(0, len(batch), micro):
            part = batch.slice(start, start + micro)
            weight = len(part) / len(batch)
            out = compute_loss(self.loss_name, self._pair_logps(part), **self.hyper)
            (out.loss * weight).backward()
            for key, value in {"loss": out.loss.item(), **out.metrics}.items():
                totals[key] = totals.get(key, 0.0) + value * weight
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.steps += 1
        self.policy.model.eval()
        totals["grad_norm"] = float(grad_norm)
        totals["lr"] = self.scheduler.get_last_lr()[0]
        return totals

    def _pair_logps(self, part: PreferenceBatch) -> PairLogps:
        prompts = part.prompt_ids + part.prompt_ids
        responses = part.chosen_ids + part.rejected_ids
        n = len(part)
        logps, lengths = self.policy.sequence_logprobs(prompts, responses)
        ref_chosen = ref_rejected = None
        if self.reference is not None:
            with torch.no_grad():
                ref, _ = self.policy.sequence_logprobs(prompts, responses, model=self.reference)
            ref_chosen, ref_rejected = ref[:n], ref[n:]
        return PairLogps(logps[:n], logps[n:], ref_chosen, ref_rejected, lengths[:n], lengths[n:])

    def train_epochs(self, data: PreferenceBatch, epochs: int, batch_size: int, seed: int,
                     on_step=None) -> None:
        """Offline training: ``epochs`` shuffled passes over ``data`` in batches of ``batch_size``."""
        order_rng = random.Random(seed)
        steps_per_epoch = math.ceil(len(data) / batch_size)
        for epoch in range(epochs):
            order = list(range(len(data)))
            order_rng.shuffle(order)
            shuffled = PreferenceBatch(
                [data.prompt_ids[i] for i in order], [data.chosen_ids[i] for i in order],
                [data.rejected_ids[i] for i in order],
            )
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
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
            "extra": extra or {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load(self, path: Path) -> dict:
        from sealign.errors import UserError

        try:
            state = torch.load(path, map_location=self.policy.device, weights_only=False)
            self.policy.model.load_state_dict(state["model"])
        except (OSError, RuntimeError, KeyError, EOFError) as err:
            raise UserError(f"checkpoint {path} is missing or corrupt ({str(err).splitlines()[0]})") from err
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps = state["steps"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return state["extra"]
