"""The Ray runtime: same seed => same answers log as the local runtime (staleness 0), the same
end-to-end result, sampling ahead with older weights under staleness; one-line errors for a
missing `ray` extra and for the vLLM backend without a GPU."""

from __future__ import annotations

import sys

import pytest
import torch

from sealign.cli import main
from sealign.config import RunConfig
from sealign.data.prompts import PromptOrder, load_prompts
from sealign.errors import ConfigError, UserError
from sealign.policy import load_policy
from sealign.policy.builtin import BootstrapSpec, ensure_sft_policy
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import read_metrics
from sealign.run.actor import Actor
from sealign.run.loop import run
from sealign.runtime import build_runtime
from sealign.runtime.ray_calls import lost_line, shard_bounds
from tests.conftest import TEST_SFT_STEPS


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster for the module's runs (the first run starts it), shut down after."""
    ray = pytest.importorskip("ray")
    yield ray
    ray.shutdown()


def small_config(tmp_path, sft_cache, **overrides) -> RunConfig:
    settings = dict(out_dir=str(tmp_path), cache_dir=str(sft_cache), sft_steps=TEST_SFT_STEPS, budget=96,
                    batch_size=32, eval_every=2, num_eval_prompts=32, threads=1)
    return RunConfig(**{**settings, **overrides})


def log_rows(run_dir, name) -> list[tuple]:
    """Everything of the answers log that must not depend on the runtime (ids and times do)."""
    with FeedbackLog(run_dir / "feedback.sqlite", name) as log:
        return [(c.step, c.prompt.text, c.winner, c.prob_a, c.a.text, c.b.text, c.a.prompt_ids,
                 c.a.token_ids, c.b.token_ids) for c in log.read()]


# ------------------------------------------------------------------------------ fast
def test_shard_bounds_cover_the_batch_in_order():
    assert shard_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert shard_bounds(2, 4) == [(0, 1), (1, 2)]  # more workers than rows: the empty shards are dropped
    assert shard_bounds(5, 1) == [(0, 5)]


def test_a_worker_lost_for_good_is_one_line_naming_resume_once_the_run_exists(tmp_path):
    err = RuntimeError("The actor died unexpectedly before finishing this task.\n\tclass_name: LearnerWorker")
    line = lost_line("learner worker", tmp_path, err)
    assert "\n" not in line and "before finishing this task.)" in line and line.endswith("start the run again")
    (tmp_path / "config.yaml").write_text("")  # the run started: its log and checkpoints are there to resume
    assert lost_line("learner worker", tmp_path, err).endswith(f"`sealign run --resume {tmp_path}`")


def test_missing_ray_extra_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if `pip install 'sealign[ray]'` had not run
    with pytest.raises(UserError, match=r"needs the ray extra"):
        build_runtime(RunConfig(runtime="ray"))


