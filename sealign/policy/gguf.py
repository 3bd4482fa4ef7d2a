"""Conversion of a GGUF checkpoint (llama.cpp's format) into an ordinary `save_pretrained` folder.

`transformers` reads a GGUF file (with the `gguf` package) and dequantises its weights, but the
model it returns keeps the GGUF quantisation settings in its config and cannot be saved as it is.
So a plain model of the same architecture is rebuilt from that config (without them), given the
dequantised weights, and saved beside the tokenizer and its chat template: from then on the
policy loads like any other folder, fast and without `gguf`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sealign.errors import UserError


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Write ``out_dir`` (config.json, weights, tokenizer with its chat template) from ``gguf_path``."""
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file; its own error is less direct)
    except ImportError as err:
        raise UserError("reading a GGUF model needs the real extra: pip install 'sealign[real]'") from err
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items()
                                     if k not in ("quantization_config", "_name_or_path", "transformers_version")})
    plain = type(loaded)(config)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output weights are absent from a state dict saved without them; anything else is a bad file.
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise UserError(f"GGUF model {gguf_path} does not fit its own config (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]})")
    plain.tie_weights()
    plain.eval()
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
