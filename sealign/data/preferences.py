"""Offline preference data in: (prompt, chosen, rejected) rows from a file or a `datasets` dataset.

Read through `datasets` (the `datasets` extra): a .jsonl / .json / .parquet / .csv file, a folder
written by ``Dataset.save_to_disk``, or a dataset name ``load_dataset`` knows. Two row shapes, as
TRL reads them:

- text: ``prompt``, ``chosen``, ``rejected`` strings;
- chat: lists of ``{"role", "content"}`` messages, either with a ``prompt`` list and one-message
  ``chosen`` / ``rejected`` lists, or two whole conversations that share every message but the
  last, which is the answer: the prompt is the conversation before it. A ``prompt`` column beside
  whole conversations is left aside (UltraFeedback-binarized's layout: a string ``prompt``, and
  ``chosen`` / ``rejected`` holding the user turn too, with ``messages``, ``prompt_id``,
  ``score_chosen``, ``score_rejected``, which are not needed).

A chat prompt becomes text as its user turn when it has exactly one and no other (what the
built-in task's prompts look like), else as ``role: content`` lines. Every bad row is refused with
one line naming its row number (1-based) and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError, first_line

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class PreferenceRow:
    prompt: str
    chosen: str
    rejected: str


def load_preference_data(source: str) -> list[PreferenceRow]:
    dataset = load_dataset(source)
    rows = [parse_row(source, number, row) for number, row in enumerate(dataset, start=1)]
    if not rows:
        raise UserError(f"preference data {source} holds no rows")
    return rows


def load_dataset(source: str):
    """``source`` as a `datasets.Dataset` (a file, a save_to_disk folder, or a dataset name)."""
    try:
        import datasets
    except ImportError as err:
        raise UserError("--offline-data needs the datasets package: pip install 'sealign[data]'") from err
    # datasets' progress bars would break the one-line error a bad row ends in, and a run has its own.
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return _load(datasets, source)
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _load(datasets, source: str):
    path = Path(source)
    try:
        if path.is_dir() and (path / "dataset_info.json").is_file():
            return datasets.load_from_disk(str(path))
        if path.is_file():
            if path.suffix not in FILE_BUILDERS:
                raise UserError(f"preference data {source} must end in {', '.join(FILE_BUILDERS)}")
            return datasets.load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
        if path.suffix in FILE_BUILDERS or source.startswith((".", "/", "~")):
            raise UserError(f"preference data {source} not found")
        return datasets.load_dataset(source, split="train")
    except UserError:
        raise
    except Exception as err:  # a malformed file, an unknown dataset name: datasets' own many error types
        if path.suffix == ".jsonl" and path.is_file():
            scan_json_lines(source, path)  # names the bad row when it can find one
        raise UserError(f"cannot read preference data {source}: {first_line(err)}") from err


def scan_json_lines(source: str, path: Path) -> None:
    """Raises the one-line error of the first bad row of a .jsonl file (datasets' own error names an
    Arrow column, not the row: e.g. a number where the other rows hold text)."""
    rows = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    for number, line in enumerate(rows, start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{source} row {number}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{source} row {number}: must be a JSON object, not {type(row).__name__}")
        parse_row(source, number, row)


def parse_row(source: str, number: int, row: dict) -> PreferenceRow:
    where = f"{source} row {number}"
    chosen, rejected = row.get("chosen"), row.get("rejected")
    conversations = isinstance(chosen, list) and isinstance(rejected, list)
    if conversations and (max(len(chosen), len(rejected)) > 1 or row.get("prompt") is None):
        return split_conversations(where, chosen, rejected)
    if "prompt" not in row or row["prompt"] is None:
        raise UserError(f"{where}: missing field 'prompt' (rows need prompt, chosen, rejected)")
    missing = [name for name in ("chosen", "rejected") if row.get(name) is None]
    if missing:
        raise UserError(f"{where}: missing field {missing[0]!r} (rows need prompt, chosen, rejected)")
    return PreferenceRow(prompt_text(where, row["prompt"]), answer_text(where, "chosen", row["chosen"]),
                         answer_text(where, "rejected", row["rejected"]))


def split_conversations(where: str, chosen: list, rejected: list) -> PreferenceRow:
    """Two whole conversations: the shared messages are the prompt, the last of each is its answer."""
    check_messages(where, "chosen", chosen)
    check_messages(where, "rejected", rejected)
    if chosen[:-1] != rejected[:-1] or len(chosen) < 2:
        raise UserError(f"{where}: chosen and rejected hold whole conversations, so they must share every "
                        "message but the last (the prompt is the conversation before the answer)")
    return PreferenceRow(prompt_text(where, chosen[:-1]), answer_text(where, "chosen", chosen[-1:]),
                         answer_text(where, "rejected", rejected[-1:]))


def prompt_text(where: str, prompt) -> str:
    if isinstance(prompt, list):
        check_messages(where, "prompt", prompt)
        users = [m for m in prompt if m["role"] == "user"]
        text = users[0]["content"] if len(users) == len(prompt) == 1 else \
            "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
    else:
        text = text_field(where, "prompt", prompt)
    return non_empty(where, "prompt", text)


def answer_text(where: str, name: str, value) -> str:
    if isinstance(value, list):
        check_messages(where, name, value)
        if len(value) != 1:
            raise UserError(f"{where}: {name} must hold one message (the answer), not {len(value)}")
        return non_empty(where, name, value[0]["content"])
    return non_empty(where, name, text_field(where, name, value))


def check_messages(where: str, name: str, messages: list) -> None:
    for k, message in enumerate(messages):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            raise UserError(f"{where}: {name} message {k + 1} must be {{\"role\": str, \"content\": str}}, "
                            f"not {str(message)[:60]}")


def text_field(where: str, name: str, value) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where}: {name} must be text or a list of chat messages, not {type(value).__name__}")
    return value


def non_empty(where: str, name: str, text: str) -> str:
    if not text.strip():
        raise UserError(f"{where}: {name} is empty")
    return text
