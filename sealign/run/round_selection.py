"""The best round of an iterative run, picked on a validation split (Dong et al. 2024 Algorithm 2:
"Output: the best policy in pi_{1:T} by a validation set").

After each round's training, the policy answers the validation prompts (one response each, the
same seeds every round, so rounds differ only through the policy) and its trainable weights are
snapshotted under ``RUN_DIR/rounds/``. At the end of the run every round's responses are scored
by the explorer's ranking reward as it stands *then* (fit to all answers: the same yardstick for
every round, and no extra query), and the learner is set back to the best round's weights before
the final evaluation. The validation prompts are held out of the training prompts, never the
evaluation prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sealign.errors import ConfigError
from sealign.exploration.base import RewardModel
from sealign.learning.checkpoint import atomic_write
from sealign.records.types import Candidate, Prompt
from sealign.run.actor import Stream, row_seed


def require_scorer(reward_model: RewardModel | None) -> None:
    if reward_model is None:
        raise ConfigError("--validation-prompts needs an explorer that scores responses (an ensemble explorer "
                          "such as best-worst), or set --validation-prompts 0 to keep the last round")


def record_round(config, parts, run_dir: Path, round_number: int, prompts: list[Prompt]) -> None:
    """Snapshot the policy after round ``round_number`` (1-based) and its validation responses."""
    folder = run_dir / "rounds"
    folder.mkdir(parents=True, exist_ok=True)
    policy = parts.policy
    prompt_ids = policy.encode_prompts([p.text for p in prompts])
    temperature = 0.0 if config.eval_greedy else config.eval_temperature
    responses = policy.generate(prompt_ids, n=1, temperature=temperature, top_p=config.top_p,
                                max_new_tokens=config.max_new_tokens,
                                seeds=[row_seed(config.seed, 0, i, Stream.VALIDATION) for i in range(len(prompts))])
    rows = [{"prompt": p.text, "prompt_ids": list(ids), "token_ids": list(group[0]), "text": policy.decode(group[0])}
            for p, ids, group in zip(prompts, prompt_ids, responses)]
    atomic_write(folder / f"round-{round_number}.jsonl",
                 lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows)), mode="w")
    atomic_write(folder / f"round-{round_number}.pt", lambda f: torch.save(policy.trainable_state(), f), mode="wb")


def select_best_round(parts, run_dir: Path, rounds: int, prompts: list[Prompt]) -> dict[str, float]:
    """Score rounds 1..``rounds`` on their validation responses, restore the best round's weights
    (ties go to the later round) and return the scores as metrics."""
    by_text = {p.text: p for p in prompts}
    scores = []
    for k in range(1, rounds + 1):
        rows = [json.loads(line) for line in (run_dir / "rounds" / f"round-{k}.jsonl").read_text().splitlines()]
        candidates = [Candidate(by_text[r["prompt"]], r["prompt_ids"], r["token_ids"], r["text"]) for r in rows]
        with torch.no_grad():
            scores.append(float(parts.reward_model.score(candidates).float().mean()))
    best = max(range(rounds), key=lambda k: (scores[k], k)) + 1
    if best != rounds:
        weights = torch.load(run_dir / "rounds" / f"round-{best}.pt", map_location="cpu", weights_only=True)
        parts.learner.load_weights(weights)
        parts.actor.sync_weights(parts.learner)
    return {"validation/best_round": best, **{f"validation/round_{k + 1}": s for k, s in enumerate(scores)}}
