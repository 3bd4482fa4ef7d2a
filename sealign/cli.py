"""`sealign run | plot | summary | compare | presets | models | export | report | serve-feedback | raters`:
one entry point (``USAGE`` says what each does). User mistakes end in one line, not a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sealign.cli_flags import ArgumentParser, resolve_config
from sealign.errors import UserError

USAGE = """usage: sealign COMMAND [options]

commands:
  run       run one experiment (sealign run --help for every setting)
  plot      overlay the win-rate curves of run directories
  summary   print the summary table of run directories
  compare   run several presets over seeds; one plot and one table side by side
  presets   list the named recipes
  models    list the named policies (built-in and offline pretrained) and whether each is installed
  export    write a run's feedback log as a preference dataset (TRL columns: prompt, chosen, rejected)
  report    write one self-contained HTML page about runs: curves, summary, config, cost, samples
  serve-feedback  serve the web page where raters answer a human-oracle run's pairs
  raters    add / list / remove the raters of a feedback queue
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    commands = {"run": cmd_run, "plot": cmd_plot, "summary": cmd_summary, "compare": cmd_compare,
                "presets": cmd_presets, "models": cmd_models, "export": cmd_export,
                "report": cmd_report,
                "serve-feedback": cmd_serve_feedback, "raters": cmd_raters}
    if command not in commands:
        print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return commands[command](rest)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_run(args: list[str]) -> int:
    from sealign.run.loop import resume, run

    console = Console(stderr=True)
    log = lambda msg: console.print(f"[dim]{msg}[/dim]")  # noqa: E731
    if "--resume" in args:
        rest = [a for a in args if a != "--resume"]
        if len(rest) != 1 or rest[0].startswith("-"):
            raise UserError("--resume takes exactly one run directory and no other settings "
                            "(the run's own config.yaml is used)")
        summary = resume(Path(rest[0]), log=log)
    else:
        summary = run(resolve_config(args, log=log), log=log)
    print_summary([summary])
    print(f"\nrun directory: {summary['run_dir']}  (win-rate plot: {summary['run_dir']}/winrate.png)")
    return 0


def print_summary(summaries: list[dict]) -> None:
    table = Table(title="sealign summary")
    for column in ("run", "queries", "win rate start", "win rate end", "best", "reward start→end", "wall s"):
        table.add_column(column, justify="right" if column != "run" else "left")
    for s in summaries:
        reward = (f"{s['initial_reward']:.3f} → {s['final_reward']:.3f}"
                  if s.get("final_reward") is not None else "-")
        table.add_row(s["run"], str(s["queries"]), f"{s['initial_win_rate']:.1%}", f"{s['final_win_rate']:.1%}",
                      f"{s['best_win_rate']:.1%}", reward, f"{s['wall_time_s']:.0f}")
    Console(width=max(100, Console().width)).print(table)


def cmd_plot(args: list[str]) -> int:
    from sealign.analysis.plot import plot_runs

    parser = ArgumentParser(prog="sealign plot", description="Overlay win-rate curves of runs.")
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("winrate.png"))
    parser.add_argument("--log-x", action="store_true", help="log-scaled query axis (as Asghari et al. 2026 Fig. 1)")
    parser.add_argument("--title")
    ns = parser.parse_args(args)
    print(plot_runs(ns.run_dirs, ns.out, log_x=ns.log_x, title=ns.title))
    return 0


def cmd_summary(args: list[str]) -> int:
    import json

    parser = ArgumentParser(prog="sealign summary", description="Summary table of finished runs.")
    parser.add_argument("run_dirs", nargs="+", type=Path)
    ns = parser.parse_args(args)
    summaries = []
    for run_dir in ns.run_dirs:
        file = run_dir / "summary.json"
        if not file.is_file():
            raise UserError(f"{run_dir} has no summary.json (not a finished run)")
        summaries.append(json.loads(file.read_text()))
    print_summary(summaries)
    return 0


def cmd_compare(args: list[str]) -> int:
    from sealign.analysis import compare

    parser = ArgumentParser(
        prog="sealign compare",
        description="Run presets over seeds (in parallel processes), then write comparison.md/.csv and "
                    "winrate.png. Settings after `--` go to every run (e.g. -- --num-eval-prompts 64).")
    parser.add_argument("--presets", default="", help="comma-separated preset names")
    parser.add_argument("--arm", action="append", default=[], metavar="LABEL=PRESET [SETTINGS]",
                        help="a compared setting of its own, repeatable: a preset with settings for its runs "
                             "alone, e.g. --arm 'ids=sea:2 --explorer ids' --arm 'm8=sea:2 --num-candidates 8'")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, help="oracle queries per run (default: each preset's)")
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="runs at a time (default: one per core)")
    parser.add_argument("--log-x", action="store_true", help="log-scaled query axis (as Asghari et al. 2026 Fig. 1)")
    parser.add_argument("--baseline", metavar="PRESET",
                        help="one of --presets: every other preset minus it, seed by seed (final win rate, win "
                             "prob, reward, AUC, query saving), with 95%% bootstrap intervals over the seeds")
    own, _, passthrough = _split_passthrough(args)
    ns = parser.parse_args(own)
    if ns.seeds < 1 or ns.jobs < 1:
        raise UserError("--seeds and --jobs must be >= 1")
    presets = [p.strip() for p in ns.presets.split(",") if p.strip()]
    arms = [*map(compare.preset_arm, presets), *map(compare.parse_arm, ns.arm)]
    if not arms:
        raise UserError("name what to compare: --presets NAME,NAME and/or --arm LABEL=PRESET [SETTINGS]")
    compare.check_arms(arms)
    baseline = compare.baseline_label(ns.baseline, arms) if ns.baseline is not None else None
    extra = [*(["--budget", str(ns.budget)] if ns.budget else []), *passthrough]
    console = Console(stderr=True)
    run_dirs = compare.run_all(arms, ns.seeds, ns.out, extra, ns.jobs,
                               log=lambda m: console.print(f"[dim]{m}[/dim]"))
    results = compare.summarise(run_dirs)
    comparisons = compare.compare_to_baseline(results, baseline) if baseline else None
    report = compare.write_report(results, ns.out, "sealign compare " + " ".join(args), ns.log_x, comparisons)
    print(report.read_text())
    return 0


