"""Candidate generation through vLLM (GPU only; the `vllm` extra): ``--policy-backend vllm``.

``VLLMPolicy`` implements ``Policy`` (``base.py``) for the ``Actor``: it samples with a vLLM engine
built from the same checkpoint, tokenises and decodes with the HF policy's tokenizer (so token ids
mean the same thing everywhere), and loads the learner's weights after each update
(``load_trainable_state``). It does not score, copy, save or hand out weights: those raise
``NotImplementedError``, and its features are None. The HF policy stays the learner's and the
evaluator's; the default backend is ``hf``. Not exercised by the test suite (no GPU there); the error path is.

Seeds: each prompt's ``SamplingParams.seed`` is its row seed, so vLLM sampling, like the HF
path, does not depend on how a batch is split; the numbers differ from the HF backend's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from sealign.errors import UserError
from sealign.records.types import TokenIds

if TYPE_CHECKING:
    from sealign.policy.hf import HFPolicy


def check_available() -> None:
    """Refuse up front, in one line, where vLLM cannot run."""
    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        raise UserError("--policy-backend vllm needs a GPU and the vllm extra (pip install 'sealign[vllm]'); "
                        "use --policy-backend hf")


class VLLMPolicy:
    """The actor's ``Policy`` on a vLLM engine (sampling only; see the module docstring)."""

    def __init__(self, path: str, hf_policy: HFPolicy, config):
        check_available()
        if hf_policy.is_lora:
            raise UserError("--policy-backend vllm does not take LoRA adapters yet; use lora_r 0 or the hf backend")
        from vllm import LLM

        self.hf = hf_policy
        self.eos_id = hf_policy.eos_id
        self.device = torch.device("cuda")  # the engine's GPU
        self.llm = LLM(model=path, tokenizer=path, dtype=config.dtype, seed=config.seed,
                       gpu_memory_utilization=config.vllm_gpu_memory, enable_prefix_caching=True)

    # Text <-> ids go through the HF tokenizer, so the learner scores exactly what was sampled.
    def encode_prompts(self, texts: list[str]) -> list[TokenIds]:
        return self.hf.encode_prompts(texts)

    def encode_responses(self, texts: list[str]) -> list[TokenIds]:
        return self.hf.encode_responses(texts)

    def decode(self, ids: TokenIds) -> str:
        return self.hf.decode(ids)

    def generate(self, prompt_ids: list[TokenIds], n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 max_new_tokens: int = 32, model=None, seeds: list[int] | None = None) -> list[list[TokenIds]]:
        """As ``HFPolicy.generate``: ``n`` responses per prompt, ending with EOS when the model stopped."""
        if model is not None:
            raise ValueError("the vllm backend samples the current policy only (no reference model)")
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(n=n, temperature=max(temperature, 0.0), top_p=top_p, max_tokens=max_new_tokens,
                           seed=None if seeds is None else seeds[i] % 2**63, stop_token_ids=[self.eos_id])
            for i in range(len(prompt_ids))
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompt_ids], params, use_tqdm=False)
        responses = []
        for out in outputs:
            group = []
            for completion in out.outputs:
                ids = list(completion.token_ids)
                if completion.finish_reason == "stop" and (not ids or ids[-1] != self.eos_id):
                    ids.append(self.eos_id)  # the EOS the model stopped at is part of the response
                group.append(ids)
            responses.append(group)
        return responses

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load the learner's published weights into the engine, and drop cached prefixes computed
        with the old ones. (The engine's internals move between vLLM versions; this is the path of
        the single-GPU, in-process engine.)"""
        model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        model.load_weights(weights=list(state.items()))
        self.llm.reset_prefix_cache()

    def generate_with_features(self, prompt_ids: list[TokenIds], n: int = 1, temperature: float = 1.0,
                               top_p: float = 1.0, max_new_tokens: int = 32, seeds: list[int] | None = None,
                               pooling: str = "mean") -> tuple[list[list[TokenIds]], None]:
        """``generate``'s responses and no features (None): the engine does not expose hidden states,
        so ``--explore-features live`` computes them with one pass of the HF policy."""
        return self.generate(prompt_ids, n, temperature, top_p, max_new_tokens, seeds=seeds), None

    # The actor only samples: scoring, copies, saving and publishing weights are the HF policy's.
    def sequence_logprobs(self, prompt_ids: list[TokenIds], response_ids: list[TokenIds], model=None):
        raise _not_served("sequence_logprobs")

    def trainable_state(self) -> dict[str, torch.Tensor]:
        raise _not_served("trainable_state")

    def frozen_copy(self):
        raise _not_served("frozen_copy")

    def save(self, path: str | Path) -> None:
        raise _not_served("save")


def _not_served(method: str) -> NotImplementedError:
    return NotImplementedError(f"VLLMPolicy.{method}: the vllm backend only samples for the actor; "
                               "the learner's HF policy does this")
