"""Prompt sources: a built-in task, a local JSON / JSON-lines file, or a Hugging Face dataset
(sealign/data/hf_datasets.py); and the batch order."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path

from sealign.data.rows import PromptRow, row_of
from sealign.errors import UserError
from sealign.records.types import Prompt

logger = logging.getLogger(__name__)

FILE_SUFFIXES = (".jsonl", ".json")


def prompt_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def load_prompts(config) -> tuple[list[Prompt], list[Prompt]]:
    """(train, eval) prompts. A file's or dataset's last ``num_eval_prompts`` rows are held out for evaluation."""
    if config.prompts == "builtin":
        from sealign.tasks import get_task

        task = get_task(config.task)
        train_rows = [PromptRow("", t) for t in task.train_prompts(config.num_train_prompts)]
        held_out = [PromptRow("", t) for t in task.eval_prompts(config.num_eval_prompts)]
    else:
        rows = distinct(config.prompts, source_rows(config))
        if len(rows) <= config.num_eval_prompts:
            raise UserError(
                f"{config.prompts} has {len(rows)} distinct prompts, not more than num_eval_prompts="
                f"{config.num_eval_prompts}; lower --num-eval-prompts or add prompts"
            )
        train_rows, held_out = rows[: -config.num_eval_prompts], rows[-config.num_eval_prompts:]
    if config.batch_size > len(train_rows):
        raise UserError(
            f"batch_size ({config.batch_size}) is larger than the {len(train_rows)} training prompts; "
            "lower --batch-size"
        )
    return [to_prompt(r) for r in train_rows], [to_prompt(r) for r in held_out]


def to_prompt(row: PromptRow) -> Prompt:
    return Prompt(prompt_id(row.text), row.text, row.reference)


def source_rows(config) -> list[PromptRow]:
    """Every row of the ``--prompts`` source, with its reference when ``--reference-field`` is set."""
    path = Path(config.prompts).expanduser()
    if path.suffix in FILE_SUFFIXES:
        return read_prompt_rows(path, config.prompt_field, config.reference_field)
    from sealign.data.hf_datasets import read_dataset_rows

    return read_dataset_rows(config.prompts, config.prompt_split, config.prompt_field, config.reference_field)


def distinct(source: str, rows: list[PromptRow]) -> list[PromptRow]:
    """The rows with distinct prompts, in order. A prompt that appears again is dropped (the first copy
    is kept) and the count logged as a warning: duplicates would be asked about more often than
    others and could leak into the held-out set."""
    first: dict[str, PromptRow] = {}
    for row in rows:
        first.setdefault(row.text, row)
    if len(first) < len(rows):
        logger.warning("%s: %d duplicate prompt(s) dropped (the first copy of each is kept)",
                       source, len(rows) - len(first))
    return list(first.values())


def read_prompt_rows(path: Path, field: str, reference_field: str = "") -> list[PromptRow]:
    """Every row of a .jsonl / .json prompt file (where: 'PATH:LINE' or 'PATH row N')."""
    if path.suffix not in FILE_SUFFIXES:
        raise UserError(f"prompt file {path} must end in .jsonl or .json (or be a .parquet / .csv file, a "
                        "save_to_disk folder or a Hub dataset name)")
    raw = _read_utf8(path)
    parsed = _jsonl_rows(path, raw) if path.suffix == ".jsonl" else _json_rows(path, raw)
    rows = [row_of(where, value, field, reference_field) for where, value in parsed]
    if not rows:
        raise UserError(f"prompt file {path} holds no prompts; add rows like {{\"{field}\": \"...\"}}")
    return rows


def _read_utf8(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"prompt file {path} {'is a folder, not a file' if path.is_dir() else 'not found'}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is not a fault
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"prompt file {path} is not UTF-8 text: line {line} has byte 0x{data[err.start]:02x} "
                        f"(byte {err.start}); save the file as UTF-8") from err


def _loads(where: str, text: str):
    # ValueError beyond JSONDecodeError: an integer of more than 4300 digits; RecursionError: nesting.
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        position = f"line {err.lineno} column {err.colno}" if "\n" in text else f"column {err.colno}"
        raise UserError(f"{where}: not valid JSON ({err.msg} at {position})") from err
    except (ValueError, RecursionError) as err:
        raise UserError(f"{where}: not valid JSON ({type(err).__name__}: {str(err)[:80]!r})") from err


def _jsonl_rows(path: Path, raw: str) -> list[tuple[str, object]]:
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other characters splitlines breaks at.
    return [(f"{path}:{number}", _loads(f"{path}:{number}", line))
            for number, line in enumerate(raw.split("\n"), start=1) if line.strip()]


def _json_rows(path: Path, raw: str) -> list[tuple[str, object]]:
    rows = _loads(str(path), raw)
    if not isinstance(rows, list):
        raise UserError(f"{path}: expected a JSON list of prompts, not a {type(rows).__name__}")
    return [(f"{path} row {number}", row) for number, row in enumerate(rows, start=1)]


def context_window(model_config) -> int | None:
    """Positions the model can attend over, from its config (None when it does not say)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_prompt_lengths(config, prompts: list[Prompt], policy) -> None:
    """Refuse prompts that leave no room for ``max_new_tokens`` in the policy's context window.

    Refused, not truncated: truncation silently changes the question the oracle is paid to answer
    (the request is often at the end of a prompt), and dropping rows would shift the held-out
    split. The check runs before any query is asked, and the fix is the user's one line.
    """
    context = context_window(getattr(getattr(policy, "model", None), "config", None))
    if context is None:
        return
    room = context - config.max_new_tokens
    if room < 1:
        raise UserError(f"max_new_tokens={config.max_new_tokens} fills the model's whole context window "
                        f"({context} tokens); lower --max-new-tokens")
    lengths = [len(ids) for ids in policy.encode_prompts([p.text for p in prompts])]
    too_long = [(n, p) for n, p in zip(lengths, prompts) if n > room]
    if too_long:
        n, first = too_long[0]
        raise UserError(
            f"{_locate(config, first.text)}: the prompt is {n} tokens, but the model's context window "
            f"({context}) leaves {room} beside max_new_tokens={config.max_new_tokens} "
            f"({len(too_long)} prompt(s) too long); shorten or drop them, or lower --max-new-tokens"
        )


def _locate(config, text: str) -> str:
    """Where a prompt came from, for an error message (re-reads the source: only on the refusal path)."""
    if config.prompts == "builtin":
        return f"built-in prompt {text[:40]!r}"
    return next((row.where for row in source_rows(config) if row.text == text), config.prompts)


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
