"""``sealign run``'s arguments to a ``RunConfig`` (defaults, preset, YAML file, flags, the model's own
defaults), and every parser mistake, argparse's or tyro's, as one ``UserError`` line."""

from __future__ import annotations

import argparse
import sys

from sealign.errors import UserError


def resolve_config(args: list[str], log=None):
    """Defaults, then the preset, then the YAML file, then command-line flags; then, for a pretrained
    policy, the defaults that follow the model in the settings none of them chose (said in one line
    through ``log``; sealign/run/model_defaults.py)."""
    import tyro

    from sealign.config import RunConfig, apply_overrides, flattened, grouped, load_yaml
    from sealign.recipes import get_recipe
    from sealign.run.model_defaults import flag_names, follow_model

    pre = ArgumentParser(prog="sealign run", add_help=False)
    pre.add_argument("--preset")
    pre.add_argument("--config")
    pre.add_argument("--variant", type=int)
    known, rest = pre.parse_known_args(args)
    file_settings = load_yaml(known.config) if known.config else {}
    preset = known.preset or file_settings.get("preset") or RunConfig.preset
    recipe = get_recipe(preset)
    variant = known.variant if known.variant is not None else file_settings.get("variant")
    config = apply_overrides(RunConfig(), {**recipe.settings_for(variant), "preset": preset}, f"preset {preset}")
    if file_settings:
        config = apply_overrides(config, file_settings, known.config)
    # --help shows the settings grouped by part (config.PARTS); the flags keep their flat names.
    flags, default = grouped(config)
    parsed = one_line_errors(lambda: tyro.cli(flags, default=default, args=rest, prog="sealign run",
                                              description="Run one online-alignment experiment."))
    chosen = {**{key: f"preset {preset}" for key in recipe.settings_for(variant)},
              **{str(key): known.config for key in file_settings},
              **{name: "--" + name.replace("_", "-") for name in flag_names(rest)}}
    config, line = follow_model(flattened(parsed), chosen)
    if line and log is not None:
        log(line)
    return builtin_tuned(config, recipe.builtin_settings, set(file_settings) | set(flag_names(rest))).validate()


def builtin_tuned(config, settings: dict, user_chosen: set[str]):
    """``config`` with the preset's settings tuned on the built-in policy, where the policy is the built-in
    one and the user (YAML file or flag) chose none of them."""
    from sealign.config import apply_overrides
    from sealign.policy.registry import BUILTIN

    unchosen = {key: value for key, value in settings.items() if key not in user_chosen}
    if config.policy != BUILTIN or not unchosen:
        return config
    return apply_overrides(config, unchosen, f"preset {config.preset} (tuned on the built-in policy)")


# every parser mistake is one UserError line (exit 2), not usage text
class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UserError instead of printing its usage and calling sys.exit."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message}; see `{self.prog} --help`")


def one_line_errors(parse):
    """``parse()`` (a tyro parse); its error box on stderr becomes one UserError line.

    tyro draws a multi-line box and exits 2. The box is captured and condensed to its first
    section and the flags it suggests, so every mistake reads like the others; --help still exits 0.
    """
    import contextlib
    import io

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return parse()
    except SystemExit as exit_:
        if not exit_.code:
            sys.stderr.write(captured.getvalue())
            raise
        raise UserError(condense_tyro_error(captured.getvalue())) from None


def condense_tyro_error(text: str) -> str:
    """'Unrecognized options: --betta, 0.1 (did you mean --beta?); see `sealign run --help`' from tyro's box."""
    import re

    sections: list[list[str]] = [[]]
    for raw in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines():
        line = raw.strip().strip("│┃").strip()
        if not line or line[0] in "╭╰┏┗":  # blank, or the box's top and bottom edges
            continue
        if set(line) <= set("─━-"):  # a separator between sections
            sections.append([])
            continue
        sections[-1].append(line)
    if "╭" not in text and len(sections) > 1 and len(sections[0]) == 1:
        sections.pop(0)  # without a box (output that cannot show one) the title stands alone on top
    first = " ".join(sections[0]).rstrip(".") or "invalid command-line flags"
    suggested = [match.group(1) for lines in sections[1:]
                 if lines and lines[0].startswith(("Perhaps you meant", "Arguments similar to"))
                 for line in lines[1:] if (match := re.match(r"(--[a-z][\w-]*)", line))]
    hint = f" (did you mean {', '.join(dict.fromkeys(suggested))}?)" if suggested else ""
    return f"{first}{hint}; see `sealign run --help`"
