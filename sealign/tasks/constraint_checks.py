"""Verifiable constraints on a response (IFEval-like): how each is said in a prompt, read back, and checked.

Each kind renders one sentence of an instruction (``describe``), finds its own sentences in a
prompt again (``pattern``), and checks a response (``check``). The constraints task's reward reads
a prompt's constraints back from its text, so the reward is a function of (prompt, response) alone,
like any ``--reward-fn``, and also judges prompts written by hand in the same phrasing.

A kind belongs to a ``family``; a prompt holds at most one constraint per family, and
``CONFLICTS`` lists the families that cannot be met together (a JSON object cannot end with a
closing phrase).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
BULLET = re.compile(r"^\s*[-*•]\s+\S")
CODE_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def sentence_count(text: str) -> int:
    """Sentences end with . ! or ? before a space or the end; a last unterminated sentence counts too."""
    pieces = [p for p in SENTENCE_END.split(text) if words(p)]
    return len(pieces)


def bullet_count(text: str) -> int:
    return sum(bool(BULLET.match(line)) for line in text.splitlines())


def has_word(text: str, word: str) -> bool:
    return word.lower() in (w.lower() for w in words(text))


def json_object(text: str) -> dict | None:
    """The response as a JSON object (a Markdown code fence around it is allowed), else None."""
    try:
        value = json.loads(CODE_FENCE.sub("", text.strip()))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def letters(text: str) -> str:
    return "".join(c for c in text if c.isalpha())


@dataclass(frozen=True)
class ConstraintKind:
    name: str
    family: str
    template: str
    """The sentence, with ``{value}`` where the parameter goes (a number, a word or a phrase)."""
    check_fn: Callable[[str, str], bool]
    """(response, value) -> met?"""
    value_pattern: str = ""
    """What ``{value}`` may be when the sentence is read back from a prompt: NUMBER or QUOTED."""
    closeness_fn: Callable[[str, str], float] | None = None
    """(response, value) -> how close an unmet response comes, in [0, 1]; None: no partial credit."""

    @property
    def pattern(self) -> re.Pattern:
        head, _, tail = self.template.partition("{value}")
        if not self.value_pattern:
            return re.compile(re.escape(self.template))
        return re.compile(re.escape(head) + f"(?P<value>{self.value_pattern})" + re.escape(tail))


@dataclass(frozen=True)
class Constraint:
    kind: ConstraintKind
    value: str = ""

    def describe(self) -> str:
        return self.kind.template.format(value=self.value)

    def check(self, response: str) -> bool:
        return bool(self.kind.check_fn(response, self.value))

    def credit(self, response: str) -> float:
        """1 when met; else the closeness of a near miss, scaled into [0, MAX_PARTIAL] so that it never
        reaches a met constraint's credit."""
        if self.check(response):
            return 1.0
        if self.kind.closeness_fn is None:
            return 0.0
        return MAX_PARTIAL * min(max(float(self.kind.closeness_fn(response, self.value)), 0.0), 1.0)


MAX_PARTIAL = 0.5
"""A near miss earns at most half a met constraint: meeting one more constraint always pays more than
coming closer on the others."""


def count_closeness(actual: int, wanted: int) -> float:
    """1 / (1 + |actual - wanted|): 0.5 one away, 0.33 two away."""
    return 1.0 / (1.0 + abs(actual - wanted))


def share_of_letters(text: str, predicate: Callable[[str], bool]) -> float:
    chars = letters(text)
    return sum(map(predicate, chars)) / len(chars) if chars else 0.0


NUMBER = r"\d+"
QUOTED = r'[^"]+'
KEY_LIST = r'"[a-z_]+"(?: and "[a-z_]+")*'


def json_keys(value: str) -> list[str]:
    """'"title" and "mood"' -> ['title', 'mood']."""
    return re.findall(r'"([^"]+)"', value)


def _json_with_keys(response: str, keys: str) -> bool:
    obj = json_object(response)
    return obj is not None and all(k in obj for k in json_keys(keys))


def _json_closeness(response: str, keys: str) -> float:
    """A JSON object with some of the keys: their share; an attempt (starts with '{'): 0.25."""
    obj = json_object(response)
    if obj is not None:
        wanted = json_keys(keys)
        return 0.5 + 0.5 * sum(k in obj for k in wanted) / len(wanted)
    return 0.25 if CODE_FENCE.sub("", response.strip()).startswith("{") else 0.0


