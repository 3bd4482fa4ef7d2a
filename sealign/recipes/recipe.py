"""A recipe: a composition of the loop's parts and a schedule, written as settings over the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from sealign.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    reference: str
    """Where the algorithm is specified (paper and section)."""
    settings: dict = field(default_factory=dict)
    variants: dict[int, dict] = field(default_factory=dict)
    """Named alternatives (``--variant N``): settings applied over ``settings``."""

    default_variant: int = 0
    builtin_settings: dict = field(default_factory=dict)
    """Settings tuned on the built-in policy (bench/factor_study.py's tuning), applied only when the run's
    policy is the built-in one and neither the YAML file nor a flag chose them: a pretrained model gets
    the defaults that follow it instead (sealign/run/model_defaults.py), never the toy's tuned rate."""

    def settings_for(self, variant: int | None) -> dict:
        if variant is None and self.variants:
            variant = self.default_variant
        if variant is None or (not self.variants and variant == 0):
            return dict(self.settings)
        if variant not in self.variants:
            choices = ", ".join(map(str, self.variants)) or "none"
            raise ConfigError(f"preset {self.name!r} has no variant {variant} (variants: {choices})")
        return {**self.settings, **self.variants[variant], "variant": variant}