def _split_passthrough(args: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in args:
        k = args.index("--")
        return args[:k], "--", args[k + 1:]
    return args, "", []


def cmd_export(args: list[str]) -> int:
    from sealign.analysis.export import FORMATS, export_run, left_out

    parser = ArgumentParser(prog="sealign export", description="Write a run's answered pairs as a preference "
                            "dataset: prompt, chosen, rejected, step, oracle, probability, source, cost.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", choices=list(FORMATS), default="jsonl",
                        help="jsonl, parquet, or hf (a datasets.save_to_disk folder)")
    parser.add_argument("--out", type=Path, help="default: RUN_DIR/preferences.jsonl|.parquet|/")
    parser.add_argument("--no-model-labels", action="store_true",
                        help="leave out pairs labelled without a query (source != oracle: reward model, ranking)")
    ns = parser.parse_args(args)
    out, data = export_run(ns.run_dir, ns.format, ns.out, model_labels=not ns.no_model_labels)
    kept_labels = 0 if ns.no_model_labels else data.model_labelled
    print(f"wrote {len(data.rows)} preference pairs ({kept_labels} model-labelled) to {out}")
    print(left_out(data, not ns.no_model_labels))
    return 0


def cmd_report(args: list[str]) -> int:
    from sealign.analysis.report import write_report

    parser = ArgumentParser(prog="sealign report", description="One self-contained HTML page about runs.")
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    ns = parser.parse_args(args)
    print(write_report(ns.run_dirs, ns.out))
    return 0


def cmd_presets(args: list[str]) -> int:
    from sealign.recipes import REGISTRY, get_recipe

    table = Table(title="presets")
    for column in ("name", "what", "reference"):
        table.add_column(column)
    for name in REGISTRY:
        recipe = get_recipe(name)
        table.add_row(name, recipe.summary, recipe.reference)
    Console(width=max(100, Console().width)).print(table)
    return 0


def cmd_models(args: list[str]) -> int:
    from sealign.policy.registry import available

    parser = ArgumentParser(prog="sealign models", description="The policies --policy knows by name.")
    parser.add_argument("--cache-dir", type=Path, help="default $SEALIGN_CACHE or ~/.cache/sealign")
    ns = parser.parse_args(args)
    table = Table(title="models (--policy NAME; also any save_pretrained folder or Hub org/model)")
    for column in ("name", "what", "installed", "cached"):
        table.add_column(column)
    for row in available(ns.cache_dir):
        table.add_row(row["name"], row["what"], row["installed"], row["cached"])
    Console(width=max(120, Console().width)).print(table)
    return 0


def cmd_serve_feedback(args: list[str]) -> int:
    parser = ArgumentParser(prog="sealign serve-feedback",
                                     description="Serve the rater page of a human-oracle feedback queue.")
    parser.add_argument("--db", required=True, help="the queue file (the run's --human-db)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let other machines in (use TLS in front)")
    parser.add_argument("--port", type=int, default=8765)
    ns = parser.parse_args(args)
    from sealign.server.app import serve

    serve(ns.db, ns.host, ns.port)
    return 0


def cmd_raters(args: list[str]) -> int:
    from sealign.server.queue import FeedbackQueue

    parser = ArgumentParser(prog="sealign raters", description="Manage the raters of a feedback queue.")
    parser.add_argument("action", choices=["add", "list", "remove"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--db", required=True, help="the queue file (the run's --human-db)")
    ns = parser.parse_args(args)
    if ns.action != "list" and not ns.name:
        raise UserError(f"`sealign raters {ns.action}` needs a rater NAME")
    with FeedbackQueue(ns.db) as queue:
        if ns.action == "add":
            token = queue.add_rater(ns.name)
            print(f"rater {ns.name!r} added; their sign-in token (shown only now, stored hashed):\n{token}")
        elif ns.action == "remove":
            queue.deactivate_rater(ns.name)
            print(f"rater {ns.name!r} can no longer sign in; their answers stay")
        else:
            for rater in queue.raters():
                print(f"{rater['name']}\t{'active' if rater['active'] else 'removed'}\t{rater['answers']} answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
