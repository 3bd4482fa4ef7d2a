"""The study's fair-baseline machinery (issue 25): round-based curves held, savings on the reward curve,
what a run paid (updates, identical pairs), distinct passive pairs, gap-seeking and headroom rules, the
query grid. Hand-computed values throughout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from sealign import compare, curves
from sealign.collect import drop_identical_pairs
from sealign.config import RunConfig
from sealign.exploration import delta_ucb, drts, headroom, passive
from sealign.exploration.base import Query
from sealign.loop_state import LoopState
from sealign.schedules import OnlineSchedule
from sealign.types import Candidate, Prompt

OFFLINE_GRID = [0, 768]


# ------------------------------------------------------------------ reading round-based curves
def test_a_round_based_curve_reaches_a_value_only_where_a_round_trained():
    # offline DPO: the SFT policy (0.5) deployed until its only round trains at 768
    xs, ys = [0, 768], [0.5, 0.85]
    assert curves.queries_to_reach(xs, ys, 0.8) == pytest.approx(0.3 / 0.35 * 768)  # online reading: too early
    assert curves.queries_to_reach(xs, ys, 0.8, hold=True) == 768.0
    iterative = ([0, 256, 512, 768], [0.5, 0.6, 0.7, 0.9])
    assert curves.queries_to_reach(*iterative, 0.65, hold=True) == 512.0
    assert curves.queries_to_reach(*iterative, 0.5, hold=True) == 0.0
    assert curves.queries_to_reach(*iterative, 0.95, hold=True) is None


def test_the_saving_of_an_offline_run_is_never_above_one_against_a_run_that_got_there_within_its_budget():
    online = ([0, 256, 512, 768], [0.5, 0.7, 0.8, 0.8])  # first reaches 0.8 at 512
    offline = (OFFLINE_GRID, [0.5, 0.85])
    assert curves.query_saving(online, offline, preset_hold=True) == (512 / 768, True)
    # read on the straight line, offline would "reach" 0.8 at ~658 queries
    assert curves.query_saving(online, offline)[0] > 512 / 768


def make_run(runs_dir, name, seed, schedule, points, batch_size=32, step_records=()):
    run_dir = runs_dir / f"{name}-s{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"preset": name, "seed": seed, "schedule": schedule, "batch_size": batch_size}))
    lines = [*step_records] + [{"step": 0, "queries": q, "eval/win_rate": w, "eval/reward": r} for q, w, r in points]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run_dir / "summary.json").write_text(json.dumps({"preset": name, "wall_time_s": 1.0}))
    return run_dir


def test_compare_holds_an_offline_run_and_reads_the_saving_on_the_reward_too(tmp_path):
    runs = []
    for seed in range(2):
        runs.append(("online", make_run(tmp_path, "online", seed, "online",
                                        [(0, 0.5, 0.1), (384, 0.8, 0.3), (768, 0.8, 0.4)])))
        runs.append(("offline", make_run(tmp_path, "offline", seed, "offline", [(0, 0.5, 0.1), (768, 0.9, 0.5)])))
    results = compare.summarise(runs)
    offline = next(r for r in results if r.preset == "offline")
    assert offline.to_reach[0.6] == [768.0, 768.0]  # not interpolated between 0 and 768
    [c] = compare.compare_to_baseline(results, "online")
    assert c.saving.estimate == pytest.approx(384 / 768)
    assert c.reward_saving.estimate == pytest.approx(768 / 768)  # online first reaches 0.4 at its end
    compare.write_report(results, tmp_path, "cmd", False, [c])
    text = (tmp_path / "comparison.md").read_text()
    assert "query saving (reward)" in text and "round-based run's at the first evaluation" in text


def test_run_costs_count_updates_small_steps_and_paid_duplicates(tmp_path):
    steps = [
        {"step": 0, "queries": 32, "answers/skipped": 0, "answers/identical_pair": 0.25, "loss": 0.6,
         "learn/pairs": 24},
        {"step": 1, "queries": 55, "answers/skipped": 3, "answers/identical_pair": 0.0, "loss": 0.5,
         "learn/pairs": 20, "answers/identical_not_asked": 2},
        {"step": 2, "queries": 64, "answers/skipped": 0, "answers/identical_pair": 0.0, "loss": 0.5,
         "learn/pairs": 9},
    ]
    run_dir = make_run(tmp_path, "x", 0, "online", [(64, 0.6, 0.2)], step_records=steps)
    costs = curves.run_costs(run_dir, batch_size=32)
    assert costs.queries == 64 and costs.updates == 3
    assert costs.updates_per_query == pytest.approx(3 / 64)
    assert costs.pairs_per_update == pytest.approx(53 / 3)
    assert costs.small_updates == 1  # 9 < 16
    assert costs.identical_asked == pytest.approx(8 / (32 + 20 + 9))  # 0.25 of step 0's 32 answers
    assert costs.identical_not_asked == 2


# ------------------------------------------------------------------ the pairs asked
def candidates_of(texts, prompt="post"):
    p = Prompt("p", prompt)
    return [Candidate(p, torch.tensor([1]), torch.tensor([k]), t) for k, t in enumerate(texts)]


def test_passive_asks_only_about_distinct_texts_and_skips_a_prompt_of_one_text():
    group = candidates_of(["a", "a", "b", "a"])
    explorer = passive.PassiveExplorer()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        [[query]] = explorer.select([group], rng)
        assert query.a.text != query.b.text
        seen.add((group.index(query.a), group.index(query.b)))
    assert seen == {(0, 2), (1, 2), (2, 3)}  # every distinct pair, and only those
    assert explorer.select([candidates_of(["a", "a"])], rng) == [[]]
    # the control of earlier versions pays for duplicates
    anyone = passive.PassiveExplorer(distinct=False)
    assert any(q.a.text == q.b.text for _ in range(50) for [q] in anyone.select([group], rng))


def test_identical_pairs_are_dropped_before_asking():
    group = candidates_of(["a", "a", "b"])
    queries = [[Query(group[0], group[1])], [Query(group[0], group[2])], []]
    kept, dropped = drop_identical_pairs(queries)
    assert kept == [[], [Query(group[0], group[2])], []] and dropped == 1


# K = 2 heads over M = 3 candidates
GAP = torch.tensor([[2.0, 0.0, 1.0],
                    [0.0, 1.0, -1.0]])


class Order:
    def __init__(self, order):
        self.order = order

    def permutation(self, n):
        return np.array(self.order)

    def integers(self, n):
        return 0


def test_double_reverse_thompson_sampling_pairs_one_heads_best_with_anothers_worst():
    assert drts.select_pair(GAP, Order([0, 1])) == (0, 2)  # head 0's best (0), head 1's worst (2)
    # head 1's best (1) is head 0's worst too: a random other candidate (the stand-in rng draws 0)
    assert drts.select_pair(GAP, Order([1, 0])) == (1, 0)
    # every tried head's worst is the first's best: a random other candidate
    same = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    assert drts.select_pair(same, Order([0, 1]))[0] == 2 and drts.select_pair(same, Order([0, 1]))[1] != 2


def test_delta_ucb_picks_the_largest_optimistic_gap():
    # mean [1, 0.5, 0], spread [1, 0.5, 1]: U[i, j] = (mu_i + s_i) - (mu_j - s_j)
    bounds = delta_ucb.gap_upper_bounds(GAP)
    assert bounds[0, 2] == pytest.approx(2 - (-1))
    assert bounds[2, 0] == pytest.approx(1 - 0)
    assert bounds[0, 1] == pytest.approx(2 - 0)
    assert torch.isinf(bounds.diagonal()).all()
    assert delta_ucb.select_pair(GAP) == (0, 2)
    assert delta_ucb.select_pair(GAP, beta=0.0) == (0, 2)  # the mean gap alone: 1 - 0


def test_headroom_references_pick_the_largest_and_the_smallest_true_gap():
    rewards = {"w": 0.0, "x": 0.9, "y": 0.5, "z": 0.45}
    group = candidates_of(["w", "x", "y", "z", "y"])
    fn = lambda prompt, text: rewards[text]  # noqa: E731
    [[widest]] = headroom.TrueRewardReference(fn, largest=True).select([group], None)
    assert (widest.a.text, widest.b.text) == ("w", "x")
    [[closest]] = headroom.TrueRewardReference(fn, largest=False).select([group], None)
    assert (closest.a.text, closest.b.text) == ("y", "z")  # never the two identical "y"
    assert headroom.TrueRewardReference(lambda p, t: None, True).select([group], None) == [[]]


# ------------------------------------------------------------------ the query grid
class Parts:
    class prompt_order:
        prompts = []


def test_the_query_grid_cuts_a_step_to_land_on_it_and_evaluates_once_there():
    config = RunConfig(budget=768, batch_size=32, eval_every_queries=128)
    schedule = OnlineSchedule.__new__(OnlineSchedule)
    schedule.config, schedule.evaluated_at = config, None
    state = LoopState(step=5, queries=115)  # five steps of 23
    assert schedule.query_limit(state) == 128
    calls = []
    state.queries = 128
    schedule.end_step(state, lambda: calls.append(state.queries))
    state.step += 1
    schedule.end_step(state, lambda: calls.append(state.queries))  # a step that spent nothing
    assert calls == [128]
    assert schedule.query_limit(state) == 256
    state.queries = 760
    assert schedule.query_limit(state) == 768  # never past the budget
    steps = RunConfig(budget=768, eval_every=4)
    by_steps = OnlineSchedule.__new__(OnlineSchedule)
    by_steps.config, by_steps.evaluated_at = steps, None
    assert by_steps.query_limit(LoopState(step=1, queries=32)) == 768


def test_the_true_reward_and_the_preference_encoder_are_the_built_in_tasks_only():
    from sealign.errors import ConfigError
    from sealign.explorer_inputs import resolve_features, true_reward

    own_prompts = RunConfig(explorer="headroom-max-gap", prompts="my_prompts.jsonl")
    with pytest.raises(ConfigError, match="--reward-fn"):
        true_reward(own_prompts)
    fn = true_reward(RunConfig(explorer="headroom-max-gap"))["reward_fn"]
    assert callable(fn)
    assert resolve_features(RunConfig()) == RunConfig()  # nothing to resolve
    with pytest.raises(ConfigError, match="preference model"):
        resolve_features(RunConfig(explore_features="pairwise", task="tldr-hard"))


def test_settings_tuned_on_the_built_in_policy_apply_to_it_only_and_never_over_a_users_choice():
    from sealign.cli import builtin_tuned

    assert builtin_tuned(RunConfig(), {"lr": 6e-4}, set()).lr == 6e-4
    assert builtin_tuned(RunConfig(lr=1e-4), {"lr": 6e-4}, {"lr"}).lr == 1e-4  # a flag or the YAML chose it
    pretrained = RunConfig(policy="smollm2-135m", lr=1e-3)
    assert builtin_tuned(pretrained, {"lr": 6e-4}, set()).lr == 1e-3  # its own defaults follow the model
