"""Reading a judge's verdict: from the text of its reply, or from the probabilities of its verdict token.

Text: the reply ends with ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie); the last such mark counts, a
bare ``A`` / ``B`` / ``tie`` reply is accepted too. A weak judge often writes something else
("The answer is A: Hello"), and the question is lost.

Probabilities: with the log-probabilities of each generated token and its likeliest alternatives
(``logprobs`` / ``top_logprobs`` of the chat-completions API), the verdict is read at the token
where the judge names its choice: P(first wins) = (P(A) + P(C) / 2) / (P(A) + P(B) + P(C)) over
the spellings of each letter among the alternatives. This keeps how sure the judge was (a soft
label) and still reads a judge that did not follow the format, as long as it named a letter.
"""

from __future__ import annotations

import math
import re

from sealign.oracles.chat_client import TokenChoice

_BRACKETED = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.IGNORECASE)
_BARE = {"A": "a", "B": "b", "C": "tie", "TIE": "tie"}
_PUNCTUATION = " \t\n.*\"'`[]():"


def parse_verdict(text: str) -> str | None:
    """'a', 'b', 'tie' (in the order shown) or None. The *last* [[X]] counts: an explanation may
    quote the format before the judge gives its own verdict."""
    found = _BRACKETED.findall(text)
    if found:
        return _BARE[found[-1].upper()]
    bare = text.strip().strip(_PUNCTUATION + "\n").upper()
    return _BARE.get(bare)


def letter(token: str) -> str | None:
    """'A', 'B' or 'C' when ``token`` spells one (' A', '[[B', 'C]]', 'a'), else None."""
    core = token.strip(_PUNCTUATION).upper()
    return core if core in ("A", "B", "C") else None


def verdict_position(tokens: tuple[TokenChoice, ...]) -> int | None:
    """Where the judge names its choice: the letter of its last ``[[X]]`` mark; else the first token
    that is a letter; else the first token, when a letter is among its alternatives (a judge that
    began with "The answer is A" still weighed A against B there)."""
    text, marks, first_letter = "", [], None
    for i, choice in enumerate(tokens):
        if letter(choice.token) is not None:
            if text.rstrip().endswith("[[") or "[[" in choice.token:
                marks.append(i)
            if first_letter is None:
                first_letter = i
        text += choice.token
    if marks:
        return marks[-1]
    if first_letter is not None:
        return first_letter
    if tokens and any(letter(t) in ("A", "B") for t, _ in tokens[0].top):
        return 0
    return None


def prob_first_wins(tokens: tuple[TokenChoice, ...] | None) -> float | None:
    """P(the response shown first wins) from the verdict token's alternatives; None when the reply
    has no log-probabilities or no letter is among them (the caller then reads the text)."""
    if not tokens:
        return None
    position = verdict_position(tokens)
    if position is None:
        return None
    choice = tokens[position]
    mass = {"A": 0.0, "B": 0.0, "C": 0.0}
    # The chosen token is always a candidate; the alternatives usually list it again: count each spelling once.
    for token, logprob in dict([(choice.token, choice.logprob), *choice.top]).items():
        if (which := letter(token)) is not None and math.isfinite(logprob):
            mass[which] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    return (mass["A"] + 0.5 * mass["C"]) / total
