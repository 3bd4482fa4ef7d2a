"""How much of an answer repeats itself: the share of its word trigrams that occurred earlier in it.

A small model pushed by a reward learns to loop: "simple simple simple simple", "1. Big 2. Vacuum
3. Big 4. Vacuum ...". Such an answer meets a required-word or bullet constraint while saying nothing
(seen in the ``real`` preset's runs, bench/results/real_model.md). Words are letters only, so that a
numbered list's numbers do not make a loop look new; an answer of fewer than three words repeats nothing.
"""

from __future__ import annotations

import re

LETTERS = re.compile(r"[a-z]+(?:'[a-z]+)?")


def repeated_share(text: str) -> float:
    """The share, in [0, 1), of ``text``'s word trigrams that are repeats of an earlier one (lower-cased)."""
    said = LETTERS.findall(text.lower())
    grams = [tuple(said[i:i + 3]) for i in range(len(said) - 2)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


LOOPING = 0.3
"""An answer whose repeated share is at least this loops: natural short answers stay under 0.1."""


def loops(text: str) -> bool:
    return repeated_share(text) >= LOOPING
