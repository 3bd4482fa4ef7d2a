"""A new user's first run on a real model: their own prompts and reward, the plain ``online-dpo`` preset.

Issue 26 tried this with SmolLM2-135M-Instruct: prompts asking for a short tip on a topic, a reward for
concise on-topic tips, ``--preset online-dpo --policy smollm2-135m``. Back then the run fine-tuned every
weight at the built-in toy's lr 3e-4, rose to a 0.69 win rate at 64 queries, and answered every prompt
with nothing by 192 queries (KL 45-50 nats) without a word. This script writes that user's files and
runs both ways:

- ``collapse``: the old regime asked for explicitly (``--lr 3e-4`` without a LoRA rank keeps a full
  fine-tune) with ``--stop-on-collapse``: the run must say so in one line and stop;
- ``defaults``: the same command with no training settings, so the defaults that follow the model apply
  (LoRA r 16 at lr 1e-3 on a CPU): it must learn and stay learned to 256 queries.

    PYTHONPATH=. python bench/new_user.py --out runs/new-user            # both runs, then the table
    PYTHONPATH=. python bench/new_user.py --out runs/new-user --only defaults

The reward (``score``) is the user's, written as a user would: on topic (the prompt's topic word or its
stem appears), a tip of substance (full credit from 12 distinct words), concise (full credit up to 30
words, falling to 0 at 80). Empty, off-topic and echoed answers score 0.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

TOPICS = [
    "camping", "cooking rice", "running", "saving money", "sleeping better", "learning a language",
    "gardening", "public speaking", "writing emails", "studying for exams", "baking bread", "cycling",
    "swimming", "painting a room", "job interviews", "time management", "drinking more water",
    "hiking", "photography", "meditation", "reading more books", "cleaning a kitchen", "packing a suitcase",
    "taking notes", "making coffee", "growing tomatoes", "fixing a flat tire", "walking a dog",
    "learning guitar", "keeping houseplants alive", "stretching", "budgeting groceries", "writing a resume",
    "staying focused", "cooking pasta", "caring for a cat", "learning to code", "moving house",
    "making friends", "planning a trip", "winter driving", "chess", "knitting", "birdwatching", "yoga",
    "journaling", "grilling vegetables", "sharpening knives", "washing a car", "composting",
    "teaching a child to read", "remembering names", "negotiating a salary", "lifting weights",
    "brewing tea", "organizing a closet", "fishing", "skiing", "drawing portraits", "reducing stress",
]
TEMPLATES = ["Give me one short tip about {t}.", "What is a good tip for {t}? Keep it brief."]


def topic_of(prompt: str) -> str:
    match = re.search(r"(?:about|for) (.+?)[.?]", prompt)
    return match.group(1) if match else ""


def score(prompt: str, response: str) -> float:
    """The user's reward: concise, on-topic tips. 0 for an empty, off-topic or echoed answer."""
    words = re.findall(r"[a-z']+", response.lower())
    topic_words = [w for w in re.findall(r"[a-z]+", topic_of(prompt).lower()) if len(w) > 3]
    on_topic = any(any(w.startswith(t[:5]) for w in words) for t in topic_words)
    echoed = response.strip().lower().rstrip(".?") in prompt.lower()
    if not on_topic or echoed:
        return 0.0
    substance = min(1.0, len(set(words)) / 12)
    brevity = 1.0 if len(words) <= 30 else max(0.0, (80 - len(words)) / 50)
    return substance * brevity


def write_prompts(path: Path) -> None:
    rows = [{"prompt": template.format(t=topic)} for template in TEMPLATES for topic in TOPICS]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


RUNS = {
    "collapse": ["--lr", "3e-4", "--stop-on-collapse"],
    "defaults": ["--stop-on-collapse"],
}


def run(name: str, out: Path, prompts: Path, budget: int, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "sealign.cli", "run", "--preset", "online-dpo", "--policy", "smollm2-135m",
           "--prompts", str(prompts), "--reward-fn", "bench.new_user:score", "--budget", str(budget),
           "--num-eval-prompts", "40", "--eval-every-queries", "32", "--max-new-tokens", "64",
           "--out-dir", str(out / "runs"), "--run-name", name, *RUNS[name], *extra]
    print(" ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=False)


def table(out: Path) -> None:
    print("| run | queries | win rate vs start | reward | words per answer | empty share | collapse |")
    print("|---|---|---|---|---|---|---|")
    for name in RUNS:
        metrics = out / "runs" / name / "metrics.jsonl"
        if not metrics.exists():
            continue
        for line in metrics.read_text().splitlines():
            r = json.loads(line)
            if "eval/win_rate" not in r:
                continue
            signs = ",".join(k.split("/")[-1] for k, v in r.items() if k.startswith("eval/collapse/") and v) or "-"
            value = {k: r.get(k, float("nan")) for k in ("eval/reward", "eval/words_per_answer", "eval/empty_share")}
            print(f"| {name} | {r['queries']} | {r['eval/win_rate']:.3f} | {value['eval/reward']:.3f} "
                  f"| {value['eval/words_per_answer']:.1f} | {value['eval/empty_share']:.2f} | {signs} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/new-user"))
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--only", choices=sorted(RUNS))
    parser.add_argument("--table", action="store_true", help="only print the table of finished runs")
    args, extra = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prompts = args.out / "tips.jsonl"
    write_prompts(prompts)
    if not args.table:
        for name in [args.only] if args.only else list(RUNS):
            run(name, args.out, prompts, args.budget, extra)
    table(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
