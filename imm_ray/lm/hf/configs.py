"""Models by name: small built-in configs built with random weights, or any local HF folder.

``build_model("gpt2-tiny", vocab_size=8000, n_positions=128)`` builds a 2-layer GPT-2 from
its config (nothing downloaded); a folder (or a hub name where the hub is reachable) goes
to ``AutoModelForCausalLM.from_pretrained``. ``gpt2-small`` is GPT-2 small's shape (12 x
768, 124M parameters with a 50k vocabulary) for the GPU script.
"""

from __future__ import annotations

import os
from pathlib import Path

BUILTIN = {
    "gpt2-tiny": ("gpt2", dict(n_embd=64, n_layer=2, n_head=2)),
    "gpt2-mini": ("gpt2", dict(n_embd=128, n_layer=2, n_head=4)),
    "gpt2-small": ("gpt2", dict(n_embd=768, n_layer=12, n_head=12)),
    "llama-tiny": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=1)),
    "qwen2-tiny": ("qwen2", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=1)),
    "mistral-tiny": ("mistral", dict(hidden_size=64, intermediate_size=128,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     num_key_value_heads=1)),
}


def tiny_config(name: str, vocab_size: int, n_positions: int = 128, dropout: float = 0.1):
    """The ``transformers`` config of a built-in model name."""
    from transformers import AutoConfig

    if name not in BUILTIN:
        raise ValueError(f"model {name!r} is not a built-in config ({sorted(BUILTIN)}) "
                         "nor a local model folder")
    kind, sizes = BUILTIN[name]
    if kind == "gpt2":
        extra = dict(n_positions=n_positions, resid_pdrop=dropout, embd_pdrop=dropout,
                     attn_pdrop=dropout)
    else:
        extra = dict(max_position_embeddings=n_positions, attention_dropout=dropout)
    return AutoConfig.for_model(kind, vocab_size=vocab_size, bos_token_id=0, eos_token_id=0,
                                pad_token_id=0, **sizes, **extra)


def build_model(name: str | os.PathLike, vocab_size: int | None = None, n_positions: int = 128,
                dropout: float = 0.1, seed: int = 0):
    """A causal LM: a built-in config with random weights (seeded) or ``from_pretrained``."""
    import torch
    from transformers import AutoModelForCausalLM

    if str(name) in BUILTIN:
        if vocab_size is None:
            raise ValueError("vocab_size: a built-in config needs the tokenizer's vocabulary")
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(tiny_config(str(name), vocab_size, n_positions,
                                                            dropout))
    if not Path(name).is_dir() and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ValueError(f"model {str(name)!r} is neither a built-in config "
                         f"({sorted(BUILTIN)}) nor a local folder, and HF_HUB_OFFLINE=1")
    return AutoModelForCausalLM.from_pretrained(str(name))
