"""The constraints task's reward on SmolLM2's own answers and on answers with nothing to say.

    python bench/constraints_content.py --prompts 64      # ~35 s of one CPU thread to sample 64 answers

Samples SmolLM2-135M (``--policy smollm2-135m``, the Q4_1 GGUF dequantised to float32) on the first N
held-out prompts as the evaluation samples them (T = 0.7, seed 0, 48 new tokens), then prints, for its
answers and for constant, empty, echoed and off-topic answers, the graded constraint credit alone (the
reward before its content term), the reward, the content term and the strict share met; then the same
per constraint kind. The numbers of bench/results/real_model.md, "The reward needs content".
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch

from sealign.policy.hf import HFPolicy
from sealign.policy.registry import resolve_policy
from sealign.run.collapse import answer_stats
from sealign.tasks import constraints
from sealign.tasks.constraint_checks import KINDS, graded_credit, parse_constraints

DEGENERATE = {"`ok`": "ok", "`yes`": "yes", "`Sure.`": "Sure.", "empty": "",
              "`Bananas are yellow and grow in bunches.`": "Bananas are yellow and grow in bunches.",
              "`I don't know.`": "I don't know."}


def sample(prompts: list[str], max_new_tokens: int) -> tuple[list[str], list[bool], float]:
    policy = HFPolicy.from_pretrained(resolve_policy("smollm2-135m", None, 700, task="constraints"), "cpu")
    ids = policy.encode_prompts(prompts)
    start = time.process_time()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        out = policy.generate(ids, n=1, temperature=0.7, top_p=1.0, max_new_tokens=max_new_tokens)
    ended = [bool(group[0]) and group[0][-1] == policy.eos_id for group in out]
    return [policy.decode(group[0]) for group in out], ended, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    prompts = constraints.eval_prompts(ns.prompts)
    texts, ended, cpu_s = sample(prompts, ns.max_new_tokens)
    stats = answer_stats(texts, ended)
    print(f"SmolLM2: {len(texts)} answers in {cpu_s:.0f} CPU s; {stats['words_per_answer']:.1f} words per answer, "
          f"{stats['eos_share']:.0%} ended before the limit\n")
    rows = {"SmolLM2-135M (Q4_1)": texts, **{name: [a] * len(prompts) for name, a in DEGENERATE.items()},
            "the prompt echoed back": prompts}
    mean = statistics.fmean
    print("| answer | credit alone (the old reward) | reward (credit × content) | content | constraints met, strict |")
    print("|---|---|---|---|---|")
    for name, answers in rows.items():
        pairs = list(zip(prompts, answers))
        print(f"| {name} | {mean(graded_credit(p, a) for p, a in pairs):.3f} | "
              f"{mean(constraints.prompt_reward(p, a) for p, a in pairs):.3f} | "
              f"{mean(constraints.content(p, a) for p, a in pairs):.3f} | "
              f"{mean(constraints.constraints_met(p, a) for p, a in pairs):.3f} |")
    reward, met, worst = defaultdict(list), defaultdict(list), defaultdict(float)
    for prompt, text in zip(prompts, texts):
        for kind in {c.kind.name for c in parse_constraints(prompt)}:
            reward[kind].append(constraints.prompt_reward(prompt, text))
            met[kind].append(constraints.kind_met(kind)(prompt, text))
    for name, answers in rows.items():
        if name.startswith("SmolLM2"):
            continue
        by_kind = defaultdict(list)
        for prompt, answer in zip(prompts, answers):
            for kind in {c.kind.name for c in parse_constraints(prompt)}:
                by_kind[kind].append(constraints.prompt_reward(prompt, answer))
        for kind, values in by_kind.items():
            worst[kind] = max(worst[kind], mean(values))
    print("\n| kind | prompts | SmolLM2 reward | SmolLM2: met, with content | best answer without content |")
    print("|---|---|---|---|---|")
    for kind in KINDS:
        if reward[kind]:
            print(f"| {kind} | {len(reward[kind])} | {mean(reward[kind]):.2f} | {mean(met[kind]):.2f} | "
                  f"{worst[kind]:.2f} |")


if __name__ == "__main__":
    main()
