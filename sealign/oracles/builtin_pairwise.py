"""The built-in task's pairwise preference model: the tiny SFT policy fine-tuned to say "A" or "B".

It plays the role of RLHFlow's preference model (Dong et al. 2024 sec. 2.1): a causal LM trained on
*offline* preference data as an instruction-following task, then fixed. The input is the TEMPLATE
of `sealign/oracles/pairwise.py`, ``[CONTEXT] x [RESPONSE A] a [RESPONSE B] b \\n``, the target the
single next token "A" (the first response is preferred) or "B". The paper randomises the order of
each training pair against position bias; here every pair is shown in both orders, in the same
batch. Only the label token is trained, through the reading P(A) / (P(A) + P(B)) itself, a softmax
over the two label logits (held-out accuracy after 300 steps: 0.80; 0.77 with the loss over the
whole vocabulary, which first spends steps moving probability onto the two labels).

- **Start**: the built-in SFT policy (`policy/builtin.py`, the run's own: same BootstrapSpec) and its
  BPE tokenizer. That tokenizer has no upper case, brackets or newline ("A" is a word start + <unk>),
  so "[CONTEXT]", "[RESPONSE A]", "[RESPONSE B]", "A", "B" and "\\n" are added as tokens (no
  template character is then unknown) and their embeddings appended (mean-initialised).
- **Data**: `builtin_preference_data` (tasks/summarize.py): two noisy human-like summaries per
  post, the better by the ground-truth reward as chosen (equal texts dropped), on posts of the
  *training* generator (never the evaluation posts); a fresh draw of summaries on every pass (the
  first pass is selm-rank's dataset). The ground-truth reward only labels this offline data; at run
  time the model alone ranks.
- **Cache**: built once per settings (`PairwiseSpec.cache_key`, which ends with the SFT policy's key),
  in a scratch folder renamed into place next to the SFT policy, as the SFT policy is.

Measured with the default spec on the default (700-step) SFT policy, one thread of a 2-core machine
busy with other jobs: built in 53 s. `heldout_accuracy` (400 pairs of noisy summaries of the
evaluation posts whose ground-truth rewards differ, both orders averaged): **0.86** (chance 0.5).
On what it ranks in a run, the SFT policy's own samples (8 per post, 48 evaluation posts), it is
weaker: 0.63 of 1128 pairs with distinct rewards, and its Borda best beats its worst in 0.63 of
prompts. The policy invents facts (a wrong activity) that the offline data never shows, so the
model learned "more fact words is better": the out-of-distribution weakness of a learned
preference model that Dong et al. 2024 (sec. 1, related work) gives as a reason for online feedback.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from sealign.cache import build_once, default_cache_dir
from sealign.policy.builtin import BootstrapSpec, ensure_sft_policy
from sealign.tasks import summarize

TASK = summarize.TASK
"""The task whose offline data it is trained on: it ranks answers to that task's prompts only."""
PAIRWISE_VERSION = 1  # bump when anything below changes what gets built
ADDED_TOKENS = ["[CONTEXT]", "[RESPONSE A]", "[RESPONSE B]", "A", "B", "\n"]


@dataclass(frozen=True)
class PairwiseSpec:
    base: BootstrapSpec = field(default_factory=BootstrapSpec)
    """The built-in SFT policy the preference model starts from (its weights and tokenizer)."""
    num_posts: int = 4096
    """Posts of the training generator the offline preference data is drawn on."""
    steps: int = 500
    batch_pairs: int = 8
    """Preference pairs per step, each shown in both orders (2 x batch_pairs sequences)."""
    lr: float = 1e-3
    seed: int = 0

    @property
    def cache_key(self) -> str:
        own = {k: v for k, v in asdict(self).items() if k != "base"}
        return f"builtin-pairwise-v{PAIRWISE_VERSION}-" + "-".join(map(str, own.values())) + f"-{self.base.cache_key}"


def ensure_pairwise_model(cache_dir: Path | None = None, spec: PairwiseSpec = PairwiseSpec(), log=print) -> Path:
    """Path of the cached built-in pairwise preference model folder, building it first if missing."""
    cache = cache_dir or default_cache_dir()
    target = cache / spec.cache_key
    if (target / "config.json").exists():
        return target
    with torch.random.fork_rng(devices=[]):  # building the base (seeds torch) must not move a run's RNG
        base = ensure_sft_policy(cache, spec.base, log=log)
    return build_once(target, lambda folder: build_pairwise_model(base, folder, spec),
                      "the built-in pairwise preference model", log)


