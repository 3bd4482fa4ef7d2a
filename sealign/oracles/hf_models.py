"""Shared plumbing of the model oracles (reward-model, pairwise): loading, chat templates, batching."""

from __future__ import annotations

from pathlib import Path

import torch

from sealign.errors import ConfigError, UserError, first_line


def load_model_and_tokenizer(auto_class, name_or_path: str, device: str, dtype: str, oracle: str):
    """(model in eval mode on its device, tokenizer) for a local folder or a Hub name.

    Every failure a user can fix (empty name, a folder that is not a saved model, a name the
    Hub does not know, no network) becomes one ConfigError line.
    """
    from sealign.policy.anatomy import pick_device

    if not name_or_path:
        raise ConfigError(f"the {oracle} oracle needs --oracle-model (a local model folder or a Hub name)")
    if not hasattr(torch, dtype):
        raise ConfigError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16")
    local = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
    if looks_local and not (local / "config.json").exists():
        raise ConfigError(f"--oracle-model {name_or_path!r} has no config.json; pass a folder written by "
                          "save_pretrained or a Hub model name")
    source = str(local) if looks_local else name_or_path
    from safetensors import SafetensorError
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = auto_class.from_pretrained(source, dtype=getattr(torch, dtype))
    except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: a corrupt or truncated weights file
        raise UserError(f"cannot load {oracle} model {name_or_path!r}: {first_line(err)}") from err
    if tokenizer.pad_token_id is None:
        # Padding is only ever masked out, so any token will do; EOS is the usual choice.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(pick_device(device)).eval()
    return model, tokenizer


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def pad_right(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask) of token-id lists.

    Right padding keeps every real token at its true position; readers take the last real token.
    """
    width = max(len(x) for x in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids.to(device), mask.to(device)


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little compute is spent on padding."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
