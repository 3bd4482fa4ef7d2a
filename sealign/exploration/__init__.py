"""Explorers by name. A new explorer is one module with ``build(config)`` and one line here."""

from __future__ import annotations

import importlib

from sealign.errors import ConfigError
from sealign.exploration.base import Explorer, Pair

REGISTRY = {
    "passive": "sealign.exploration.passive",
}


def build_explorer(config, policy=None) -> Explorer:
    """The configured explorer; ``policy`` is there for explorers that embed with its backbone."""
    if config.explorer not in REGISTRY:
        raise ConfigError(f"unknown explorer {config.explorer!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[config.explorer]).build(config, policy)


__all__ = ["Explorer", "Pair", "build_explorer", "REGISTRY"]
