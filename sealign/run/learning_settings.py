"""What learns from what (ERM sync, the policy's signal, offline data): the settings read where a
step's label plan is made (sealign/run/label_plan.py), one flag and one YAML key each.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class LearningSettings:
    """What learns from what: the wiring between explorer, reward model and policy
    (Liu et al. 2024 Table 1; Asghari et al. 2026 sec. 4.3.3)."""

    learn_policy: bool = True
    """Off: the policy never changes; only the explorer's reward model learns (Table 1 row 7)."""
    erm_sync: float = 0.0
    """SEA's mixed preference learning (ERM sync): the share r of the policy's data labelled by the
    epistemic reward model instead of the oracle (oat: 0.3); 0 = off. See erm_mode."""
    erm_mode: Literal["replace", "add"] = "replace"
    """replace (oat): floor(r * batch) prompts per step are labelled by one sampled head's largest-margin
    pair instead of being asked, saving those queries; add: every prompt is asked and best-vs-worst
    pairs by the ensemble mean are added on top, r of the policy's batch (no query saved)."""
    erm_burn_in: int = 5
    """Steps before reward-model labels join the policy's data."""
    policy_signal: Literal["preference", "reward-model"] = "preference"
    """preference: the loss learns from the oracle's (and ERM-sync) pairs; reward-model: reinforce
    signals from the reward model on the query pair and the (highest, lowest) pair (Asghari et al. 2026)."""
    query_free_batch: bool = False
    """reward-model signal: after each query batch's update, sample a second batch of prompts and
    update on the reward model's (highest, lowest) and (second-highest, second-lowest) pairs of each,
    spending no query (Asghari et al. 2026 sec. 4.3.3)."""
    eval_best_of_n: int = 0
    """Evaluate BoN(policy, R): the best of N samples by the reward model's mean; 0 = the policy."""
    preference_data: str = "builtin"
    """selm-rank: offline (prompt, chosen, rejected) data, 'builtin' or a file / dataset read as --offline-data
    is (Zhang et al. 2024 Alg. 1)."""
    offline_data: str = ""
    """Offline preference data trained on before the first query (a warm start for any recipe; offline DPO
    on it alone with --budget 0): a .jsonl/.json/.parquet/.csv file, a save_to_disk folder or a dataset name,
    with prompt/chosen/rejected text or chat messages; 'builtin' = the built-in task's (docs/ecosystem.md)."""
    variant: int = 0
    """Preset variant (sea: the rows 1-7 of Liu et al. 2024 Table 1); 0 = the preset's default."""

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (0 <= self.erm_sync < 1, f"erm_sync must be in [0, 1) (got {self.erm_sync})"),
            (self.erm_burn_in >= 0, f"erm_burn_in must be >= 0 (got {self.erm_burn_in})"),
            (self.eval_best_of_n >= 0, f"eval_best_of_n must be >= 0 (got {self.eval_best_of_n})"),
            (not self.query_free_batch or self.policy_signal == "reward-model",
             "query_free_batch needs --policy-signal reward-model (its pairs are labelled by the reward model)"),
            (self.erm_sync == 0 or self.policy_signal == "preference",
             "erm_sync labels preference pairs; with --policy-signal reward-model the reward model labels all"),
        ]
