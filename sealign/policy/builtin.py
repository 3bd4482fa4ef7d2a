"""Bootstrap of the built-in task's SFT policy: a tokenizer and a tiny Llama, trained here.

Nothing is downloaded. The tokenizer is a BPE trained on the task's own text; the policy is a
few-hundred-thousand-parameter `transformers` Llama given a short SFT on noisy demonstrations.
The result is an ordinary `save_pretrained` folder, loaded by the same code as a Hub model.
It is built once per (recipe version, seed) and cached; building takes about a minute on 2 cores.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sealign.cache import build_once, default_cache_dir
from sealign.errors import ConfigError
from sealign.tasks import DEFAULT_TASK, get_task

BOOTSTRAP_VERSION = 1  # bump when anything below changes what gets built


@dataclass(frozen=True)
class BootstrapSpec:
    seed: int = 0
    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 3
    num_heads: int = 4
    sft_steps: int = 700
    sft_batch_size: int = 64
    sft_lr: float = 2e-3
    demo_keep_fact: float = 0.5
    task: str = DEFAULT_TASK  # a task with demonstrations (tldr, tldr-hard)

    @property
    def cache_key(self) -> str:
        settings = asdict(self)
        task = settings.pop("task")
        fields = "-".join(f"{v}" for v in settings.values())
        # the default task's policy keeps the key it had before there were other tasks
        return f"builtin-v{BOOTSTRAP_VERSION}-{fields}" if task == DEFAULT_TASK else \
            f"builtin-{task}-v{BOOTSTRAP_VERSION}-{fields}"


def bootstrap_task(task: str) -> str:
    """The task the built-in policy is trained on for runs of ``task``: its own where it has
    demonstrations to learn from (tldr, tldr-hard), else the default task (tldr)."""
    return task if get_task(task).demonstrations is not None else DEFAULT_TASK


def ensure_sft_policy(cache_dir: Path | None = None, spec: BootstrapSpec = BootstrapSpec(),
                      log=print) -> Path:
    """Path of the cached SFT policy folder, building it first if it is missing."""
    target = (cache_dir or default_cache_dir()) / spec.cache_key
    return build_once(target, lambda folder: build_sft_policy(folder, spec), "the built-in SFT policy", log)


def train_tokenizer(texts: list[str], vocab_size: int):
    """A BPE tokenizer trained on ``texts``, wrapped as a `transformers` fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def build_sft_policy(out_dir: Path, spec: BootstrapSpec) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from sealign.policy.hf import HFPolicy

    demos = get_task(spec.task).demonstrations
    if demos is None:
        raise ConfigError(f"the {spec.task} task has no demonstrations to train the built-in policy on")
    torch.manual_seed(spec.seed)
    rng = random.Random(spec.seed)
    corpus_posts = demos.make_examples(4000, 10_000 + spec.seed)
    corpus = [p.prompt for p in corpus_posts]
    corpus += [demos.noisy_demonstration(p, rng) for p in corpus_posts]
    corpus += [demos.ideal_response(p) for p in corpus_posts[:200]] + list(demos.extra_words)
    tokenizer = train_tokenizer(corpus, spec.vocab_size)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.hidden_size * 3,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    policy = HFPolicy(LlamaForCausalLM(config), tokenizer, device="cpu")
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=spec.sft_lr, weight_decay=0.01)
    warmup = max(1, spec.sft_steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (spec.sft_steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    data_rng = random.Random(spec.seed + 1)
    policy.model.train()
    for _ in range(spec.sft_steps):
        posts = [demos.make_example(data_rng) for _ in range(spec.sft_batch_size)]
        answers = [demos.noisy_demonstration(p, data_rng, spec.demo_keep_fact) for p in posts]
        logps, lengths = policy.sequence_logprobs(
            policy.encode_prompts([p.prompt for p in posts]), policy.encode_responses(answers)
        )
        loss = -(logps.sum() / lengths.sum())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    policy.model.eval()
    policy.save(out_dir)
