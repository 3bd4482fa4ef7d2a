"""A schedule declares whether and when it changes the policy (``SCHEDULE_TRAITS``); config's rules, the
run's summary.json, ``curves``, ``compare`` and ``plot`` read that, never the schedule's name. A schedule
registered here, as docs/extending.md's ``halfway`` would be, is scored and drawn as it declares. And the
query grid an online schedule lands its evaluations on (``--eval-every-queries``)."""

from __future__ import annotations

import inspect
import json
import typing

import pytest
import yaml

from sealign.analysis import compare, curves, plot
from sealign.analysis.summary import summarise
from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.records.feedback_log import FeedbackLog
from sealign.run.loop_state import LoopState
from sealign.run.schedule_settings import SCHEDULE_TRAITS, ScheduleSettings, ScheduleTraits
from sealign.run.schedules import SCHEDULES, OnlineSchedule, RoundSchedule

GRID = [0, 256, 512, 768]
CURVE = [0.5, 0.6, 0.7, 0.9]


class HalfwayEvalSchedule(OnlineSchedule):
    """docs/extending.md's example: learn online, evaluate only when the budget is half spent."""

    def end_step(self, state, evaluate):
        if state.queries >= self.config.budget // 2 > state.queries - self.config.batch_size:
            evaluate()


@pytest.fixture
def new_schedules(monkeypatch):
    """Two schedules no module knows by name: one that learns per step, one that trains in rounds."""
    monkeypatch.setitem(SCHEDULES, "halfway", HalfwayEvalSchedule)
    monkeypatch.setitem(SCHEDULE_TRAITS, "halfway", ScheduleTraits(policy_changes="per-step", learns_online=True))
    monkeypatch.setitem(SCHEDULES, "pairs-of-rounds", RoundSchedule)
    monkeypatch.setitem(SCHEDULE_TRAITS, "pairs-of-rounds",
                        ScheduleTraits(policy_changes="per-round", learns_online=False))


def make_run(runs_dir, schedule, seed, recorded: bool):
    """A finished run of ``schedule``; ``recorded``: its summary.json names the traits (else an older run's,
    read by its schedule's name in config.yaml)."""
    run_dir = runs_dir / f"{schedule}-s{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"preset": schedule, "seed": seed, "schedule": schedule}))
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": k, "queries": q, "eval/win_rate": w}) + "\n" for k, (q, w) in enumerate(zip(GRID, CURVE))))
    summary = {"preset": schedule, "wall_time_s": 1.0}
    if recorded:
        traits = SCHEDULE_TRAITS[schedule]
        summary |= {"schedule": schedule, "policy_changes": traits.policy_changes,
                    "learns_online": traits.learns_online}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_every_schedule_name_has_a_class_and_traits_and_the_classes_are_built_alike():
    names = typing.get_args(typing.get_type_hints(ScheduleSettings)["schedule"])
    assert set(names) == set(SCHEDULES) == set(SCHEDULE_TRAITS)
    for cls in set(SCHEDULES.values()):
        assert list(inspect.signature(cls).parameters) == ["config", "parts", "feedback", "metrics", "log"]
    assert SCHEDULE_TRAITS["online"] == ScheduleTraits("per-step", learns_online=True)
    assert {SCHEDULE_TRAITS[n].policy_changes for n in ("iterative", "offline")} == {"per-round"}


@pytest.mark.parametrize("recorded", [True, False], ids=["summary.json", "config.yaml name"])
def test_a_new_schedule_is_scored_and_drawn_as_its_traits_declare(tmp_path, new_schedules, recorded):
    stepped = [make_run(tmp_path, "halfway", seed, recorded) for seed in range(2)]
    held = [make_run(tmp_path, "pairs-of-rounds", seed, recorded) for seed in range(2)]
    assert [curves.holds_between_evaluations(d) for d in stepped + held] == [False, False, True, True]
    assert [plot.trains_in_rounds(d) for d in stepped + held] == [False, False, True, True]

    results = {r.preset: r for r in compare.summarise(stepped + held)}
    assert results["halfway"].holds == [False, False] and results["pairs-of-rounds"].holds == [True, True]
    trapezoids = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(GRID, GRID[1:], CURVE, CURVE[1:])) / 768
    steps = sum((x1 - x0) * y0 for x0, x1, y0 in zip(GRID, GRID[1:], CURVE)) / 768
    assert results["halfway"].auc == [pytest.approx(trapezoids)] * 2
    assert results["pairs-of-rounds"].auc == [pytest.approx(steps)] * 2
    assert results["halfway"].to_reach[0.8] == [pytest.approx(640.0)] * 2  # on the line from 512 to 768
    assert results["pairs-of-rounds"].to_reach[0.8] == [768.0] * 2  # where the round that has it trained

    figure = plot.curve_figure(stepped + held)
    styles = [line.get_drawstyle() for line in figure.axes[0].get_lines() if len(line.get_xdata()) == len(GRID)]
    assert styles == ["default", "default", "steps-post", "steps-post"]


def test_the_recorded_traits_win_over_the_schedule_name(tmp_path):
    run_dir = make_run(tmp_path, "online", 0, recorded=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps(summary | {"policy_changes": "per-round"}))
    assert curves.holds_between_evaluations(run_dir) and plot.trains_in_rounds(run_dir)


def test_summary_json_records_the_schedule_traits(tmp_path, new_schedules):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": k, "queries": q, "eval/win_rate": w}) + "\n" for k, (q, w) in enumerate(zip(GRID, CURVE))))
    for name, (changes, online) in {"pairs-of-rounds": ("per-round", False), "halfway": ("per-step", True)}.items():
        feedback = FeedbackLog(tmp_path / f"{name}.sqlite", run_id=name)
        summary = summarise(RunConfig(schedule=name), run_dir, feedback, wall=1.0)
        feedback.close()
        written = json.loads((run_dir / "summary.json").read_text())
        assert summary["policy_changes"] == written["policy_changes"]
        assert (written["schedule"], written["policy_changes"], written["learns_online"]) == (name, changes, online)


def test_the_rules_for_what_acts_between_online_steps_ask_whether_the_schedule_learns_online(new_schedules):
    RunConfig(schedule="halfway", erm_sync=0.3, explorer="sea-ee").validate()
    RunConfig(schedule="halfway", learn_policy=False).validate()
    with pytest.raises(ConfigError, match="erm_sync .* needs --schedule online or halfway .got 'pairs-of-rounds'"):
        RunConfig(schedule="pairs-of-rounds", erm_sync=0.3, explorer="sea-ee").validate()
    with pytest.raises(ConfigError, match="learn_policy false .* needs --schedule online or halfway"):
        RunConfig(schedule="pairs-of-rounds", learn_policy=False).validate()


def test_a_schedule_without_traits_is_refused_by_name():
    with pytest.raises(ConfigError, match="unknown schedule 'nightly'; choose one of: iterative, offline, online"):
        RunConfig(schedule="nightly").validate()


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
