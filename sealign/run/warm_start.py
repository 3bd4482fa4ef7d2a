"""--offline-data: training on an offline preference dataset before the first query.

A warm start for any recipe: after the SFT policy's evaluation, the learner trains
``offline_epochs`` epochs on the dataset (as an offline round would), the policy is evaluated again
at 0 queries, and the recipe then spends its budget as usual. Offline DPO on a dataset alone is
``--preset offline-dpo --offline-data FILE --budget 0``. The dataset is read and checked before any
model loads; its pairs are never written to the feedback log (they were not asked here) and never
counted as queries.
"""

from __future__ import annotations

from sealign.data.preferences import PreferenceRow, load_preference_data
from sealign.data.prompts import context_window
from sealign.errors import ConfigError, UserError
from sealign.records.types import PreferenceBatch
from sealign.tasks import task_preference_data

BUILTIN = "builtin"
"""The run's task's own offline preference data (its ``Task.preference_data``; tldr's and tldr-hard's:
two noisy human-like summaries per training post)."""


def read_offline_rows(config, train_prompts) -> list[PreferenceRow]:
    if config.offline_data == BUILTIN:
        if config.prompts != "builtin":
            raise ConfigError(f"--offline-data builtin is the {config.task} task's, written for its own prompts; "
                              "with yours pass a .jsonl of (prompt, chosen, rejected) rows")
        data = task_preference_data(config.task, [p.text for p in train_prompts], config.seed, "--offline-data")
        return [PreferenceRow(prompt, chosen, rejected) for prompt, (chosen, rejected) in data.items()]
    return load_preference_data(config.offline_data)


def tokenize(rows: list[PreferenceRow], policy, source: str) -> PreferenceBatch:
    """The rows as the learner's token ids; a row longer than the policy's context is refused."""
    prompts = policy.encode_prompts([r.prompt for r in rows])
    chosen = policy.encode_responses([r.chosen for r in rows])
    rejected = policy.encode_responses([r.rejected for r in rows])
    context = context_window(getattr(getattr(policy, "model", None), "config", None))
    if context is not None:
        for number, (p, c, r) in enumerate(zip(prompts, chosen, rejected), start=1):
            if len(p) + max(len(c), len(r)) > context:
                raise UserError(f"{source} row {number}: prompt and answer take {len(p) + max(len(c), len(r))} "
                                f"tokens, more than the policy's context window ({context}); shorten or drop it")
    return PreferenceBatch(prompts, chosen, rejected)


def warm_start(config, parts, metrics, log) -> None:
    """Trains on the offline data at step 0, 0 queries; its records carry ``warm_start: 1``."""
    data = parts.offline_data
    log(f"warm start: training {config.offline_epochs} epochs on {len(data)} offline preferences "
        f"from {config.offline_data}")
    parts.learner.train_epochs(
        data, config.offline_epochs, config.batch_size, config.seed,
        on_step=lambda epoch, k, m: metrics.write({"step": 0, "queries": 0, "warm_start": 1, "epoch": epoch, **m}),
    )
    parts.actor.sync_weights(parts.learner)  # runtime hook: actors sample the warm-started policy
