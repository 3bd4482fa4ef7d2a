"""Dueling-bandit testbed for the explorers: the pair rules and the epistemic ensemble, no LLM.

Each context x comes with a fixed set of M arms, each arm a feature vector phi in R^D (standard
normal): the bandit analogue of a prompt and its M sampled responses. A hidden reward r(phi) -
linear, or a small random MLP - is scaled to unit standard deviation over arms, and the oracle
answers Bradley-Terry: arm i beats arm j with probability sigmoid(r_i - r_j).

Every round draws ``batch`` fresh contexts; the explorer picks one pair per context with the SAME
pure rule the LLM loop uses (``sealign.exploration.pair_rule``), from the reward samples ``[K, M]``
of the SAME ``EnsembleRewardModel``; the answers go into the ensemble, which then takes its update
steps. Measured against the number of queries:
- cumulative regret of the queried pairs, sum of ``r(best arm) - (r_i + r_j) / 2``;
- best-arm accuracy on held-out contexts: how often the ensemble mean's argmax is the true best arm.

Within a seed every explorer sees the same problem, the same contexts, the same ensemble
initialisation and the same oracle coin flips (common random numbers), so the comparison between
explorers is paired. Usage:

    python bench/bandit.py                        # all explorers, linear and MLP rewards, 5 seeds
    python -m bench.bandit --seeds 5 --budget 512 --explorers passive sea-ee ids
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sealign.exploration import pair_rule
from sealign.exploration.epistemic import EnsembleRewardModel

EXPLORERS = ["passive", "sea-ee", "sea-bai", "uncertainty", "ids", "best-worst", "apl"]
RESULTS = Path(__file__).parent / "results"


@dataclass
class Spec:
    """One testbed setting. The ensemble uses the LLM loop's defaults (``RunConfig.explore_*``:
    width 128, one hidden layer, lr 1e-3, 5 Adam steps per update, reg 0.5, Poisson bootstrap,
    prior scale 1) except K = 10 heads instead of 20, to halve the run time."""

    reward: str = "linear"  # "linear" or "mlp"
    dim: int = 16  # D, arm features
    arms: int = 8  # M, arms per context
    batch: int = 16  # contexts (= queries) per round; one ensemble update per round
    budget: int = 1024  # queries
    eval_every: int = 64  # queries between held-out evaluations
    eval_contexts: int = 500
    heads: int = 10
    width: int = 128
    depth: int = 1
    steps: int = 5  # ensemble Adam steps per round (the loop's explore_steps)
    lr: float = 1e-3
    reg: float = 0.5


class HiddenReward:
    """The unknown reward ``r(phi)``: ``[..., D] -> [...]``, unit std over standard-normal arms."""

    def __init__(self, kind: str, dim: int, generator: torch.Generator):
        self.kind = kind
        if kind == "linear":
            self.theta = torch.randn(dim, generator=generator)
        elif kind == "mlp":  # one hidden layer of 32 tanh units: smooth but not linear
            self.w1 = torch.randn(dim, 32, generator=generator) * (2.0 / dim) ** 0.5
            self.b1 = torch.randn(32, generator=generator) * 0.5
            self.w2 = torch.randn(32, generator=generator)
        else:
            raise ValueError(f"reward must be 'linear' or 'mlp' (got {kind!r})")
        probe = torch.randn(20_000, dim, generator=generator)
        raw = self._raw(probe)
        self.shift, self.scale = raw.mean(), raw.std()

    def _raw(self, phi: Tensor) -> Tensor:
        if self.kind == "linear":
            return phi @ self.theta
        return torch.tanh(phi @ self.w1 + self.b1) @ self.w2

    def __call__(self, phi: Tensor) -> Tensor:
        return (self._raw(phi) - self.shift) / self.scale


def run(spec: Spec, explorer: str, seed: int) -> dict[str, np.ndarray]:
    """One explorer on one seed's problem: curves of accuracy and cumulative regret vs queries."""
    rule = pair_rule(explorer)
    problem_gen = torch.Generator().manual_seed(seed)
    reward = HiddenReward(spec.reward, spec.dim, problem_gen)
    eval_arms = torch.randn(spec.eval_contexts, spec.arms, spec.dim, generator=problem_gen)
    eval_best = reward(eval_arms).argmax(1)
    context_gen = torch.Generator().manual_seed(10_000 + seed)  # same contexts for every explorer
    oracle_gen = torch.Generator().manual_seed(20_000 + seed)  # same coin flips for every explorer
    select_rng = np.random.default_rng([seed, 1])
    model = EnsembleRewardModel(spec.dim, num_heads=spec.heads, width=spec.width, depth=spec.depth,
                                lr=spec.lr, reg_weight=spec.reg, steps=spec.steps, seed=seed)

    def accuracy() -> float:
        mean = model.rewards(eval_arms.reshape(-1, spec.dim)).mean(0).reshape(spec.eval_contexts, spec.arms)
        return float((mean.argmax(1) == eval_best).float().mean())

    queries, regret, with_best = 0, 0.0, 0
    curve = {"queries": [0], "accuracy": [accuracy()], "regret": [0.0]}
    while queries < spec.budget:
        arms = torch.randn(spec.batch, spec.arms, spec.dim, generator=context_gen)  # [B, M, D]
        true = reward(arms)  # [B, M]
        coins = torch.rand(spec.batch, generator=oracle_gen)
        samples = model.rewards(arms.reshape(-1, spec.dim)).reshape(-1, spec.batch, spec.arms)  # [K, B, M]
        feats_a, feats_b, targets = [], [], []
        for b in range(spec.batch):
            pair = rule(samples[:, b], select_rng)
            if pair is None:
                continue
            i, j = pair
            regret += float(true[b].max() - (true[b, i] + true[b, j]) / 2)
            with_best += int(true[b].argmax()) in pair
            feats_a.append(arms[b, i])
            feats_b.append(arms[b, j])
            targets.append(float(coins[b] < torch.sigmoid(true[b, i] - true[b, j])))
        queries += spec.batch  # a skipped context still uses up its slot, as in the loop
        if targets:
            model.add(torch.stack(feats_a), torch.stack(feats_b), torch.tensor(targets))
            model.fit()
        if queries % spec.eval_every == 0 or queries >= spec.budget:
            curve["queries"].append(queries)
            curve["accuracy"].append(accuracy())
            curve["regret"].append(regret)
    curve = {k: np.asarray(v) for k, v in curve.items()}
    curve["best_in_pair"] = with_best / queries  # share of queries that included the true best arm
    return curve