def test_bad_scale_settings_are_refused():
    for field, value, message in [("actors", 0, "actors must be >= 1"), ("oracles", 0, "oracles must be >= 1"),
                                  ("staleness", -1, "staleness must be >= 0")]:
        with pytest.raises(ConfigError, match=message):
            RunConfig(**{field: value}).validate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_vllm_backend_without_a_gpu_is_one_line_before_any_model_load(tmp_path, capsys):
    assert main(["run", "--policy-backend", "vllm", "--out-dir", str(tmp_path), "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a GPU and the vllm extra" in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused before building or loading a model


# ------------------------------------------------------------------------------ slow: real runs
@pytest.mark.slow
def test_same_seed_same_answers_log_in_the_local_and_the_ray_runtime(tmp_path, sft_cache, ray_cluster):
    local = run(small_config(tmp_path, sft_cache, run_name="local"), log=lambda _: None)
    ray_run = run(small_config(tmp_path, sft_cache, run_name="ray", runtime="ray", actors=2, oracles=2),
                  log=lambda _: None)
    rows = log_rows(tmp_path / "local", "local")
    assert len(rows) == 96 and {r[0] for r in rows} == {0, 1, 2}
    assert log_rows(tmp_path / "ray", "ray") == rows  # winners, texts and token ids, in order
    assert ray_run["curve"] == local["curve"]  # the evaluations saw the same (synced) weights
    losses = [[r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl") if "loss" in r]
              for name in ("local", "ray")]
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)


@pytest.mark.slow
def test_ray_runtime_passes_the_end_to_end_test(tmp_path, sft_cache, ray_cluster):
    """tests/e2e/test_dpo_learns.py's online run and assertions, with actors, oracles and learner on Ray."""
    config = small_config(tmp_path, sft_cache, run_name="online", budget=384, eval_every=4, num_eval_prompts=96,
                          threads=0, runtime="ray", actors=2, oracles=1)
    summary = run(config, log=lambda _: None)
    assert summary["queries"] == 384
    assert summary["initial_win_rate"] == 0.5
    assert summary["final_win_rate"] > 0.6, summary["curve"]
    assert summary["final_reward"] > summary["initial_reward"]
    run_dir = tmp_path / "online"
    for name in ("config.yaml", "metrics.jsonl", "feedback.sqlite", "winrate.png", "summary.json",
                 "checkpoints/last.pt", "policy/config.json"):
        assert (run_dir / name).exists(), name
    steps = [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
    assert len(steps) == 384 // 32 and all(r["queries"] == 32 * (k + 1) for k, r in enumerate(steps))


@pytest.mark.slow
def test_staleness_one_samples_the_next_batch_with_the_previous_weights(tmp_path, sft_cache, ray_cluster):
    # A large step so that one update visibly changes what the policy samples.
    settings = dict(budget=64, eval_every=100, num_eval_prompts=8, lr=5e-3, warmup_steps=1)
    run(small_config(tmp_path, sft_cache, run_name="fresh", **settings), log=lambda _: None)
    run(small_config(tmp_path, sft_cache, run_name="stale", runtime="ray", staleness=1, **settings),
        log=lambda _: None)
    fresh, stale = log_rows(tmp_path / "fresh", "fresh"), log_rows(tmp_path / "stale", "stale")
    assert [r for r in stale if r[0] == 0] == [r for r in fresh if r[0] == 0]  # batch 0: no update yet
    # Batch 1 was sampled before update 1 reached the actors: by the initial policy.
    config = small_config(tmp_path, sft_cache, **settings)
    policy_path = ensure_sft_policy(sft_cache, BootstrapSpec(sft_steps=TEST_SFT_STEPS))
    initial = Actor(load_policy(config, str(policy_path)), config.num_candidates, config.temperature, config.top_p,
                    config.max_new_tokens, config.seed)
    order = PromptOrder(load_prompts(config)[0], config.batch_size, config.seed)
    by_prompt = {group[0].prompt.text: {c.text for c in group} for group in initial.sample(order.batch(1), 1)}
    assert all({r[4], r[5]} <= by_prompt[r[1]] for r in stale if r[0] == 1)
    assert any(not {r[4], r[5]} <= by_prompt[r[1]] for r in fresh if r[0] == 1)  # on-policy: updated weights


def test_xpo_on_ray_asks_and_learns_as_it_does_locally(tmp_path, tiny_policy_folder, ray_cluster):
    """XPO's reference samples: each Ray actor worker draws them from its own frozen copy of the initial
    policy, marked ``Candidate.source == "reference"``, and the learner worker puts XPO's bonus on them."""
    from sealign.recipes import REGISTRY

    settings = dict(REGISTRY["xpo"].settings, out_dir=str(tmp_path), policy=str(tiny_policy_folder), budget=24,
                    batch_size=8, max_new_tokens=6, num_train_prompts=64, num_eval_prompts=4, eval_every=100,
                    threads=1)
    run(RunConfig(**settings, run_name="local"), log=lambda _: None)
    run(RunConfig(**settings, run_name="ray", runtime="ray", actors=2), log=lambda _: None)
    assert log_rows(tmp_path / "ray", "ray") == log_rows(tmp_path / "local", "local")
    losses = [[r[key] for r in read_metrics(tmp_path / name / "metrics.jsonl") if "loss" in r
               for key in ("loss", "logps/ref_sample")] for name in ("local", "ray")]
    # Had the queried b not reached the learner as its reference sample, it would have drawn its own.
    assert len(losses[0]) == 2 * 3 and losses[1] == pytest.approx(losses[0], abs=1e-6)


def test_live_features_travel_from_the_ray_actors_with_their_candidates(tmp_path, sft_cache, ray_cluster,
                                                                         monkeypatch):
    from sealign.exploration.features import BackboneFeatures

    passes = []
    monkeypatch.setattr(BackboneFeatures, "__call__", lambda self, candidates: passes.append(len(candidates)))
    config = small_config(tmp_path, sft_cache, run_name="live", runtime="ray", explorer="sea-ee",
                          explore_features="live", explore_heads=4, budget=64, eval_every=100, num_eval_prompts=8)
    run(config, log=lambda _: None)
    buffers = [r["explore/rm/buffer"] for r in read_metrics(tmp_path / "live" / "metrics.jsonl")
               if "explore/rm/buffer" in r]
    assert buffers == [32, 64]
    assert passes == []  # every candidate came with its features: the driver ran no feature pass
