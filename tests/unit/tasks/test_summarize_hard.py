"""The harder built-in task (``--task tldr-hard``): its facts, decoys and reward, by hand."""

import random

import pytest

from sealign.policy.builtin import BootstrapSpec, bootstrap_task
from sealign.tasks import summarize, summarize_hard


def test_the_key_facts_come_back_from_the_prompt_and_the_decoys_are_set_aside():
    for post in summarize_hard.make_posts(500, seed=3):
        parsed = summarize_hard.post_from_prompt(post.prompt)
        assert parsed.facts == post.facts and sorted(parsed.decoys) == sorted(post.decoys)
        decoy_words = {w for decoy in post.decoys for w in decoy}
        assert decoy_words and not decoy_words & set(post.facts)  # decoys never repeat a key fact


def test_reward_by_hand():
    post = summarize_hard.Post("", "hiking", "oslo", "sister", "amazing", "weekend",
                               decoys=(("surfing", "lima", "boss", "summer"),))
    assert summarize_hard.reward(post, summarize_hard.ideal_summary(post)) == 1.0  # 10 words, all 5 facts
    # 3 of 5 facts: coverage 0.6, squared 0.36; no penalty.
    assert summarize_hard.reward(post, "hiking in oslo with sister .") == pytest.approx(0.36)
    # The decoy's place instead of the key one: 2 of 5 facts and one hallucination.
    assert summarize_hard.reward(post, "hiking in lima with sister .") == pytest.approx(0.16 - 0.25)
    # 13 words: 3 over the ideal 10.
    long = "hiking in oslo with sister last weekend , amazing . so yeah really"
    assert summarize_hard.reward(post, long) == pytest.approx(1.0 - 0.03 * 3)
    # Naming no key fact is the floor, below any hallucination count a short summary can reach.
    assert summarize_hard.reward(post, "") == summarize_hard.reward(post, "it was a day .") == -1.0
    assert summarize_hard.reward(post, "surfing in lima with boss .") == -1.0
    assert summarize_hard.reward(post, "amazing .") == pytest.approx(0.04)


def test_complete_demonstrations_are_rare():
    rng = random.Random(0)
    posts = summarize_hard.make_posts(4000, seed=1)
    rewards = [summarize_hard.reward(p, summarize_hard.noisy_demonstration(p, rng)) for p in posts]
    perfect = sum(r >= 0.9 for r in rewards) / len(rewards)
    assert 0.01 < perfect < 0.06  # ~ 0.5 ** 5 * 0.75 ** 4 + fillers within the length allowance
    easy = summarize
    easy_rng = random.Random(0)
    easy_rewards = [easy.reward(p, easy.noisy_demonstration(p, easy_rng)) for p in easy.make_posts(4000, seed=1)]
    assert sum(r >= 0.9 for r in easy_rewards) / 4000 > 2 * perfect


def test_the_hard_task_has_its_own_built_in_policy():
    assert bootstrap_task("tldr-hard") == "tldr-hard" and bootstrap_task("constraints") == "tldr"
    assert BootstrapSpec().cache_key == "builtin-v1-0-512-128-3-4-700-64-0.002-0.5"  # tldr's cache is kept
    assert BootstrapSpec(task="tldr-hard").cache_key == "builtin-tldr-hard-v1-0-512-128-3-4-700-64-0.002-0.5"
    prompts = summarize_hard.train_prompts(3)
    assert prompts == summarize_hard.train_prompts(3) and prompts != summarize_hard.eval_prompts(3)
