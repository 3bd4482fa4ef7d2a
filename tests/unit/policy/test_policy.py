import torch

from sealign.tasks import summarize


def _one_token_at_a_time(policy, prompt, response):
    """log pi(response | prompt) by scoring each next token with its own unpadded forward pass."""
    total = 0.0
    for t, token in enumerate(response):
        ids = torch.tensor([prompt + response[:t]])
        logits = policy.model(input_ids=ids).logits[0, -1]
        total += torch.log_softmax(logits.double(), -1)[token].item()
    return total


def test_sequence_logprobs_mask_prompt_and_padding(tiny_policy):
    posts = summarize.make_posts(3, seed=5)
    prompts = tiny_policy.encode_prompts([p.prompt for p in posts])
    # Responses of different lengths force right padding inside the batch.
    responses = tiny_policy.encode_responses(["hiking in oslo", "fun .", "with my dog , amazing day ."])
    with torch.no_grad():
        logps, lengths = tiny_policy.sequence_logprobs(prompts, responses)
    assert lengths.tolist() == [len(r) for r in responses]
    for k in range(3):
        expected = _one_token_at_a_time(tiny_policy, prompts[k], responses[k])
        assert abs(logps[k].item() - expected) < 1e-4


def test_sequence_logprobs_has_gradients(tiny_policy):
    prompts = tiny_policy.encode_prompts(["post : a b tl;dr :"])
    logps, _ = tiny_policy.sequence_logprobs(prompts, tiny_policy.encode_responses(["hiking ."]))
    logps.sum().backward()
    grads = [p.grad for p in tiny_policy.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    tiny_policy.model.zero_grad(set_to_none=True)


def test_generate_shapes_and_left_padding(tiny_policy):
    posts = summarize.make_posts(3, seed=6)
    prompts = tiny_policy.encode_prompts([p.prompt for p in posts])
    batched = tiny_policy.generate(prompts, n=2, temperature=0, max_new_tokens=6)
    assert len(batched) == 3 and all(len(group) == 2 for group in batched)
    for prompt, group in zip(prompts, batched):
        assert group[0] == group[1]  # greedy
        assert len(group[0]) <= 6
        # Left padding must not change what a prompt generates.
        alone = tiny_policy.generate([prompt], n=1, temperature=0, max_new_tokens=6)[0][0]
        assert alone == group[0]


def test_generated_responses_stop_at_eos(tiny_policy):
    prompts = tiny_policy.encode_prompts(["post : x tl;dr :"] * 4)
    torch.manual_seed(0)
    for group in tiny_policy.generate(prompts, n=4, temperature=1.0, max_new_tokens=12):
        for response in group:
            assert tiny_policy.eos_id not in response[:-1]


def test_encode_responses_appends_eos(tiny_policy):
    (ids,) = tiny_policy.encode_responses(["hiking in oslo"])
    assert ids[-1] == tiny_policy.eos_id
    assert tiny_policy.decode(ids) == "hiking in oslo"


def test_shared_prompt_scoring_matches_one_sequence_at_a_time(tiny_policy):
    """A DPO batch holds every prompt twice (chosen, rejected): scored with one shared prompt pass,
    in chunks of similar response lengths, the result must equal unbatched scoring."""
    posts = summarize.make_posts(20, seed=8)
    prompts = tiny_policy.encode_prompts([p.prompt for p in posts])
    chosen = tiny_policy.encode_responses([f"{p.activity} in {p.place} ." for p in posts])
    rejected = tiny_policy.encode_responses(["fun ."] * 10 + [f"with {p.companion} , a long day ." for p in posts[10:]])
    with torch.no_grad():
        logps, lengths = tiny_policy.sequence_logprobs(prompts + prompts, chosen + rejected)
    assert lengths.tolist() == [len(r) for r in chosen + rejected]
    for k in (0, 7, 19, 20, 33, 39):
        expected = _one_token_at_a_time(tiny_policy, (prompts + prompts)[k], (chosen + rejected)[k])
        assert abs(logps[k].item() - expected) < 1e-4


def test_seeded_generation_does_not_depend_on_the_rest_of_the_batch(tiny_policy):
    """What lets the Ray runtime split a batch over actors and still sample the same responses."""
    posts = summarize.make_posts(6, seed=9)
    prompts = tiny_policy.encode_prompts([p.prompt for p in posts])
    seeds = [11, 22, 33, 44, 55, 66]
    whole = tiny_policy.generate(prompts, n=3, temperature=1.0, max_new_tokens=10, seeds=seeds)
    halves = (tiny_policy.generate(prompts[:2], n=3, temperature=1.0, max_new_tokens=10, seeds=seeds[:2])
              + tiny_policy.generate(prompts[2:], n=3, temperature=1.0, max_new_tokens=10, seeds=seeds[2:]))
    assert whole == halves
    assert tiny_policy.generate(prompts[:1], n=3, temperature=1.0, max_new_tokens=10, seeds=[12]) != whole[:1]


def test_top_p_keeps_the_nucleus():
    from sealign.policy.decode import pick_tokens

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(400, 1)
    uniforms = torch.linspace(0, 0.999, 400, dtype=torch.float64)
    tokens = pick_tokens(logits, 1.0, 0.75, uniforms)
    assert set(tokens.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.75: tokens 2 and 3 are cut
    assert abs((tokens == 0).float().mean().item() - 0.5 / 0.8) < 0.01
    assert set(pick_tokens(logits, 1.0, 1.0, uniforms).tolist()) == {0, 1, 2, 3}
    assert pick_tokens(logits, 0.0, 1.0, None).tolist() == [0] * 400


def test_last_logits_keeps_only_the_last_position_and_falls_back(tiny_policy):
    from sealign.policy.anatomy import last_logits

    ids = torch.tensor([[1, 5, 7, 9]])
    full = tiny_policy.model(input_ids=ids).logits[:, -1]
    assert torch.allclose(last_logits(tiny_policy.model, input_ids=ids), full, atol=1e-6)

    class NoLogitsToKeep(torch.nn.Module):  # a model whose forward predates logits_to_keep
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids)

    assert torch.allclose(last_logits(NoLogitsToKeep(tiny_policy.model), input_ids=ids), full, atol=1e-6)