KINDS = {kind.name: kind for kind in [
    ConstraintKind("max-words", "length", "Answer in at most {value} words.",
                   lambda r, v: 0 < len(words(r)) <= int(v), NUMBER,
                   lambda r, v: int(v) / len(words(r)) if words(r) else 0.0),
    ConstraintKind("min-words", "length", "Use at least {value} words.",
                   lambda r, v: len(words(r)) >= int(v), NUMBER, lambda r, v: len(words(r)) / int(v)),
    ConstraintKind("required-word", "vocabulary", 'Include the word "{value}".', has_word, QUOTED,
                   lambda r, v: float(v.lower() in r.lower())),  # inside another word ("simply")
    ConstraintKind("forbidden-word", "vocabulary", 'Do not use the word "{value}".',
                   lambda r, v: bool(words(r)) and not has_word(r, v), QUOTED,
                   lambda r, v: count_closeness(sum(w.lower() == v.lower() for w in words(r)), 0)),
    ConstraintKind("bullets", "shape", 'Give exactly {value} bullet points, each on its own line starting with "- ".',
                   lambda r, v: bullet_count(r) == int(v), NUMBER,
                   lambda r, v: count_closeness(bullet_count(r), int(v))),
    ConstraintKind("sentences", "shape", "Write exactly {value} sentences.",
                   lambda r, v: sentence_count(r) == int(v), NUMBER,
                   lambda r, v: count_closeness(sentence_count(r), int(v))),
    ConstraintKind("json", "shape", "Reply with only a JSON object with the keys {value}.", _json_with_keys,
                   KEY_LIST, _json_closeness),
    ConstraintKind("lowercase", "case", "Write everything in lowercase letters.",
                   lambda r, v: bool(letters(r)) and letters(r) == letters(r).lower(), "",
                   lambda r, v: share_of_letters(r, str.islower)),
    ConstraintKind("uppercase", "case", "Write everything in capital letters.",
                   lambda r, v: bool(letters(r)) and letters(r) == letters(r).upper(), "",
                   lambda r, v: share_of_letters(r, str.isupper)),
    ConstraintKind("closing-phrase", "ending", 'End your answer with the exact phrase "{value}"',
                   lambda r, v: r.strip().endswith(v), QUOTED,
                   lambda r, v: float(v.lower() in r.lower())),  # said, but not last or not verbatim
    ConstraintKind("no-commas", "punctuation", "Do not use any commas.",
                   lambda r, v: bool(r.strip()) and "," not in r, "",
                   lambda r, v: count_closeness(r.count(","), 0)),
]}

# A JSON object has no room for a closing phrase after it, its keys are given in lowercase, and
# two keys need a comma between them.
# A closing phrase is written with its own capitals, so no case rule can hold with it.
CONFLICTS = {frozenset({"shape:json", "ending"}), frozenset({"shape:json", "case"}),
             frozenset({"shape:json", "punctuation"}), frozenset({"ending", "case"})}


def conflicts(chosen: list[Constraint], new: Constraint) -> bool:
    """Whether ``new`` cannot join ``chosen``: same family, or families that cannot be met together."""
    def tag(c: Constraint) -> str:
        return f"{c.kind.family}:{c.kind.name}" if c.kind.name == "json" else c.kind.family

    for old in chosen:
        if old.kind.family == new.kind.family:
            return True
        if frozenset({tag(old), tag(new)}) in CONFLICTS:
            return True
        phrase = {c.kind.name: c.value for c in (old, new)}
        if "closing-phrase" in phrase and has_word(phrase["closing-phrase"], phrase.get("forbidden-word", "")):
            return True  # the phrase would use the forbidden word
    return False


def parse_constraints(prompt: str) -> list[Constraint]:
    """The constraints a prompt states, in the order they appear (none: an empty list)."""
    found = []
    for kind in KINDS.values():
        for match in kind.pattern.finditer(prompt):
            value = match.groupdict().get("value") or ""
            found.append((match.start(), Constraint(kind, value)))
    return [c for _, c in sorted(found, key=lambda pair: pair[0])]


def request_text(prompt: str) -> str:
    """The prompt without its constraint sentences: what it asks for ("Give some advice about sleep.")."""
    for kind in KINDS.values():
        prompt = kind.pattern.sub(" ", prompt)
    return " ".join(prompt.split())


def quoted_values(prompt: str) -> list[str]:
    """The words and phrases the prompt's constraints quote (a required word, a closing phrase, JSON keys):
    text an answer is asked to repeat, so repeating it is no copy of the prompt."""
    found = []
    for c in parse_constraints(prompt):
        if c.kind.value_pattern == QUOTED:
            found.append(c.value)
        elif c.kind.value_pattern == KEY_LIST:
            found += json_keys(c.value)
    return found


def fraction_met(prompt: str, response: str) -> float | None:
    """Share of the prompt's constraints the response meets; None when the prompt states none."""
    constraints = parse_constraints(prompt)
    if not constraints:
        return None
    return sum(c.check(response) for c in constraints) / len(constraints)


def graded_credit(prompt: str, response: str) -> float | None:
    """Mean credit over the prompt's constraints: 1 for each one met, up to ``MAX_PARTIAL`` for a near
    miss; None when the prompt states none. Equals ``fraction_met`` when every constraint is met or
    missed by far."""
    constraints = parse_constraints(prompt)
    if not constraints:
        return None
    return sum(c.credit(response) for c in constraints) / len(constraints)
