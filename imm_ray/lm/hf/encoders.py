"""Offline pieces for masked-LM encoders: a BERT-style WordPiece tokenizer trained on a
corpus, and tiny BERT / RoBERTa / DistilBERT configs with random weights.

::

    tok = train_wordpiece(["ptb.train.txt"], vocab_size=4000, out_dir="tok")
    config = tiny_encoder_config("bert-tiny", len(tok), max_positions=64)
    mlm = AutoModelForMaskedLM.from_config(config)

The tokenizer lower-cases, splits like BERT, has ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids
0-4) and the pair template ``[CLS] a [SEP] b [SEP]`` with token types 0 / 1; it saves as a
``PreTrainedTokenizerFast`` folder (``AutoTokenizer`` reloads it). Nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

TINY = {
    "bert-tiny": ("bert", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=128)),
    "bert-mini": ("bert", dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=256)),
    "roberta-tiny": ("roberta", dict(hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=128)),
    "distilbert-tiny": ("distilbert", dict(dim=64, n_layers=2, n_heads=2, hidden_dim=128)),
}
"""Built-in encoder shapes (random weights, for tests, --quick and the PTB stand-in)."""


def train_wordpiece(files: Sequence[str | os.PathLike], vocab_size: int = 4000,
                    out_dir: str | os.PathLike | None = None):
    """A BERT-style WordPiece tokenizer trained on text ``files``:
    :func:`imm_ray.lm.hf.tokenizer.train_tokenizer` with ``kind="wordpiece"``."""
    from imm_ray.lm.hf.tokenizer import train_tokenizer

    return train_tokenizer(files, "wordpiece", vocab_size, out_dir)


def tiny_encoder_config(name: str, vocab_size: int, max_positions: int = 128,
                        dropout: float = 0.1, num_labels: int = 2):
    """The ``transformers`` config of a :data:`TINY` name."""
    from transformers import AutoConfig

    if name not in TINY:
        raise ValueError(f"model {name!r} is not a built-in encoder ({sorted(TINY)})")
    kind, sizes = TINY[name]
    if kind == "distilbert":
        extra = dict(max_position_embeddings=max_positions, dropout=dropout,
                     attention_dropout=dropout)
    else:
        extra = dict(max_position_embeddings=max_positions + (2 if kind == "roberta" else 0),
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return AutoConfig.for_model(kind, vocab_size=vocab_size, pad_token_id=0,
                                num_labels=num_labels, **sizes, **extra)
