import random

from sealign.tasks import summarize


def test_posts_are_seeded():
    assert summarize.make_posts(5, seed=1) == summarize.make_posts(5, seed=1)
    assert summarize.make_posts(5, seed=1) != summarize.make_posts(5, seed=2)


def test_reward_is_graded():
    post = summarize.Post("...", "hiking", "oslo", "dog", "fun")
    assert summarize.reward(post, "hiking in oslo with dog , fun .") == 1.0
    assert summarize.reward(post, "in oslo with dog , fun .") == 0.75  # one fact missing
    assert summarize.reward(post, "hiking in paris with dog , fun .") == 0.75 - 0.25  # a wrong place
    verbose = "so yeah hiking in oslo with my dog , it was really fun ."
    assert summarize.reward(post, verbose) == 1.0 - 0.03 * (len(verbose.split()) - 8)
    assert summarize.reward(post, "") == 0.0


def test_facts_are_recovered_from_the_prompt():
    for post in summarize.make_posts(50, seed=4):
        recovered = summarize.post_from_prompt(post.prompt)
        assert recovered.facts == post.facts
        assert summarize.prompt_reward(post.prompt, summarize.ideal_summary(post)) == 1.0


def test_demonstrations_are_imperfect_but_decent():
    rng = random.Random(0)
    posts = summarize.make_posts(500, seed=9)
    rewards = [summarize.reward(p, summarize.noisy_demonstration(p, rng)) for p in posts]
    mean = sum(rewards) / len(rewards)
    assert 0.2 < mean < 0.7
