"""Epistemic reward model: an ensemble of K MLP reward heads with randomised prior functions.

Each head ``k`` scores a feature vector ``phi`` (of a prompt and one response) as

    r_k(phi) = f(phi; theta_k) + prior_scale * f(phi; theta_k_prior)

where ``theta_k_prior`` is drawn once and never trained (randomised prior functions, Osband et al.
2018): off the data the heads keep disagreeing as much as their priors do, on the data they are
pulled to agree. Each head is fitted with the Bradley-Terry loss on its own bootstrap reweighting
of the logged comparisons plus an L2 penalty toward its own initial weights, weighted by the
precision of the Gaussian they were drawn from and by ``reg_weight / N`` (N = comparisons seen):
the MAP objective of that Gaussian prior per example, whose pull fades as data accumulates.
The spread of ``r_k`` over k is the model's epistemic uncertainty; one head is one posterior sample
for Thompson sampling.

The K heads are one batched network: every weight has a leading head axis ``[K, ...]`` and a layer
is one ``torch.baddbmm``, so K heads cost one matmul, not a Python loop.
Defaults follow the SEA reference system (oat): 20 heads, width 128, lr 1e-3, weight decay 5e-5,
5 optimiser steps per update, regularisation weight 0.5; one hidden layer is our choice (deeper
heads overfit the bandit testbed). See docs/exploration.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sealign.exploration.settings import BOOTSTRAPS  # noqa: E402  (one list, with the setting)


def init_variances(sizes: list[int]) -> list[float]:
    """Per-layer weight variance: He-normal ``2 / d_in``, and ``1 / d_in`` for the last layer (no
    ReLU after it), so an untrained head outputs rewards of order 1 for inputs of unit scale: the
    scale on which Bradley-Terry logits live."""
    return [(1.0 if idx == len(sizes) - 2 else 2.0) / d_in for idx, d_in in enumerate(sizes[:-1])]


def init_mlp(num_heads: int, sizes: list[int], generator: torch.Generator) -> list[tuple[Tensor, Tensor]]:
    """Normal weights ``[K, d_in, d_out]`` (variances of ``init_variances``) and zero biases
    ``[K, 1, d_out]`` for each layer."""
    layers = []
    for variance, d_in, d_out in zip(init_variances(sizes), sizes[:-1], sizes[1:]):
        weight = torch.randn(num_heads, d_in, d_out, generator=generator) * math.sqrt(variance)
        layers.append((weight, torch.zeros(num_heads, 1, d_out)))
    return layers


def mlp_forward(layers: list[tuple[Tensor, Tensor]], x: Tensor) -> Tensor:
    """K MLPs on the same inputs: ``x [M, D]`` (or ``[K, M, D]``) -> ``[K, M]``."""
    num_heads = layers[0][0].shape[0]
    h = x.expand(num_heads, *x.shape) if x.dim() == 2 else x
    for idx, (weight, bias) in enumerate(layers):
        h = torch.baddbmm(bias, h, weight)  # [K, M, d_in] @ [K, d_in, d_out] + [K, 1, d_out]
        if idx < len(layers) - 1:
            h = torch.relu(h)
    return h.squeeze(-1)


class ReplayBuffer:
    """All comparisons seen, as rows of named tensor columns (features of both sides, target, ...).

    Storage doubles when full, so appending n rows costs amortised O(n), not O(N) per update.
    """

    def __init__(self):
        self.size = 0
        self.columns: dict[str, Tensor] = {}

    def __len__(self) -> int:
        return self.size

    def add(self, **rows: Tensor) -> None:
        n = len(next(iter(rows.values())))
        capacity = len(next(iter(self.columns.values()))) if self.columns else 0
        if self.size + n > capacity:
            capacity = max(64, 2 * (self.size + n))
            for name, value in rows.items():
                new = value.new_empty(capacity, *value.shape[1:])
                if name in self.columns:
                    new[: self.size] = self.columns[name][: self.size]
                self.columns[name] = new
        for name, value in rows.items():
            self.columns[name][self.size: self.size + n] = value
        self.size += n

    def get(self, idx: Tensor) -> dict[str, Tensor]:
        return {name: column[idx] for name, column in self.columns.items()}


class EnsembleRewardModel:
    """K bootstrapped MLP reward heads with fixed random priors, fitted by Bradley-Terry.

    ``add(feats_a, feats_b, targets)`` logs comparisons; ``fit()`` takes ``steps`` Adam steps on
    minibatches of everything logged; ``rewards(features)`` gives the ``[K, M]`` reward samples that
    the pair-selection rules consume.
    """

    def __init__(
        self,
        feature_dim: int,
        num_heads: int = 20,
        width: int = 128,
        depth: int = 1,
        prior_scale: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 5e-5,
        reg_weight: float = 0.5,
        steps: int = 5,
        batch_size: int = 64,
        bootstrap: str = "poisson",
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        if bootstrap not in BOOTSTRAPS:
            raise ValueError(f"bootstrap must be one of {BOOTSTRAPS} (got {bootstrap!r})")
        if num_heads < 1 or width < 1 or depth < 0:
            raise ValueError("num_heads and width must be >= 1 and depth >= 0")
        self.feature_dim, self.num_heads = feature_dim, num_heads
        self.prior_scale, self.reg_weight = prior_scale, reg_weight
        self.steps, self.batch_size, self.bootstrap = steps, batch_size, bootstrap
        self.device = torch.device(device)
        # All randomness of the model (inits, bootstrap weights, minibatches) comes from this
        # generator, so a run is reproducible without touching torch's global RNG.
        self.generator = torch.Generator().manual_seed(seed)
        sizes = [feature_dim] + [width] * depth + [1]
        trained = init_mlp(num_heads, sizes, self.generator)
        prior = init_mlp(num_heads, sizes, self.generator)
        self.params = [t.clone().to(self.device).requires_grad_(True) for layer in trained for t in layer]
        self.anchor = [t.detach().clone() for t in self.params]  # theta_k at init: the L2 target
        # The L2 pull is the Gaussian prior the weights were drawn from (anchored ensembles,
        # Pearce et al. 2020): precision 1 / init variance per layer, the same for its bias.
        self.precision = [1.0 / v for v in init_variances(sizes) for _ in range(2)]
        self.prior = [(w.to(self.device), b.to(self.device)) for w, b in prior]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self.buffer = ReplayBuffer()

    # ------------------------------------------------------------------ prediction
    def _layers(self) -> list[tuple[Tensor, Tensor]]:
        return list(zip(self.params[0::2], self.params[1::2]))

    def _rewards(self, features: Tensor) -> Tensor:
        """Trained plus prior networks: ``[M, D]`` -> ``[K, M]``."""
        if not self.prior_scale:
            return mlp_forward(self._layers(), features)
        # Trained and prior networks as one batch of 2K heads: one matmul per layer, not two.
        both = [(torch.cat([w, pw]), torch.cat([b, pb])) for (w, b), (pw, pb) in zip(self._layers(), self.prior)]
        out = mlp_forward(both, features)
        return out[: self.num_heads] + self.prior_scale * out[self.num_heads:]

    @torch.no_grad()
    def rewards(self, features: Tensor) -> Tensor:
        """Reward of each of ``M`` feature vectors ``[M, D]`` under each head: ``[K, M]``."""
        return self._rewards(features.to(self.device, torch.float32)).cpu()

    def mean(self, features: Tensor) -> Tensor:
        """Ensemble-mean reward ``[M]``: the point estimate (best arm = its argmax)."""
        return self.rewards(features).mean(0)

    def std(self, features: Tensor) -> Tensor:
        """Epistemic uncertainty ``[M]``: the spread over heads of each reward *relative to the set*.

        Bradley-Terry answers identify a reward only up to a constant per head (and per prompt):
        ``r_k + c_k`` fits the data as well as ``r_k``, so a head's offset is never learned and the
        raw spread over heads would not shrink with data. Each head's rewards are therefore centred
        on their mean over the ``M`` given features (one prompt's candidates) before the population
        standard deviation over heads is taken.
        """
        rewards = self.rewards(features)
        return (rewards - rewards.mean(1, keepdim=True)).std(0, correction=0)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue exactly: weights, anchors, priors, optimiser,
        the replay buffer (with its bootstrap weights) and the random generator's state."""
        return {
            "params": [p.detach().cpu().clone() for p in self.params],
            "anchor": [a.cpu().clone() for a in self.anchor],
            "prior": [(w.cpu().clone(), b.cpu().clone()) for w, b in self.prior],
            "optimizer": self.optimizer.state_dict(),
            "buffer": {"size": self.buffer.size,
                       "columns": {k: v[: self.buffer.size].clone() for k, v in self.buffer.columns.items()}},
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for p, saved in zip(self.params, state["params"]):
                p.copy_(saved)
        self.anchor = [a.to(self.device) for a in state["anchor"]]
        self.prior = [(w.to(self.device), b.to(self.device)) for w, b in state["prior"]]
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer = ReplayBuffer()
        if state["buffer"]["size"]:  # the buffer lives on the CPU whatever map_location loaded it to
            self.buffer.add(**{k: v.cpu() for k, v in state["buffer"]["columns"].items()})
        self.generator.set_state(state["generator"].cpu())

    # ------------------------------------------------------------------ learning
    def add(self, feats_a: Tensor, feats_b: Tensor, targets: Tensor) -> None:
        """Log comparisons: ``feats_a, feats_b [n, D]``, ``targets [n]`` = 1 if a won, 0 if b, 0.5 tie.

        Each comparison gets its bootstrap weight per head now, once, so a head always sees the same
        resample of the data (Poisson(1): the online bootstrap; Bernoulli: double-or-nothing).
        """
        n = len(targets)
        shape = (n, self.num_heads)
        if self.bootstrap == "poisson":
            weights = torch.poisson(torch.ones(shape), generator=self.generator)
        elif self.bootstrap == "bernoulli":
            weights = 2.0 * torch.bernoulli(torch.full(shape, 0.5), generator=self.generator)
        else:
            weights = torch.ones(shape)
        feats_a, feats_b = feats_a.detach().float().to(self.device), feats_b.detach().float().to(self.device)
        with torch.no_grad():  # the priors never change: their share of each margin is computed once
            prior_margin = self.prior_scale * (mlp_forward(self.prior, feats_a) - mlp_forward(self.prior, feats_b))
        self.buffer.add(feats_a=feats_a.cpu(), feats_b=feats_b.cpu(), targets=targets.detach().float().cpu(),
                        weights=weights, prior_margin=prior_margin.T.cpu())

    def fit(self, steps: int | None = None) -> dict[str, float]:
        """``steps`` Adam steps, each on a minibatch drawn from all logged comparisons; metrics."""
        n = len(self.buffer)
        if n == 0:
            return {}
        metrics: dict[str, float] = {}
        for _ in range(self.steps if steps is None else steps):
            idx = torch.randperm(n, generator=self.generator)[: self.batch_size]
            batch = {name: t.to(self.device) for name, t in self.buffer.get(idx).items()}
            targets, weights = batch["targets"], batch["weights"]
            # One forward of the trained networks over both sides: [2B, D] -> [K, 2B].
            both = mlp_forward(self._layers(), torch.cat([batch["feats_a"], batch["feats_b"]]))
            margin = both[:, : len(idx)] - both[:, len(idx):] + batch["prior_margin"].T  # [K, B]
            nll = F.binary_cross_entropy_with_logits(margin, targets.expand_as(margin), reduction="none")
            head_weights = weights.T  # [K, B]
            # Each head's weighted mean loss; a head whose resample misses the whole minibatch
            # simply gets no data gradient this step.
            data_loss = (head_weights * nll).sum(1) / head_weights.sum(1).clamp_min(1.0)
            # L2 toward init, scaled by 1/N like a Gaussian prior in a per-example MAP objective.
            reg = sum(prec / 2 * ((p - a) ** 2).flatten(1).sum(1)
                      for p, a, prec in zip(self.params, self.anchor, self.precision))
            # Summed over heads so that each head's gradient does not depend on K.
            loss = (data_loss + self.reg_weight / n * reg).sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                decided = targets != 0.5
                correct = (margin.mean(0) > 0) == (targets > 0.5)
                metrics = {
                    "rm/loss": float(data_loss.mean()),
                    "rm/reg": float(reg.mean()),
                    "rm/accuracy": float(correct[decided].float().mean()) if decided.any() else float("nan"),
                }
        metrics["rm/buffer"] = float(n)
        return metrics