def training_posts(spec: PairwiseSpec) -> list[str]:
    """Prompts of the built-in task's training generator (the run's training prompts come first)."""
    return [p.prompt for p in summarize.make_posts(spec.num_posts, summarize.TRAIN_SEED)]


def build_pairwise_model(base: Path, out_dir: Path, spec: PairwiseSpec, progress=None) -> None:
    """Fine-tunes the SFT policy at ``base`` into the preference model saved in ``out_dir``;
    ``progress(step, loss)`` is called after every step when given.

    Runs on one CPU thread (small matrices: more threads barely help, and on a busy machine two
    threads measured 7x slower than one) and in a forked torch RNG, so a run that builds it and
    one that finds it cached continue with the same random state.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            _train(base, out_dir, spec, progress)
    finally:
        torch.set_num_threads(threads)


def _train(base: Path, out_dir: Path, spec: PairwiseSpec, progress) -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM

    from sealign.oracles.hf_models import pad_right
    from sealign.oracles.pairwise import PairwisePreferenceOracle

    torch.manual_seed(spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_tokens(ADDED_TOKENS)
    model = LlamaForCausalLM.from_pretrained(base)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    # The oracle's own formatting and label tokens, so training and reading match exactly.
    reader = PairwisePreferenceOracle(model, tokenizer, max_length=model.config.max_position_embeddings)
    label_a, label_b = reader.label_ids
    prompts = training_posts(spec)
    order = random.Random(spec.seed)

    def stream():
        """Passes over the posts, fresh summaries each (the first pass is selm-rank's dataset),
        both orders of every pair next to each other, so that a batch holds both."""
        for draw in itertools.count():
            rows = summarize.builtin_preference_data(prompts, seed=spec.seed * 1_000 + draw)
            pairs = [((reader.encode(x, chosen, rejected), 0), (reader.encode(x, rejected, chosen), 1))
                     for x, (chosen, rejected) in rows.items() if chosen != rejected]
            order.shuffle(pairs)
            for pair in pairs:
                yield from pair

    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    warmup = max(1, spec.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, spec.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    examples = stream()
    model.train()
    for step in range(spec.steps):
        batch = list(itertools.islice(examples, 2 * spec.batch_pairs))
        ids, mask = pad_right([seq for seq, _ in batch], tokenizer.pad_token_id, "cpu")
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = hidden[torch.arange(len(batch)), mask.sum(1) - 1]  # right padding: the last real token
        # Only the label token is trained, through the reading itself: P(A) / (P(A) + P(B)) is a
        # softmax over the two label logits (target 0 = "A", 1 = "B").
        logits = model.lm_head(last)[:, [label_a, label_b]]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step, loss.item())
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def heldout_pairs(num_pairs: int = 400, seed: int = 0) -> list[tuple[str, str, str, int]]:
    """(prompt, a, b, 1 if a is better else 0): two noisy summaries of each held-out evaluation post
    (the run's evaluation prompts come first), kept when their ground-truth rewards differ."""
    rng = random.Random(10_000 + seed)
    pairs = []
    posts = summarize.make_posts(4 * num_pairs, summarize.EVAL_SEED)
    for post in posts:
        a, b = (summarize.noisy_demonstration(post, rng) for _ in range(2))
        ra, rb = summarize.reward(post, a), summarize.reward(post, b)
        if ra != rb:
            pairs.append((post.prompt, a, b, int(ra > rb)))
        if len(pairs) == num_pairs:
            break
    return pairs


def heldout_accuracy(path: str | Path, num_pairs: int = 400, seed: int = 0) -> float:
    """Share of ``heldout_pairs`` the model at ``path`` orders like the ground-truth reward, reading
    P(a > b) as the average of both presentation orders (a tie counts as half right)."""
    from sealign.oracles.pairwise import PairwisePreferenceOracle

    oracle = PairwisePreferenceOracle.from_pretrained(str(path), "cpu", order="both", deterministic=True,
                                                      batch_size=64)
    pairs = heldout_pairs(num_pairs, seed)
    verdicts = oracle.compare([p for p, *_ in pairs], [a for _, a, _, _ in pairs], [b for *_, b, _ in pairs])
    right = [0.5 if v.winner == "tie" else float((v.winner == "a") == bool(pair[3]))
             for v, pair in zip(verdicts, pairs, strict=True)]
    return sum(right) / len(right)
