"""`sealign report RUN_DIR... --out report.html`: one self-contained page about runs.

The win-rate curves (PNG, embedded as base64), the summary table, what the oracle cost and how many
queries went unanswered, each run's resolved config, and side by side the starting (SFT) and the
final policy's responses to the same held-out prompts (samples.jsonl). No external asset, no
script: the file can be mailed, attached to an issue, or opened offline. Every text from a run
(model output included) is escaped, never run as HTML.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

import yaml

from sealign.analysis.run_files import run_settings
from sealign.errors import UserError
from sealign.records.samples import read_samples
from sealign.records.tracking import read_metrics

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: .6rem 0; } th, td { border: 1px solid #ccc; padding: .3rem .55rem; }
th, td { white-space: nowrap; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { vertical-align: top; white-space: pre-wrap; max-width: 22rem; }
img { max-width: 100%; border: 1px solid #ddd; } pre { background: #f7f7f7; padding: .7rem; overflow-x: auto; }
.muted { color: #666; }
"""


def write_report(run_dirs: list[Path], out: Path) -> Path:
    runs = [read_run(Path(d)) for d in run_dirs]
    html = render(runs, curves_png(run_dirs))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def read_run(run_dir: Path) -> dict:
    if not (run_dir / "metrics.jsonl").is_file():
        raise UserError(f"{run_dir} is not a run directory (no metrics.jsonl)")
    summary_file = run_dir / "summary.json"
    metrics = read_metrics(run_dir / "metrics.jsonl")
    return {
        "dir": run_dir,
        "name": run_dir.name,
        "config": run_settings(run_dir).values,
        "summary": json.loads(summary_file.read_text()) if summary_file.is_file() else None,
        "unanswered": sum(r.get("answers/skipped", 0) for r in metrics),
        "cost_unit": cost_unit(run_dir),
        "samples": read_samples(run_dir),
    }


def cost_unit(run_dir: Path) -> str:
    from sealign.records.feedback_log import open_run_log

    if not (run_dir / "feedback.sqlite").is_file():
        return ""
    with open_run_log(run_dir) as feedback:
        return ", ".join(feedback.cost_units())


def curves_png(run_dirs: list[Path]) -> str:
    import matplotlib.pyplot as plt

    from sealign.analysis.plot import curve_figure

    fig = curve_figure([Path(d) for d in run_dirs])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render(runs: list[dict], png: str) -> str:
    names = ", ".join(r["name"] for r in runs)
    parts = [f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>sealign report: {escape(names)}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>sealign report</h1><p class='muted'>{escape(names)}</p>",
             "<h2>Win rate vs oracle queries</h2>",
             f"<img alt='win rate against the SFT policy vs oracle queries' src='data:image/png;base64,{png}'>",
             "<h2>Summary</h2>", summary_table(runs)]
    for run in runs:
        parts += [f"<h2>{escape(run['name'])}</h2>", samples_table(run),
                  "<h3>Config</h3>",
                  f"<details><summary>resolved settings ({len(run['config'])})</summary>"
                  f"<pre>{escape(yaml.safe_dump(run['config'], sort_keys=False))}</pre></details>"]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def summary_table(runs: list[dict]) -> str:
    head = ["run", "preset", "queries", "unanswered", "oracle cost", "win rate start", "win rate end", "best",
            "reward start → end", "wall s"]
    rows = []
    for run in runs:
        s = run["summary"]
        if s is None:
            rows.append([run["name"], run["config"].get("preset", "?"), "unfinished (no summary.json)"]
                        + [""] * (len(head) - 3))
            continue
        reward = (f"{s['initial_reward']:.3f} → {s['final_reward']:.3f}"
                  if s.get("final_reward") is not None else "-")
        rows.append([run["name"], s.get("preset", ""), s["queries"], run["unanswered"],
                     f"{s.get('oracle_cost', 0):g} {run['cost_unit']}".strip(), f"{s['initial_win_rate']:.1%}",
                     f"{s['final_win_rate']:.1%}", f"{s['best_win_rate']:.1%}", reward, f"{s['wall_time_s']:.0f}"])
    return table(head, rows)


def samples_table(run: dict) -> str:
    records = run["samples"]
    if not records:
        return "<p class='muted'>no samples.jsonl in this run (written by sealign runs since the report existed)</p>"
    first, last = records[0], records[-1]
    rows = [[s["prompt"], s["sft_response"], e["response"]] for s, e in zip(first["samples"], last["samples"])]
    caption = (f"<h3>Responses: starting (SFT) policy vs the policy at {last['queries']} queries</h3>"
               "<p class='muted'>the same held-out prompts, sampled as the evaluation samples them</p>")
    return caption + table(["prompt", "starting policy", "final policy"], rows, text=True)


def table(head: list[str], rows: list[list], text: bool = False) -> str:
    def cell(value) -> str:
        kind = "text" if text else "num" if isinstance(value, (int, float)) or str(value)[:1].isdigit() else ""
        return f"<td class='{kind}'>{escape(str(value))}</td>"

    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
