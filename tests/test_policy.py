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
