"""Evaluation, checkpoint and tracker settings (sealign/run/eval.py), one flag and one YAML key each.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class EvalSettings:
    """Evaluation (sealign/run/eval.py), checkpoints and experiment trackers."""

    eval_every: int = 8
    """Evaluate every this many learner steps (and at the start and the end)."""
    eval_every_queries: int = 0
    """Evaluate each time the queries spent reach a multiple of this instead (online schedule): a step
    is cut short to land on it, so arms that spend different queries a step (ERM sync asks 23 of 32)
    are evaluated at the same query counts. 0 = every eval_every steps."""
    eval_judge: Literal["auto", "reward", "oracle"] = "auto"
    """Who judges the policy against the SFT policy: 'reward' = the ground-truth reward_fn (noiseless);
    'oracle' = the run's own oracle, both orders, outside its cost cap; 'auto' = 'reward' on the
    built-in prompts or with a --reward-fn, else 'oracle'."""
    eval_against: Literal["sft", "reference"] = "sft"
    """Headline win rate (plots, summary): against the SFT policy's responses, or against the prompts'
    reference responses (needs --reference-field; as the SEA and TRL TL;DR set-ups). Both are recorded
    when references exist."""
    eval_greedy: bool = False
    eval_temperature: float = 0.7
    """Used when eval_greedy is off."""
    report_to: str = ""
    """Experiment trackers that mirror metrics.jsonl: 'tensorboard', 'wandb', 'trackio' or several, comma
    separated (the extras of those names; docs/ecosystem.md). W&B logs offline without WANDB_API_KEY;
    trackio keeps runs in a local database. The learner's metrics also go under TRL's names."""
    save_every: int = 10
    """Write a checkpoint every this many steps (and at the end); 0: at the end only. A resumed run
    replays the logged answers after its last checkpoint, so this trades disk time for replay time."""
    stop_on_collapse: bool = False
    """End the run at the evaluation that sees it degenerate (empty, repeated or endless answers, a KL far
    out; sealign/run/collapse.py), with its summary written; without it the run says so in one line and goes on."""

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.eval_every >= 1, f"eval_every must be >= 1 (got {self.eval_every})"),
            (self.eval_every_queries >= 0, f"eval_every_queries must be >= 0; 0 = every eval_every steps "
                                           f"(got {self.eval_every_queries})"),
            (self.save_every >= 0, f"save_every must be >= 0; 0 saves at the end only (got {self.save_every})"),
            (self.eval_temperature >= 0, f"eval_temperature must be >= 0 (got {self.eval_temperature})"),
        ]