def queries_to_reach(queries: np.ndarray, accuracy: np.ndarray, target: float) -> float:
    """Queries at which ``accuracy`` first reaches ``target``, interpolated linearly between
    evaluations; inf if it never does. The start (0 queries, the same for every explorer) is skipped."""
    for n in range(1, len(queries)):
        if accuracy[n] >= target:
            if n == 1 or accuracy[n - 1] >= target or accuracy[n] == accuracy[n - 1]:
                return float(queries[n])
            frac = (target - accuracy[n - 1]) / (accuracy[n] - accuracy[n - 1])
            return float(queries[n - 1] + frac * (queries[n] - queries[n - 1]))
    return float("inf")


def speedup(queries: np.ndarray, passive: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """``(queries for other, passive's queries / other's)`` to reach passive's final mean accuracy,
    on the seed-mean curves of ``passive, other [seeds, evals]``."""
    target = passive[:, -1].mean()
    q_other = queries_to_reach(queries, other.mean(0), target)
    return q_other, queries_to_reach(queries, passive.mean(0), target) / q_other


def summarise(curves: dict[str, list[dict]], explorers: list[str], resamples: int = 2000) -> list[dict]:
    """Per explorer: queries to reach passive's final accuracy, the speed-up over passive with a
    paired bootstrap over seeds (same seeds resampled for both), final accuracy and regret."""
    queries = curves["passive"][0]["queries"]
    acc = {e: np.stack([c["accuracy"] for c in curves[e]]) for e in explorers}  # [seeds, evals]
    reg = {e: np.stack([c["regret"] for c in curves[e]]) for e in explorers}
    seeds = acc["passive"].shape[0]
    rng = np.random.default_rng(0)
    draws = rng.integers(seeds, size=(resamples, seeds))
    rows = []
    for e in explorers:
        q, ratio = speedup(queries, acc["passive"], acc[e])
        boot = np.array([speedup(queries, acc["passive"][d], acc[e][d])[1] for d in draws])  # inf -> 0
        final = acc[e][:, -1]
        rows.append({
            "explorer": e,
            "queries_to_target": q,
            "ratio": ratio,
            "ratio_lo": float(np.percentile(boot, 2.5)),
            "ratio_hi": float(np.percentile(boot, 97.5)),
            "p_faster": float((boot > 1).mean()),
            "final_accuracy": float(final.mean()),
            "final_accuracy_std": float(final.std(ddof=1)) if seeds > 1 else 0.0,
            "final_regret": float(reg[e][:, -1].mean()),
            "final_regret_std": float(reg[e][:, -1].std(ddof=1)) if seeds > 1 else 0.0,
            "best_in_pair": float(np.mean([c["best_in_pair"] for c in curves[e]])),
        })
    return rows


def markdown_table(rows: list[dict], num_seeds: int, target: float) -> str:
    lines = [
        f"Target = passive's final accuracy (mean of {num_seeds} seeds): {target:.3f}.",
        "",
        "| explorer | queries to target | passive / explorer [95% bootstrap] | final accuracy ± std "
        "| cumulative regret ± std | queries with the best arm |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        reached = np.isfinite(r["queries_to_target"])
        q = f"{r['queries_to_target']:.0f}" if reached else "not reached"
        ratio = f"{r['ratio']:.2f}x" if reached else "< 1"
        lines.append(
            f"| {r['explorer']} | {q} | {ratio} [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}] "
            f"| {r['final_accuracy']:.3f} ± {r['final_accuracy_std']:.3f} "
            f"| {r['final_regret']:.0f} ± {r['final_regret_std']:.0f} | {r['best_in_pair']:.0%} |"
        )
    return "\n".join(lines)


def plot(all_curves: dict[str, dict[str, list[dict]]], explorers: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(all_curves), figsize=(6 * len(all_curves), 8), squeeze=False)
    for col, (kind, curves) in enumerate(all_curves.items()):
        for e in explorers:
            q = curves[e][0]["queries"]
            for row, metric in enumerate(["accuracy", "regret"]):
                values = np.stack([c[metric] for c in curves[e]])
                mean = values.mean(0)
                se = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0 * mean
                ax = axes[row, col]
                ax.plot(q, mean, label=e, lw=2 if e == "passive" else 1.3, ls="--" if e == "passive" else "-")
                ax.fill_between(q, mean - 1.96 * se, mean + 1.96 * se, alpha=0.15)
        axes[0, col].set_title(f"{kind}: best-arm accuracy (held-out contexts)", fontsize=10)
        axes[0, col].set_ylabel("P(argmax ensemble mean = true best)")
        axes[1, col].set_title(f"{kind}: cumulative regret of queried pairs", fontsize=10)
        axes[1, col].set_ylabel("sum of r* - (r_i + r_j)/2")
        for ax in axes[:, col]:
            ax.set_xlabel("oracle queries")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Dueling-bandit testbed (mean over seeds, band = 95% normal CI of the mean)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--arms", type=int, nargs="+", default=[Spec.arms], help="M, arms per context")
    parser.add_argument("--budget", type=int, default=Spec.budget)
    parser.add_argument("--rewards", nargs="+", default=["linear", "mlp"])
    parser.add_argument("--explorers", nargs="+", default=EXPLORERS)
    parser.add_argument("--steps", type=int, default=Spec.steps, help="ensemble Adam steps per round")
    parser.add_argument("--heads", type=int, default=Spec.heads)
    parser.add_argument("--depth", type=int, default=Spec.depth, help="hidden layers per head (0 = linear)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    explorers = ["passive"] + [e for e in args.explorers if e != "passive"]  # passive sets the target
    start = time.perf_counter()
    all_curves, sections = {}, []
    for arms in args.arms:
        for kind in args.rewards:
            spec = Spec(reward=kind, arms=arms, budget=args.budget, steps=args.steps, heads=args.heads,
                        depth=args.depth)
            curves = {e: [run(spec, e, seed) for seed in range(args.seeds)] for e in explorers}
            title = f"{kind} reward, M={arms}"
            all_curves[title] = curves
            rows = summarise(curves, explorers)
            target = float(np.mean([c["accuracy"][-1] for c in curves["passive"]]))
            table = markdown_table(rows, args.seeds, target)
            print(f"\n## {title}\n{table}", flush=True)
            sections.append(f"## {title}\n\nsettings: `{asdict(spec)}`\n\n{table}\n")
    elapsed = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    plot(all_curves, explorers, args.out / "bandit.png")
    command = " ".join(["python bench/bandit.py", *(sys.argv[1:] if argv is None else argv)])
    report = (
        "# Dueling-bandit testbed: explorers vs passive\n\n"
        f"Command: `{command}` ({elapsed:.0f} s on 1 CPU thread; {args.seeds} seeds). "
        "Plot: `bandit.png`.\n\n"
        "Accuracy: share of held-out contexts whose best arm is the argmax of the ensemble mean. "
        "Queries to target: where the explorer's seed-mean accuracy curve (evaluated every "
        f"{Spec.eval_every} queries, interpolated linearly) first reaches passive's final seed-mean "
        "accuracy; passive itself can get there before its budget. Passive / explorer: passive's "
        "queries over the explorer's (> 1 = fewer queries); the interval resamples seeds with "
        "replacement (paired: the same seeds for both; 'not reached' counts as 0). Regret: sum over "
        "queries of r(best arm) - (r_i + r_j) / 2. Last column: share of queries that included the "
        "context's true best arm (random pairs: 2/M).\n\n" + "\n".join(sections)
    )
    (args.out / "bandit.md").write_text(report)
    print(f"\nwrote {args.out / 'bandit.md'} and bandit.png in {elapsed:.0f}s")


if __name__ == "__main__":
    main()
