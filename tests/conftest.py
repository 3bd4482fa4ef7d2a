"""Shared fixtures: a tiny random policy (seconds) and a small built-in SFT policy (built once per session)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from sealign.tasks import summarize

# Property tests draw the same examples on every run, so CI cannot fail on a new random draw that the
# author never saw; `HYPOTHESIS_PROFILE=explore make test-fast` draws afresh on every run, to find new cases.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The repository's root, for tests that read its files (docs, README.md, sealign/) whatever folder they sit in.
ROOT = Path(__file__).resolve().parent.parent

# A shorter bootstrap than the default keeps the suite fast; the policy is still decent.
TEST_SFT_STEPS = 250


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Never touch the user's ~/.cache from tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SEALIGN_CACHE", str(tmp_path_factory.mktemp("default-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_policy():
    """A randomly initialised 2-layer Llama with a BPE tokenizer trained on task text."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from sealign.policy.builtin import train_tokenizer
    from sealign.policy.hf import HFPolicy

    posts = summarize.make_posts(200, seed=3)
    tokenizer = train_tokenizer([p.prompt for p in posts] + [summarize.ideal_summary(p) for p in posts], 300)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return HFPolicy(LlamaForCausalLM(config).eval(), tokenizer, device="cpu")


@pytest.fixture(scope="session")
def tiny_policy_folder(tiny_policy, tmp_path_factory):
    """The tiny random policy saved as a save_pretrained folder, for real runs that take seconds."""
    path = tmp_path_factory.mktemp("tiny-policy-folder")
    tiny_policy.save(path)
    return path


def tiny_run_config(out_dir, policy_folder, **overrides):
    """A real run of the loop on the tiny policy: 48 queries, a few evaluations, seconds on one core."""
    from sealign.config import RunConfig

    settings = dict(out_dir=str(out_dir), policy=str(policy_folder), budget=48, batch_size=8, num_candidates=3,
                    max_new_tokens=8, num_train_prompts=64, num_eval_prompts=8, eval_every=3,
                    micro_batch_size=8, seed=1, threads=1)
    return RunConfig(**{**settings, **overrides})


def assert_flag_learns_from_the_command_line(tmp_path, policy_folder, flag: str, field: str) -> None:
    """``flag`` sets the boolean ``field`` (off without it), and a tiny run with it on learns, finite
    losses, the setting recorded in its config.yaml."""
    from sealign.cli_flags import resolve_config
    from sealign.records.tracking import read_metrics
    from sealign.run.loop import run

    assert getattr(resolve_config([flag]), field)
    assert not getattr(resolve_config([]), field)
    config = tiny_run_config(tmp_path, policy_folder, run_name="flag", budget=16, **{field: True}).validate()
    run(config, log=lambda _: None)
    steps = [r for r in read_metrics(tmp_path / "flag" / "metrics.jsonl") if "loss" in r]
    assert steps and all(math.isfinite(r["loss"]) for r in steps)
    assert f"{field}: true" in (tmp_path / "flag" / "config.yaml").read_text()


@pytest.fixture(scope="session")
def finished_tiny_run(tiny_policy_folder, tmp_path_factory):
    """One finished tiny online-DPO run directory, shared by the tests that only read runs."""
    from sealign.run.loop import run

    out = tmp_path_factory.mktemp("finished-run")
    run(tiny_run_config(out, tiny_policy_folder, run_name="tiny"), log=lambda _: None)
    return out / "tiny"


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A directory that ``build(path)`` fills once per test session, even when pytest-xdist runs the
    suite in several worker processes (``make test``): the workers share it, and a file lock makes
    the second wait for the first's build instead of repeating it (a minute or more each)."""
    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    path = tmp_path_factory.getbasetemp().parent / name  # the base temp's parent is the session's, shared
    path.mkdir(exist_ok=True)
    with FileLock(str(path) + ".lock"):
        build(path)  # builders skip what is already there
    return path


@pytest.fixture(scope="session")
def sft_cache(tmp_path_factory):
    """A cache directory holding the built-in SFT policy with TEST_SFT_STEPS steps."""
    from sealign.policy.builtin import BootstrapSpec, ensure_sft_policy

    spec = BootstrapSpec(sft_steps=TEST_SFT_STEPS)
    return built_once(tmp_path_factory, "sealign-cache",
                      lambda cache: ensure_sft_policy(cache, spec, log=lambda _: None))


@pytest.fixture(scope="session")
def demo_sft_cache(tmp_path_factory):
    """A cache holding the built-in SFT policy at the demo's default length (700 steps, ~90 s to
    build): for the recipes whose premise needs a decent policy (SELM ranks its own samples against
    a dataset's responses)."""
    from sealign.policy.builtin import BootstrapSpec, ensure_sft_policy

    return built_once(tmp_path_factory, "sealign-demo-cache",
                      lambda cache: ensure_sft_policy(cache, BootstrapSpec(), log=lambda _: None))


@pytest.fixture(scope="module")
def builtin_ranker(tmp_path_factory):
    """The built-in pairwise preference model, (path, spec), in a reduced build of seconds instead of a
    minute (a 10-step SFT base with the same tokenizer, 100 steps), once per test file that asks."""
    from sealign.oracles.builtin_pairwise import PairwiseSpec, ensure_pairwise_model
    from sealign.policy.builtin import BootstrapSpec

    cache = tmp_path_factory.mktemp("ranker-cache")
    spec = PairwiseSpec(base=BootstrapSpec(sft_steps=10), steps=100)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    path = ensure_pairwise_model(cache, spec, log=lambda _: None)
    # Building it must not move a run's random state or thread count (cached or not: same run).
    assert torch.equal(torch.get_rng_state(), rng_state) and torch.get_num_threads() == threads
    return path, spec


def index_pairs(candidates, queries) -> list:
    """An explorer's queries as index pairs into each prompt's candidates (None for no query; the
    single query of a prompt otherwise): the shape the pair rules return, for short assertions."""
    from sealign.exploration.base import index_pair

    assert all(len(qs) <= 1 for qs in queries), "index_pairs reads explorers of one query per prompt"
    return [index_pair(group, qs[0]) if qs else None for group, qs in zip(candidates, queries)]


def group_of(texts: list[str], prompt: str = "p") -> list:
    """One prompt's candidates with these texts, each text's bytes as its tokens (same text, same tokens)."""
    from sealign.records.types import Candidate, Prompt

    p = Prompt(prompt, prompt)
    return [Candidate(p, [1], list(text.encode()), text) for text in texts]


def answer(a, b, winner: str):
    """An oracle's answer about candidates ``a`` and ``b``: ``winner`` is "a", "b" or "tie"."""
    from sealign.records.types import Comparison

    return Comparison(id=a.text + b.text, run_id="t", step=0, prompt=a.prompt, a=a, b=b, winner=winner,
                      prob_a=None, oracle="test")
