"""Prompt sources: the built-in task, or a local JSON / JSON-lines file; and the batch order."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path

from sealign.errors import UserError
from sealign.types import Prompt

logger = logging.getLogger(__name__)

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
                f"{config.prompts} has {len(texts)} distinct prompts, not more than num_eval_prompts="
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
    """The distinct prompts of a .jsonl / .json file, in file order.

    Any fault in the file is refused with one line naming the line or row and the fix. A prompt
    that appears again is dropped (the first copy is kept) and the count logged as a warning:
    duplicates would be asked about more often than others and could leak into the held-out set.
    """
    rows = read_prompt_rows(path, field)
    texts = list(dict.fromkeys(text for _, text in rows))
    if len(texts) < len(rows):
        logger.warning("%s: %d duplicate prompt(s) dropped (the first copy of each is kept)",
                       path, len(rows) - len(texts))
    return texts


def read_prompt_rows(path: Path, field: str) -> list[tuple[str, str]]:
    """(where, text) for every row of a prompt file: where is 'PATH:LINE' (.jsonl) or 'PATH row N' (.json)."""
    if path.suffix not in (".jsonl", ".json"):
        raise UserError(f"prompt file {path} must end in .jsonl or .json")
    raw = _read_utf8(path)
    parsed = _jsonl_rows(path, raw) if path.suffix == ".jsonl" else _json_rows(path, raw)
    rows = [(where, _row_text(where, value, field)) for where, value in parsed]
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


def _row_text(where: str, row, field: str) -> str:
    text = row if isinstance(row, str) else row.get(field) if isinstance(row, dict) else None
    if not isinstance(text, str) or not text.strip():
        # repr() keeps the message on one line whatever characters the keys hold.
        fields = f" (its fields: {', '.join(map(repr, row))[:80]}; set --prompt-field)" if isinstance(row, dict) else ""
        raise UserError(f"{where}: row has no non-empty string field {field!r}{fields}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a JSON escape like \ud800 decodes to a lone surrogate
        raise UserError(f"{where}: the prompt holds a lone surrogate ({text[err.start]!r}), which is not "
                        "text; fix the JSON escape") from err
    return text


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
    """Where a prompt came from, for an error message (re-reads the file: only on the refusal path)."""
    if config.prompts == "builtin":
        return f"built-in prompt {text[:40]!r}"
    rows = read_prompt_rows(Path(config.prompts), config.prompt_field)
    return next((where for where, row_text in rows if row_text == text), config.prompts)


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
