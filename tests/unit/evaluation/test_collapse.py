"""A run that degenerates says so (issue 26): empty, repeated or endless answers, or a KL far out, in one
line at the evaluation that sees it, as eval/collapse flags in metrics.jsonl and in summary.json; with
--stop-on-collapse the run ends there, its summary written."""

import math

import pytest

from sealign.run.collapse import ANSWER_STATS, KL_LIMIT, CollapseWatch, answer_stats, collapse_signs


def endless(i: int) -> str:
    """40 different words: an answer that runs on without repeating itself."""
    return " ".join(chr(97 + (i + j) % 26) * (1 + j // 26) for j in range(40))


HEALTHY = answer_stats([f"answer number {i} about dogs" for i in range(16)], [True] * 12 + [False] * 4)


def test_answer_statistics():
    stats = answer_stats(["a b c", "", "a b c", "d"], [True, True, False, True])
    assert stats == {"words_per_answer": 1.75, "empty_share": 0.25, "distinct_share": 0.75, "looping_share": 0.0,
                     "eos_share": 0.75}
    assert tuple(stats) == ANSWER_STATS  # what the loop reads back from each evaluation's metrics
    looping = answer_stats(["big vacuum big vacuum big vacuum big", "1. Big 2. Vacuum 3. Big 4. Vacuum 5. Big",
                            "a dog runs in the park every morning"], None)
    assert looping["looping_share"] == pytest.approx(2 / 3)
    assert math.isnan(answer_stats(["x"], None)["eos_share"])


@pytest.mark.parametrize("texts,ended,kl,signs", [
    ([""] * 16, [True] * 16, None, {"empty", "repeated"}),
    (["Sure."] * 16, [True] * 16, None, {"repeated"}),
    ([endless(i) for i in range(16)], [False] * 16, None, {"no_eos"}),
    ([f"dogs {i} like bones and dogs like bones and dogs like bones" for i in range(16)], [True] * 16, None,
     {"looping"}),
    ([f"answer number {i} about dogs" for i in range(16)], [True] * 16, 48.0, {"kl"}),
    ([f"answer number {i} about dogs" for i in range(16)], [True] * 16, -KL_LIMIT, set()),  # at the limit
    ([f"short {i}" for i in range(16)], [True] * 16, 2.0, set()),  # shorter answers are no collapse
])
def test_each_sign_against_the_starting_models_answers(texts, ended, kl, signs):
    assert set(collapse_signs(answer_stats(texts, ended), HEALTHY, len(texts), kl)) == signs


def test_a_model_that_was_always_so_is_not_flagged_nor_are_a_few_answers():
    never_ends = answer_stats(["long " * 30] * 2 + [f"long {i} " * 30 for i in range(14)], [False] * 16)
    assert collapse_signs(never_ends, never_ends, 16, None) == {}
    assert collapse_signs(answer_stats([""] * 4, [True] * 4), HEALTHY, 4, None) == {}  # under MIN_ANSWERS


def test_the_watch_says_one_line_and_takes_the_kl_of_the_steps_since_the_last_evaluation():
    lines: list[str] = []
    watch = CollapseWatch(lines.append)
    for kl in (40.0, 60.0, float("nan")):
        watch.observe({"kl": kl, "loss": 0.1})
    empty = answer_stats([""] * 16, [True] * 16)
    metrics = watch.check(empty, HEALTHY, 16, queries=192, stops=False)
    assert metrics["eval/collapse"] == 1.0 and metrics["eval/kl"] == 50.0
    assert {k: v for k, v in metrics.items() if k.startswith("eval/collapse/")} == {
        "eval/collapse/empty": 1.0, "eval/collapse/repeated": 1.0, "eval/collapse/looping": 0.0,
        "eval/collapse/no_eos": 0.0, "eval/collapse/kl": 1.0}
    assert lines == ["collapse at 192 queries: 100% of answers empty (start 0%); 1 distinct answers of 16 (start 16); "
                     "KL 50.0 nats (limit 30); --stop-on-collapse would stop the run here"]
    assert watch.check(HEALTHY, HEALTHY, 16, queries=200, stops=True) == {
        "eval/collapse": 0.0, "eval/collapse/empty": 0.0, "eval/collapse/repeated": 0.0,
        "eval/collapse/looping": 0.0, "eval/collapse/no_eos": 0.0,
        "eval/collapse/kl": 0.0}  # the KL was taken: none since
    assert len(lines) == 1


def collapsing_evaluator(monkeypatch, after: int):
    """From the ``after``-th call on (the 1st is the starting model's answers), every answer is empty."""
    from sealign.run.eval import WinRateEvaluator

    real, calls = WinRateEvaluator.responses, []

    def responses(self):
        texts = real(self)
        calls.append(1)
        if len(calls) >= after:
            self.last_ended = [True] * len(texts)
            return [""] * len(texts)
        return texts

    monkeypatch.setattr(WinRateEvaluator, "responses", responses)


def test_a_resumed_run_takes_up_the_kl_of_the_steps_logged_since_the_last_evaluation():
    records = [{"step": 0, "eval/win_rate": 0.5}, {"step": 1, "kl": 10.0}, {"step": 2, "eval/win_rate": 0.6},
               {"step": 3, "kl": 40.0}, {"step": 4, "kl": 50.0}]
    watch = CollapseWatch(lambda line: None)
    watch.catch_up(records)
    assert watch.check(HEALTHY, HEALTHY, 16, queries=40, stops=False)["eval/kl"] == 45.0
