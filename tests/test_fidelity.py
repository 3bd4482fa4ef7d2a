"""The fixes of the correctness reviews (issues 12 and 24), each pinned by a test
that fails on the code before the fix: B1-B3, D1-D8, W2-W5, and the run-directory lock."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sealign import model_labels
from sealign.cli import resolve_config
from sealign.compare import area_under_curve
from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.eval import WinRateEvaluator
from sealign.exploration.base import queries_of
from sealign.exploration.epistemic_explorer import EpistemicExplorer
from sealign.exploration.epistemic_reward import EpistemicRewardModel
from sealign.oracles.base import Verdict
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.run_lock import run_lock
from sealign.types import Candidate, Comparison, PreferenceBatch, Prompt
from tests.conftest import index_pairs


# ----------------------------------------------------------------------------- the run-directory lock
def test_a_locked_run_directory_refuses_a_second_holder_naming_the_first(tmp_path):
    holder = f"in use by another sealign process \\(pid {os.getpid()}\\)"
    with run_lock(tmp_path / "run"), pytest.raises(UserError, match=holder), run_lock(tmp_path / "run"):
        pass
    with run_lock(tmp_path / "run"):  # released on exit
        pass


def test_a_second_process_resuming_a_running_run_exits_at_once_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("seed: 0\n")
    with run_lock(run_dir):
        done = subprocess.run([sys.executable, "-m", "sealign.cli", "run", "--resume", str(run_dir)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and f"pid {os.getpid()}" in lines[0], done.stderr


# ----------------------------------------------------------------------------- B3, N4: refused, not ignored
@pytest.mark.parametrize("settings, message", [
    (dict(schedule="iterative", erm_sync=0.3, explorer="sea-ee"), "erm_sync .* needs --schedule online"),
    (dict(schedule="offline", loss="reinforce", policy_signal="reward-model"), "needs --schedule online"),
    (dict(schedule="iterative", learn_policy=False), "learn_policy false .* needs --schedule online"),
    (dict(schedule="iterative", round_reference="last", lora_r=8), "LoRA"),
    (dict(explorer="xpo"), "--reference-candidates 1"),
    (dict(reference_candidates=1, policy_backend="vllm"), "needs --policy-backend hf"),
])
def test_settings_a_schedule_would_ignore_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**settings).validate()


# ----------------------------------------------------------------------------- D1, D2: the recipes
def tiny_preset_config(preset: str, tmp_path, policy_folder, *flags: str) -> RunConfig:
    """``--preset preset`` on the tiny policy: a run of seconds."""
    return resolve_config(["--preset", preset, "--policy", str(policy_folder), "--out-dir", str(tmp_path),
                           "--run-name", preset, "--batch-size", "8", "--max-new-tokens", "6",
                           "--num-train-prompts", "64", "--num-eval-prompts", "4", "--threads", "1", *flags])


def test_periodic_restarts_each_period_from_the_initial_policy(tmp_path, tiny_policy_folder, monkeypatch):
    from sealign.learner import PreferenceLearner
    from sealign.loop import run

    weights = lambda learner: {k: v.detach().clone() for k, v in learner.policy.model.state_dict().items()}  # noqa: E731
    starts, ends = [], []
    train_epochs = PreferenceLearner.train_epochs

    def watched(self, *args, **kwargs):
        starts.append(weights(self))
        result = train_epochs(self, *args, **kwargs)
        ends.append(weights(self))
        return result

    monkeypatch.setattr(PreferenceLearner, "train_epochs", watched)
    run(tiny_preset_config("periodic", tmp_path, tiny_policy_folder, "--budget", "32"), log=lambda _: None)
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert len(starts) == 4  # one training per period
    assert all(not same(start, end) for start, end in zip(starts, ends))  # each period trains ...
    assert all(same(start, starts[0]) for start in starts[1:])  # ... from the initial weights, not the last


def test_xpo_queries_a_policy_sample_against_a_reference_sample(tiny_policy, monkeypatch):
    import copy

    from sealign.actor import Actor
    from sealign.exploration import build_explorer

    config = resolve_config(["--preset", "xpo"])
    reference = copy.deepcopy(tiny_policy.model)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p))  # a reference that samples differently from the policy
    origin: dict[tuple, set[str]] = {}
    generate = tiny_policy.generate

    def tagged(prompt_ids, *args, model=None, **kwargs):
        groups = generate(prompt_ids, *args, model=model, **kwargs)
        for response in (r for group in groups for r in group):
            origin.setdefault(tuple(response), set()).add("reference" if model is reference else "policy")
        return groups

    monkeypatch.setattr(tiny_policy, "generate", tagged)
    actor = Actor(tiny_policy, config.num_candidates, 1.0, 1.0, 6, seed=0,
                  reference_candidates=config.reference_candidates, reference=reference)
    prompts = [Prompt(str(k), text) for k, text in enumerate(["the cat", "a dog", "my friend went", "we"])]
    groups = actor.sample(prompts, step=3)
    queries = build_explorer(config, tiny_policy).select(groups, np.random.default_rng(0))
    assert [len(qs) for qs in queries] == [1] * len(prompts)
    for (query,) in queries:
        assert origin[tuple(query.a.token_ids)] == {"policy"} and origin[tuple(query.b.token_ids)] == {"reference"}


def group_of(texts: list[str], prompt: str = "p") -> list[Candidate]:
    p = Prompt(prompt, prompt)
    return [Candidate(p, [1], list(text.encode()), text) for text in texts]  # same text, same tokens


def answer(a: Candidate, b: Candidate, winner: str) -> Comparison:
    return Comparison(id=a.text + b.text, run_id="t", step=0, prompt=a.prompt, a=a, b=b, winner=winner,
                      prob_a=None, oracle="test")


def test_xpo_bonus_sample_is_the_queried_reference_response_whichever_side_wins():
    policy_sample, reference_sample = group_of(["mine", "ref"])
    reference_sample.source = "reference"  # as the actor marks its reference_candidates
    batch = PreferenceBatch.from_comparisons(
        [answer(policy_sample, reference_sample, "a"), answer(policy_sample, reference_sample, "b"),
         answer(policy_sample, reference_sample, "tie")])
    assert len(batch) == 2 and batch.ref_sample_ids == [list(b"ref")] * 2
    assert batch.chosen_ids == [list(b"mine"), list(b"ref")]
    # Policy samples only, or some pairs without a reference sample: none (the learner samples its own).
    other = group_of(["other"])[0]
    assert PreferenceBatch.from_comparisons([answer(policy_sample, other, "a")]).ref_sample_ids is None
    assert PreferenceBatch.from_comparisons([answer(policy_sample, reference_sample, "a"),
                                             answer(policy_sample, other, "a")]).ref_sample_ids is None


def test_identical_responses_never_reach_the_learner():
    same, other = group_of(["same", "other"])
    twin = Candidate(same.prompt, same.prompt_ids, same.token_ids, same.text)
    batch = PreferenceBatch.from_comparisons([answer(same, twin, "a"), answer(same, other, "b")])
    assert batch.chosen_ids == [other.token_ids] and batch.rejected_ids == [same.token_ids]


def test_actor_samples_the_last_candidates_from_the_reference(tiny_policy):
    import copy

    from sealign.actor import Actor
    from sealign.policy.hf import HFPolicy

    reference = copy.deepcopy(tiny_policy.model)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p))  # a reference that samples differently from the policy
    actor = Actor(tiny_policy, 3, 1.0, 1.0, 6, seed=0, reference_candidates=1, reference=reference)
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    groups = actor.sample(prompts, step=4)
    twin = HFPolicy(reference, tiny_policy.tokenizer, device="cpu")
    from sealign.actor import row_seed

    expected = twin.generate(tiny_policy.encode_prompts([p.text for p in prompts]), n=1, temperature=1.0,
                             max_new_tokens=6, seeds=[row_seed(0, 4, 2 << 32 | i) for i in range(2)])
    assert [g[-1].token_ids for g in groups] == [e[0] for e in expected]
    assert all(len(g) == 3 for g in groups)
    assert [[c.source for c in g] for g in groups] == [["policy", "policy", "reference"]] * 2


# ----------------------------------------------------------------------------- D3: ERM sync replaces queries
class HeadScores:
    """An explorer stand-in with fixed per-head scores by response text: ``[K]`` per text."""

    def __init__(self, scores: dict[str, list[float]]):
        self.scores = scores

    def head_scores(self, candidates):
        return torch.tensor([self.scores[c.text] for c in candidates]).T


@pytest.mark.parametrize("seed, asked", [
    (0, [None, None, (0, 1), (0, 1)]),  # draws p0, p1, p2; p2's responses are one text, so it is asked as usual
    (4, [None, None, (0, 1), None]),  # draws p0, p1, p3
])
def test_erm_sync_labels_a_share_of_prompts_instead_of_asking_with_one_heads_largest_margin(seed, asked):
    scores = {"a": [0.0, 0.0], "b": [1.0, 1.0], "c": [-2.0, -2.0], "d": [0.5, 0.5]}
    candidates = [group_of(["a", "b", "c"], "p0"), group_of(["a", "d", "a"], "p1"),
                  group_of(["b", "b", "b"], "p2"), group_of(["c", "d", "a"], "p3")]
    queried = queries_of(candidates, [(0, 1), (0, 1), (0, 1), (0, 1)])
    queries, labels = model_labels.replace_with_model_labels(
        HeadScores(scores), candidates, queried, 0.75, np.random.default_rng(seed), step=7, run_id="r")
    # floor(0.75 * 4) = 3 prompts drawn, each labelled instead of asked unless its responses are all one text
    assert [index_pairs([g], [qs])[0] for g, qs in zip(candidates, queries)] == asked
    # each label is the largest margin among distinct texts: p0 b (1.0) vs c (-2.0); p1 a (0.0) vs d (0.5)
    expected = {"p0": {"b", "c"}, "p1": {"a", "d"}, "p3": {"c", "d"}}
    drawn = {f"p{row}" for row, pair in enumerate(asked) if pair is None}
    assert {label.prompt.text: {label.a.text, label.b.text} for label in labels} == {
        prompt: pair for prompt, pair in expected.items() if prompt in drawn}
    for label in labels:
        assert label.source == model_labels.SOURCE and label.step == 7
        assert label.winner == ("a" if scores[label.a.text][0] > scores[label.b.text][0] else "b")


# ----------------------------------------------------------------------------- D4: the uncertainty measure
def test_uncertainty_measure_prob_and_logit_pick_as_the_review_computed():
    from sealign.exploration import sea_bai, uncertainty
    from sealign.exploration.rules import logit_variance

    rewards = torch.tensor([[20.0, 10.0, 19.0], [20.0, 0.0, 21.0]])
    # the probability variance of (0, 2) is 0.053, of (1, 2) 4e-9: the heads agree that 1 loses to 2
    assert uncertainty.select_pair(rewards) == (0, 2)
    assert logit_variance(rewards)[0].tolist() == [0.0, 25.0, 1.0]

    class Head0:
        def integers(self, n):
            return 0

    assert sea_bai.select_pair(rewards, Head0()) == (0, 2)  # prob: the answer about 1 is certain
    assert sea_bai.select_pair(rewards, Head0(), uncertainty="logit") == (0, 1)  # oat's choice


# ----------------------------------------------------------------------------- D5, W2: APL's prompt filter
def test_apl_keeps_the_prompt_of_highest_sequence_entropy(tiny_policy):
    from sealign.exploration.apl import APLExplorer, keep_most_uncertain

    assert keep_most_uncertain(torch.tensor([0.1, 3.0, 2.0, -1.0]), 0.5).tolist() == [False, True, True, False]
    explorer = APLExplorer(tiny_policy, beta=0.1, prompt_fraction=0.5)
    prompts = [Prompt("p0", "the cat sat"), Prompt("p1", "a dog ran in the")]
    ids = tiny_policy.encode_prompts([p.text for p in prompts])
    # one prompt with long responses, one with one-token responses: sequence entropy differs by length
    groups = [[Candidate(prompts[0], ids[0], [5, 6, 7, 8, 9, 10], "long"), Candidate(prompts[0], ids[0], [6] * 6, "l")],
              [Candidate(prompts[1], ids[1], [5], "s"), Candidate(prompts[1], ids[1], [6], "s2")]]
    _, nll = explorer.scores([c for g in groups for c in g])
    expected = int(torch.stack([nll[:2].mean(), nll[2:].mean()]).argmax())
    queries = explorer.select(groups, np.random.default_rng(0))
    assert [bool(qs) for qs in queries] == [k == expected for k in range(2)]
    assert expected == 0  # summed log-probs: six tokens are less likely than one


# ----------------------------------------------------------------------------- D6: a fresh draw per occasion
def test_the_simulated_rater_samples_afresh_for_a_repeated_question_and_remembers_when_asked_to():
    oracle = BradleyTerrySimulator(lambda p, r: {"x": 0.0, "y": 0.03}[r], temperature=0.1, seed=3)
    p_x = 1 / (1 + math.exp(0.3))  # P(x beats y) = 0.43
    keys = [f"{step}:0" for step in range(400)]
    winners = [v.winner for v in oracle.compare(["q"] * 400, ["x"] * 400, ["y"] * 400, keys=keys)]
    assert abs(winners.count("a") / 400 - p_x) < 0.08
    again = [v.winner for v in oracle.compare(["q"] * 400, ["x"] * 400, ["y"] * 400, keys=keys)]
    assert again == winners  # the same occasion (a resumed or sharded run): the same answer
    consistent = BradleyTerrySimulator(oracle.reward_fn, temperature=0.1, seed=3, consistent=True)
    assert len({v.winner for v in consistent.compare(["q"] * 50, ["x"] * 50, ["y"] * 50, keys=keys[:50])}) == 1


# ----------------------------------------------------------------------------- D7, B1: the evaluation
class FirstAlwaysWins:
    name = "biased"

    def compare(self, prompts, a, b, keys=None):
        return [Verdict("a", 0.9) for _ in prompts]


def test_an_oracle_judge_is_asked_in_both_orders_so_its_position_bias_cancels(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    evaluator = WinRateEvaluator(tiny_policy, prompts, FirstAlwaysWins(), greedy=True, temperature=0.0,
                                 max_new_tokens=4, seed=0, both_orders=True)
    metrics = evaluator.evaluate()
    assert metrics["eval/win_rate"] == 0.5 and metrics["eval/win_prob"] == pytest.approx(0.5)
    one_order = WinRateEvaluator(tiny_policy, prompts, FirstAlwaysWins(), greedy=True, temperature=0.0,
                                 max_new_tokens=4, seed=0)
    assert one_order.evaluate()["eval/win_prob"] == pytest.approx(0.9)


def test_win_prob_is_the_mean_bradley_terry_probability_at_the_oracle_temperature(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    judge = BradleyTerrySimulator(lengths, temperature=1.0, deterministic=True)
    evaluator = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6,
                                 seed=0, reward_fn=lengths, prob_temperature=2.0)
    evaluator.baseline = ["abc", "abcdef"]  # fixed answers to compare against
    texts = evaluator.responses()
    metrics = evaluator.evaluate()
    expected = np.mean([1 / (1 + math.exp(-(len(t) - len(b)) / 2.0)) for t, b in zip(texts, evaluator.baseline)])
    assert metrics["eval/win_prob"] == pytest.approx(expected)


def test_win_prob_is_left_out_when_no_bradley_terry_oracle_rates_at_that_temperature(tiny_policy):
    from sealign.components import win_prob_temperature

    assert win_prob_temperature(RunConfig(oracle="bt-simulator", oracle_temperature=0.3)) == 0.3
    assert win_prob_temperature(RunConfig(oracle="rule")) is None
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    evaluator = WinRateEvaluator(tiny_policy, prompts, BradleyTerrySimulator(lengths, 1.0, deterministic=True),
                                 greedy=True, temperature=0.0, max_new_tokens=4, seed=0, reward_fn=lengths,
                                 prob_temperature=None)
    metrics = evaluator.evaluate()
    assert "eval/win_prob" not in metrics and metrics["eval/win_rate"] == 0.5


def test_the_evaluation_samples_with_the_runs_top_p(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog"), Prompt("2", "my friend")]
    judge = FirstAlwaysWins()
    greedy = WinRateEvaluator(tiny_policy, prompts, judge, greedy=True, temperature=0.0, max_new_tokens=6, seed=0)
    nucleus = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6,
                               seed=0, top_p=1e-6)  # a nucleus of one token: the most likely, as greedy decoding
    sampled = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6, seed=0)
    assert nucleus.baseline == greedy.baseline != sampled.baseline


def test_the_assembly_gives_the_evaluator_the_runs_top_p_and_no_win_prob_temperature_under_a_rule(
        tmp_path, tiny_policy_folder):
    from sealign.components import assemble
    from tests.conftest import tiny_run_config

    parts = assemble(tiny_run_config(tmp_path, tiny_policy_folder, oracle="rule", top_p=0.9), log=lambda _: None)
    assert parts.evaluator.top_p == 0.9 and parts.evaluator.prob_temperature is None
    assert "eval/win_prob" not in parts.evaluator.evaluate()


def test_own_prompts_are_never_judged_by_the_builtin_summary_reward(tmp_path):
    from sealign.components import eval_judge_kind

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Explain why the sky is blue."}\n')
    with pytest.raises(ConfigError, match="needs --reward-fn"):
        eval_judge_kind(RunConfig(prompts=str(prompts)))
    with pytest.raises(ConfigError, match="human raters"):
        eval_judge_kind(RunConfig(prompts=str(prompts), oracle="human"))
    with pytest.raises(ConfigError, match="needs --reward-fn"):
        eval_judge_kind(RunConfig(prompts=str(prompts), oracle="judge", eval_judge="reward"))
    assert eval_judge_kind(RunConfig(prompts=str(prompts), oracle="judge")) == "oracle"
    assert eval_judge_kind(RunConfig(prompts=str(prompts), reward_fn="m:f")) == "reward"
    assert eval_judge_kind(RunConfig()) == "reward"


# ----------------------------------------------------------------------------- B2: the AUC of held policies
def test_auc_holds_each_value_of_a_collect_then_train_run_until_its_next_round():
    assert area_under_curve([0, 1536], [0.5, 0.837], hold=True) == 0.5  # offline: SFT deployed throughout
    assert area_under_curve([0, 1536], [0.5, 0.837]) == pytest.approx(0.6685)
    assert area_under_curve([0, 100, 200, 400], [0.5, 0.7, 0.9, 0.9], hold=True) == pytest.approx(
        (100 * 0.5 + 100 * 0.7 + 200 * 0.9) / 400)


# ----------------------------------------------------------------------------- D8, W3: one score, the right direction
class LinearFeatures:
    """Features [1, x] where x is a number written in the response text."""

    dim = 2

    def __call__(self, candidates):
        return torch.tensor([[1.0, float(c.text.split()[0])] for c in candidates])


def make_epistemic(length_penalty: float = 0.0) -> EpistemicExplorer:
    from sealign.exploration.epistemic import EnsembleRewardModel
    from sealign.exploration.passive import select_pair

    model = EnsembleRewardModel(2, num_heads=4, width=8, depth=1, prior_scale=0.1, lr=0.05, weight_decay=0.0,
                                reg_weight=0.01, steps=60, batch_size=64, bootstrap="none", seed=0)
    return EpistemicExplorer(EpistemicRewardModel(LinearFeatures(), model, length_penalty=length_penalty), select_pair)


def test_the_explorer_learns_the_answers_direction():
    torch.manual_seed(0)
    explorer = make_epistemic()
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(64):  # the candidate with the larger x is always preferred
        x, y = rng.uniform(-1, 1, 2)
        a, b = group_of([f"{x:.3f}", f"{y:.3f}"])
        answers.append(answer(a, b, "a" if x > y else "b"))
    explorer.reward_model.featurize([c for comp in answers for c in (comp.a, comp.b)])
    explorer.update(answers)
    low, high = group_of(["-0.8", "0.8"])
    means = explorer.reward_model.score([low, high])
    assert means[1] > means[0] + 0.5


def test_model_labels_rank_with_the_length_penalised_score():
    reward_model = make_epistemic(length_penalty=1.0).reward_model
    torch.manual_seed(0)
    short, verbose = group_of(["0.5", "0.5 and a great many more words"])
    scores = model_labels.mean_rewards(reward_model, [[short, verbose]])[0]
    assert scores[0] - scores[1] == pytest.approx(len(verbose.text) - len(short.text), rel=1e-4)
    label = model_labels.ranked_labels(reward_model, [[short, verbose]], step=0, run_id="r")[0]
    assert (label.a.text, label.winner) == ("0.5", "a")


# ----------------------------------------------------------------------------- W5: which pair, with a real policy
def test_best_worst_with_a_real_policy_asks_about_the_reward_models_best_and_worst(tiny_policy):
    from sealign.exploration import build_explorer

    explorer = build_explorer(RunConfig(explorer="best-worst", explore_heads=4, explore_width=16), tiny_policy)
    prompt = Prompt("p", "the cat sat")
    ids = tiny_policy.encode_prompts([prompt.text])[0]
    group = [Candidate(prompt, ids, tokens, str(k)) for k, tokens in enumerate([[5, 6], [7], [8, 9, 10], [11]])]
    means = explorer.reward_model.score(group)
    (pair,) = index_pairs([group], explorer.select([group], np.random.default_rng(0)))
    assert set(pair) == {int(means.argmax()), int(means.argmin())}


# ----------------------------------------------------------------------------- N8: no budget overshoot
def test_selm_asks_three_questions_per_prompt_and_never_overshoots_a_budget_that_is_no_multiple(
        tmp_path, tiny_policy_folder):
    from collections import Counter

    from sealign.feedback_log import FeedbackLog
    from sealign.loop import run

    config = tiny_preset_config("selm", tmp_path, tiny_policy_folder, "--budget", "40")
    shares = [13, 13, 14]  # three rounds of 40 // 3, the last taking the rest
    summary = run(config, log=lambda _: None)
    with FeedbackLog(tmp_path / "selm" / "feedback.sqlite", config.name) as feedback:
        answers = feedback.read()
    assert summary["queries"] == len(answers) == 40
    assert sorted(Counter(c.step for c in answers).items()) == list(enumerate(shares))
    for step, share in enumerate(shares):
        asked = Counter(c.prompt.id for c in answers if c.step == step)
        *full, last = asked.values()  # in the order asked: the round's last prompt asks what is left
        assert full == [3] * (share // 3) and last == share % 3
        for prompt in list(asked)[:-1]:  # the three pairs of one triple {y_w, y_l, y}
            pairs = {frozenset((c.a.text, c.b.text)) for c in answers if c.step == step and c.prompt.id == prompt}
            texts = set().union(*pairs)
            assert len(texts) == 3 and pairs == {frozenset((x, y)) for x in texts for y in texts if x != y}


def test_a_tasks_own_readings_are_recorded_beside_the_reward_for_policy_and_baseline(tiny_policy):
    from sealign.tasks import constraints, get_task

    assert get_task("constraints").eval_scores["constraints_met"] is constraints.constraints_met
    assert get_task("tldr").eval_scores == {}
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    judge = BradleyTerrySimulator(lengths, temperature=1.0, deterministic=True)
    evaluator = WinRateEvaluator(tiny_policy, prompts, judge, greedy=True, temperature=0.0, max_new_tokens=6,
                                 seed=0, reward_fn=lengths, extra_scores={"chars": lengths})
    evaluator.baseline = ["abc", "abcdef"]
    texts = evaluator.responses()
    metrics = evaluator.evaluate()
    assert metrics["eval/chars"] == pytest.approx(np.mean([len(t) for t in texts]))
    assert metrics["eval/baseline_chars"] == pytest.approx(4.5)
