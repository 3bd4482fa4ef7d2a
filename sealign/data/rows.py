"""A prompt source's rows: the field rules every reader shares (a .jsonl / .json file in
``prompts.py``, a `datasets` source in ``hf_datasets.py``): a string field, or a chat ``messages``
list whose last user turn is the prompt (and whose last assistant turn is a reference)."""

from __future__ import annotations

from dataclasses import dataclass

from sealign.errors import UserError


@dataclass(frozen=True)
class PromptRow:
    where: str
    """'PATH:LINE' (.jsonl), 'PATH row N' (.json) or 'SOURCE split S row N' (a dataset): for error messages."""
    text: str
    reference: str | None = None


def row_of(where: str, value, field: str, reference_field: str) -> PromptRow:
    """One source row as a prompt and, when asked for, its reference response."""
    reference = _row_text(where, value, reference_field, role="assistant") if reference_field else None
    return PromptRow(where, _row_text(where, value, field), reference)


def _row_text(where: str, row, field: str, role: str = "user") -> str:
    """The string in ``row[field]``; for a chat ``messages`` list, the content of its last ``role`` turn
    (the prompt is the last user turn; a reference the last assistant turn)."""
    text = row if isinstance(row, str) and role == "user" else row.get(field) if isinstance(row, dict) else None
    if isinstance(text, list):
        turns = [m.get("content") for m in text if isinstance(m, dict) and m.get("role") == role]
        if not turns:
            raise UserError(f"{where}: the {field!r} messages have no {role!r} turn; the prompt is the last user "
                            "turn, a reference the last assistant turn")
        text = turns[-1]
    if not isinstance(text, str) or not text.strip():
        # repr() keeps the message on one line whatever characters the keys hold.
        flag = "--prompt-field" if role == "user" else "--reference-field"
        fields = f" (its fields: {', '.join(map(repr, row))[:80]}; set {flag})" if isinstance(row, dict) else ""
        raise UserError(f"{where}: row has no non-empty string field {field!r}{fields}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a JSON escape like \ud800 decodes to a lone surrogate
        raise UserError(f"{where}: the prompt holds a lone surrogate ({text[err.start]!r}), which is not "
                        "text; fix the JSON escape") from err
    return text
