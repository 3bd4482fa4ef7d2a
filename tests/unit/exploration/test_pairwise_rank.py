"""RLHFlow's pairwise-preference-model ranker (Dong et al. 2024 sec. 2.1): the Borda rule, the explorer, the
built-in preference model and the `rlhflow --variant 2` preset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.exploration import build_explorer, pair_rule
from sealign.exploration.pairwise_rank import PairwiseRankExplorer, borda_scores, select_pair, win_matrices
from sealign.oracles.pairwise import PairwisePreferenceOracle
from sealign.policy.builtin import BootstrapSpec
from sealign.records.types import Candidate, Prompt
from sealign.run.explorer_inputs import explorer_inputs
from sealign.tasks import summarize
from tests.conftest import TEST_SFT_STEPS, index_pairs

torch.set_num_threads(1)


def matrix(upper: dict[tuple[int, int], float], m: int) -> torch.Tensor:
    """An [m, m] win matrix from P(i > j) for i < j (P(j > i) = 1 - P(i > j), 1/2 on the diagonal)."""
    p = torch.full((m, m), 0.5)
    for (i, j), value in upper.items():
        p[i, j], p[j, i] = value, 1 - value
    return p


# --- the pure rule ---------------------------------------------------------------------------------

def test_borda_best_and_worst_on_a_hand_made_matrix():
    p = matrix({(0, 1): 0.8, (0, 2): 0.6, (1, 2): 0.7}, 3)
    assert borda_scores(p).tolist() == pytest.approx([0.7, 0.45, 0.35])  # mean over the other two
    assert select_pair(p) == (0, 2)
    # Borda, not Copeland: 1 narrowly beats every other candidate, 0 loses to 1 but wins big elsewhere.
    p = matrix({(0, 1): 0.45, (0, 2): 1.0, (0, 3): 1.0, (1, 2): 0.55, (1, 3): 0.55, (2, 3): 0.5}, 4)
    assert select_pair(p) == (0, 2)  # scores 0.817, 0.55, 0.317, 0.317: a tie for worst -> first index
    assert select_pair(p, np.random.default_rng(0)) == (0, 2)  # the rule draws nothing


def test_ties_and_cycles_skip_the_prompt():
    assert select_pair(torch.full((4, 4), 0.5)) is None  # nothing to choose
    rock_paper_scissors = matrix({(0, 1): 0.9, (1, 2): 0.9, (0, 2): 0.1}, 3)
    assert select_pair(rock_paper_scissors) is None  # every score 1/2
    best_tie = matrix({(0, 1): 0.5, (0, 2): 0.9, (1, 2): 0.9}, 3)
    assert select_pair(best_tie) == (0, 2)  # a tie for best alone is not a skip: lowest index
    assert select_pair(matrix({(0, 1): float("nan"), (0, 2): 0.9, (1, 2): 0.9}, 3)) is None  # a NaN reading


def test_pairwise_rank_has_no_bandit_rule():
    for name in ("pairwise-rank", "selm-rank"):
        with pytest.raises(ConfigError, match="no rule over"):
            pair_rule(name)
    assert pair_rule("best-worst") is not None


# --- the explorer, on a ranker whose preferences are known ------------------------------------------

class LengthRanker:
    """P(first shown wins) = sigmoid(len(first) - len(second) + bias): longer is better; ``bias`` > 0
    is a pure preference for the first position."""

    def __init__(self, bias: float = 0.0):
        self.bias, self.calls = bias, []

    def prob_first_wins(self, prompts, firsts, seconds):
        self.calls.append(list(zip(prompts, firsts, seconds, strict=True)))
        probs = [1 / (1 + math.exp(-(len(f.split()) - len(s.split()) + self.bias))) for f, s in zip(firsts, seconds)]
        return probs, [1] * len(probs)


def group(texts: list[str], prompt: str = "post : x tl;dr :") -> list[Candidate]:
    p = Prompt(prompt, prompt)
    return [Candidate(p, [1, 2], [len(t.split()), sum(map(ord, t))], t) for t in texts]


def test_explorer_asks_about_the_longest_vs_the_shortest_under_a_length_ranker():
    ranker = LengthRanker()
    explorer = PairwiseRankExplorer(ranker)
    groups = [group(["a b", "a b c d e", "a", "a b c"]), group(["x y", "x y z"], "post : y tl;dr :")]
    assert index_pairs(groups, explorer.select(groups, np.random.default_rng(0))) == [(1, 2), (1, 0)]
    (calls,) = ranker.calls  # one batched call for the whole step: 6 + 1 pairs
    assert [prompt for prompt, _, _ in calls] == ["post : x tl;dr :"] * 6 + ["post : y tl;dr :"]
    assert explorer.update([])["explore/borda_margin"] > 0  # mean Borda score gap of the asked pairs
    assert explorer.update([]) == {}  # nothing learns: the model is fixed


def test_each_pair_is_shown_once_in_a_random_order_and_read_back_in_candidate_order():
    texts = ["a b", "a b c d e", "a", "a b c"]
    biased = LengthRanker(bias=3.0)  # a strong taste for whatever is shown first
    (p,) = win_matrices(biased, [group(texts)], np.random.default_rng(1))
    shown = biased.calls[0]
    assert len(shown) == 6 and len({(f, s) for _, f, s in shown} | {(s, f) for _, f, s in shown}) == 12
    for _, first, second in shown:
        i, j = texts.index(first), texts.index(second)
        expected = 1 / (1 + math.exp(-(len(first.split()) - len(second.split()) + 3.0)))
        assert p[i, j].item() == pytest.approx(expected) and p[j, i].item() == pytest.approx(1 - expected)
    assert p.diagonal().tolist() == [0.5] * 4
    orders = set()
    for seed in range(8):
        win_matrices(biased, [group(texts)], np.random.default_rng(seed))
        orders.add(tuple(biased.calls[-1]))
    assert len(orders) > 1  # the coins do change with the seed ...


def test_the_same_rng_gives_the_same_orders_and_pairs():
    groups = [group(["a b", "a b c d e", "a", "a b c", "q r s t"]) for _ in range(3)]

    def run(seed):
        ranker = LengthRanker(bias=1.0)
        pairs = PairwiseRankExplorer(ranker).select(groups, np.random.default_rng(seed))
        return pairs, ranker.calls

    assert run(5) == run(5)  # ... and only with it
    assert run(5)[1] != run(6)[1]


def test_identical_candidates_are_never_compared_and_an_all_identical_prompt_is_skipped():
    ranker = LengthRanker()
    explorer = PairwiseRankExplorer(ranker)
    same = group(["a b", "a b", "a b"])
    assert explorer.select([same], np.random.default_rng(0)) == [[]]
    assert ranker.calls == []  # no model call at all
    biased = LengthRanker(bias=3.0)  # order matters to it: copies must still be read alike
    for seed in range(4):
        (p,) = win_matrices(biased, [group(["a b", "a b c", "a b", "q", "a b c"])], np.random.default_rng(seed))
        assert len(biased.calls[-1]) == 3  # the distinct responses "a b", "a b c", "q": three pairs
        assert torch.equal(p[0], p[2]) and torch.equal(p[1], p[4])  # copies: the same row ...
        assert torch.equal(p[:, 0], p[:, 2]) and p[0, 2] == p[1, 4] == 0.5  # ... column, and 1/2 between them
        scores = borda_scores(p)
        assert scores[0] == scores[2] and scores[1] == scores[4]


# --- the explorer on a real (tiny, random) pairwise model, loaded by path -----------------------------

@pytest.fixture(scope="module")
def tiny_pairwise_path(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    from sealign.policy.builtin import train_tokenizer

    posts = summarize.make_posts(100, seed=5)
    texts = [p.prompt for p in posts] + [summarize.ideal_summary(p) for p in posts]
    tokenizer = train_tokenizer(texts + ["[CONTEXT] [RESPONSE A] [RESPONSE B] A B"] * 20, 260)
    torch.manual_seed(1)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    path = tmp_path_factory.mktemp("ranker")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def sampled_groups(n: int = 3, m: int = 4) -> list[list[Candidate]]:
    posts = summarize.make_posts(n, seed=9)
    rng = np.random.default_rng(0)
    groups = []
    for post in posts:
        texts = [summarize.ideal_summary(post)] + [
            " ".join(rng.choice(summarize.FILLERS, size=k)) + " ." for k in range(1, m)]
        groups.append(group(texts, post.prompt))
    return groups


def test_explorer_on_a_real_model_ranks_by_the_models_own_probabilities(tiny_pairwise_path):
    config = RunConfig(explorer="pairwise-rank", ranker_model=tiny_pairwise_path, oracle_batch_size=5)
    explorer = build_explorer(config, **explorer_inputs(config))
    groups = sampled_groups()
    pairs = index_pairs(groups, explorer.select(groups, np.random.default_rng(3)))
    reader = PairwisePreferenceOracle.from_pretrained(tiny_pairwise_path, "cpu")  # an independent reading
    coins = np.random.default_rng(3)
    for g, pair in zip(groups, pairs):
        m = len(g)
        p = torch.full((m, m), 0.5)
        for i in range(m):
            for j in range(i + 1, m):
                swap = coins.random() < 0.5
                first, second = (g[j], g[i]) if swap else (g[i], g[j])
                (q,), _ = reader.prob_first_wins([g[0].prompt.text], [first.text], [second.text])
                p[i, j] = 1 - q if swap else q
                p[j, i] = 1 - p[i, j]
        scores = borda_scores(p)
        assert pair == (int(scores.argmax()), int(scores.argmin()))
    assert explorer.update([]).keys() == {"explore/borda_margin"}


def test_ranker_model_errors_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="--ranker-model .* no config.json"):
        explorer_inputs(RunConfig(explorer="pairwise-rank", ranker_model=str(tmp_path)))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    with pytest.raises(ConfigError, match="built-in task only"):
        explorer_inputs(RunConfig(explorer="pairwise-rank", prompts=str(prompts)))
    with pytest.raises(ConfigError, match="--ranker-model"):
        explorer_inputs(RunConfig(explorer="pairwise-rank", ranker_model=""))
    with pytest.raises(ConfigError, match="given its ranker by the assembly"):
        build_explorer(RunConfig(explorer="pairwise-rank"))


# --- the built-in preference model (conftest's builtin_ranker: a reduced build of seconds) ------------

def test_builtin_pairwise_model_builds_reads_a_and_b_as_single_tokens_and_beats_chance(builtin_ranker):
    from sealign.oracles.builtin_pairwise import ensure_pairwise_model, heldout_accuracy, heldout_pairs

    path, spec = builtin_ranker
    assert spec.base.cache_key in path.name and (path.parent / spec.base.cache_key / "config.json").exists()
    assert ensure_pairwise_model(path.parent, spec, log=pytest.fail) == path  # cached: no rebuild
    oracle = PairwisePreferenceOracle.from_pretrained(str(path), "cpu")
    assert [oracle.tokenizer.decode([i]) for i in oracle.label_ids] == ["A", "B"]
    ids = oracle.encode("post : i went hiking . tl;dr :", "hiking .", "hiking in oslo .")
    assert oracle.tokenizer.unk_token_id not in ids  # the template's markers are tokens too
    pairs = heldout_pairs(200)
    assert len(pairs) == 200 and all(a != b for _, a, b, _ in pairs)
    accuracy = heldout_accuracy(path, 200)
    assert accuracy > 0.6, accuracy  # chance is 0.5; measured 0.675 here, ~0.86 with the default spec


def test_builtin_ranker_is_the_default_of_the_explorer(tmp_path, monkeypatch):
    from sealign.oracles import builtin_pairwise
    from sealign.run.explorer_inputs import ranker_path

    asked = []
    monkeypatch.setattr(builtin_pairwise, "ensure_pairwise_model",
                        lambda cache, spec: asked.append((cache, spec)) or "x")
    config = RunConfig(explorer="pairwise-rank", cache_dir=str(tmp_path), sft_steps=TEST_SFT_STEPS)
    assert ranker_path(config) == "x"  # the default spec, on the run's own SFT policy and cache
    assert asked == [(tmp_path, builtin_pairwise.PairwiseSpec(base=BootstrapSpec(sft_steps=TEST_SFT_STEPS)))]


# --- the preset ---------------------------------------------------------------------------------------

def test_rlhflow_variants():
    from sealign.cli_flags import resolve_config

    assert resolve_config(["--preset", "rlhflow"]).explorer == "best-worst"
    assert resolve_config(["--preset", "rlhflow", "--variant", "1"]).explorer == "best-worst"
    two = resolve_config(["--preset", "rlhflow", "--variant", "2"])
    assert two.explorer == "pairwise-rank" and two.ranker_model == "builtin" and two.num_candidates == 8
