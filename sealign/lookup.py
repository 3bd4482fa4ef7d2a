"""Looking a part up by name: one helper, so every registry refuses an unknown name the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from sealign.errors import ConfigError

T = TypeVar("T")


def pick(kind: str, name: str, table: Mapping[str, T]) -> T:
    """``table[name]``, or a ConfigError that lists the choices ("unknown explorer 'x'; choose one of: ...")."""
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    return table[name]
