"""Prompt sources: the built-in task, or a local JSON / JSON-lines file; and the batch order."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from sealign.errors import UserError
from sealign.types import Prompt

BUILTIN_TRAIN_SEED = 1_000
BUILTIN_EVAL_SEED = 2_000


def prompt_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def load_prompts(config) -> tuple[list[Prompt], list[Prompt]]:
    """(train, eval) prompts. A file's last ``num_eval_prompts`` rows are held out for evaluation."""
    if config.prompts == "builtin":
        from sealign.tasks.summarize import make_posts

        train = [p.prompt for p in make_posts(config.num_train_prompts, BUILTIN_TRAIN_SEED)]
        held_out = [p.prompt for p in make_posts(config.num_eval_prompts, BUILTIN_EVAL_SEED)]
    else:
        texts = read_prompt_file(Path(config.prompts), config.prompt_field)
        if len(texts) <= config.num_eval_prompts:
            raise UserError(
                f"{config.prompts} has {len(texts)} prompts, not more than num_eval_prompts="
                f"{config.num_eval_prompts}; lower --num-eval-prompts or add prompts"
            )
        train, held_out = texts[: -config.num_eval_prompts], texts[-config.num_eval_prompts:]
    if config.batch_size > len(train):
        raise UserError(
            f"batch_size ({config.batch_size}) is larger than the {len(train)} training prompts; "
            "lower --batch-size"
        )
    return [Prompt(prompt_id(t), t) for t in train], [Prompt(prompt_id(t), t) for t in held_out]


def read_prompt_file(path: Path, field: str) -> list[str]:
    if not path.is_file():
        raise UserError(f"prompt file {path} not found")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"prompt file {path} is not UTF-8 text (byte {err.start})") from err
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{number}: not valid JSON ({err.msg})") from err
    elif path.suffix == ".json":
        try:
            rows = json.loads(raw)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
        if not isinstance(rows, list):
            raise UserError(f"{path}: expected a JSON list of prompts")
    else:
        raise UserError(f"prompt file {path} must end in .jsonl or .json")
    texts = []
    for number, row in enumerate(rows, start=1):
        text = row if isinstance(row, str) else row.get(field) if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{path}: row {number} has no non-empty string field {field!r}")
        texts.append(text)
    if not texts:
        raise UserError(f"prompt file {path} holds no prompts")
    return texts


class PromptOrder:
    """Batches of prompts in a seeded shuffled order, reshuffled each epoch.

    ``batch(step)`` depends only on (seed, step), so a resumed run sees the same prompts.
    """

    def __init__(self, prompts: list[Prompt], batch_size: int, seed: int):
        self.prompts = prompts
        self.batch_size = batch_size
        self.seed = seed
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            order = list(range(len(self.prompts)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._orders = {epoch: order}
        return self._orders[epoch]

    def batch(self, step: int) -> list[Prompt]:
        out = []
        for k in range(step * self.batch_size, (step + 1) * self.batch_size):
            epoch, index = divmod(k, len(self.prompts))
            out.append(self.prompts[self._order(epoch)[index]])
        return out
