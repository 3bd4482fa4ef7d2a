"""The actor (sealign/run/actor.py): which policy samples which candidates, with what seeds."""

from __future__ import annotations

import numpy as np
import torch

from sealign.cli_flags import resolve_config
from sealign.records.types import Prompt


def test_actor_samples_the_last_candidates_from_the_reference(tiny_policy):
    import copy

    from sealign.policy.hf import HFPolicy
    from sealign.run.actor import Actor

    reference = copy.deepcopy(tiny_policy.model)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p))  # a reference that samples differently from the policy
    actor = Actor(tiny_policy, 3, 1.0, 1.0, 6, seed=0, reference_candidates=1, reference=reference)
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    groups = actor.sample(prompts, step=4)
    twin = HFPolicy(reference, tiny_policy.tokenizer, device="cpu")
    from sealign.run.actor import row_seed

    expected = twin.generate(tiny_policy.encode_prompts([p.text for p in prompts]), n=1, temperature=1.0,
                             max_new_tokens=6, seeds=[row_seed(0, 4, 2 << 32 | i) for i in range(2)])
    assert [g[-1].token_ids for g in groups] == [e[0] for e in expected]
    assert all(len(g) == 3 for g in groups)
    assert [[c.source for c in g] for g in groups] == [["policy", "policy", "reference"]] * 2


def test_xpo_queries_a_policy_sample_against_a_reference_sample(tiny_policy, monkeypatch):
    import copy

    from sealign.exploration import build_explorer
    from sealign.run.actor import Actor

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
