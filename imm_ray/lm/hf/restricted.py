"""The restricted model on token ids: a Kneser-Ney bigram ``Pbar(w | v)`` over a subword
vocabulary, and the vocabulary checks shared by the trainer.

:func:`bigram` fits :class:`imm_ray.restricted.kneser_ney.KneserNeyBigram` on a token
stream: storage is sparse (one entry per distinct bigram plus ``[V]`` backoff vectors),
and :meth:`~imm_ray.restricted.kneser_ney.KneserNeyBigram.probs` builds only the rows a
batch asks for, so a 50,000-token vocabulary never needs a dense ``V x V`` table
(benchmarks/lm_transformers.py measures fit time and memory). Any object following
:class:`imm_ray.protocols.RestrictedModel` (``num_classes``, ``probs(prev_ids)``) can
replace it.
"""

from __future__ import annotations

import numpy as np
import torch

from imm_ray.protocols import RestrictedModel
from imm_ray.restricted.kneser_ney import KneserNeyBigram


def bigram(token_ids, vocab_size: int) -> KneserNeyBigram:
    """Kneser-Ney bigram on a ``[n]`` stream of token ids in ``[0, vocab_size)``; from the
    training split or a separate auxiliary corpus tokenised with the same tokenizer."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) \
            or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or len(ids) < 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"token_ids must be a 1-D integer stream of >= 2 tokens, got "
                         f"dtype {ids.dtype} shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"token_ids must lie in [0, vocab_size={vocab_size}), got range "
                         f"[{ids.min()}, {ids.max()}]: fit the bigram with len(tokenizer)")
    return KneserNeyBigram.fit(ids.astype(np.int64), int(vocab_size))


def padded_probs(restricted: RestrictedModel, prev: torch.Tensor, width: int) -> torch.Tensor:
    """``[N]`` previous tokens -> ``[N, width]`` rows of ``Pbar``; a model whose embedding
    is wider than the tokenizer (padded vocabularies, e.g. Qwen) gets zero mass on the
    padding ids, which never occur in text."""
    probs = restricted.probs(prev.cpu())
    if probs.shape[-1] < width:
        probs = torch.nn.functional.pad(probs, (0, width - probs.shape[-1]))
    return probs.to(prev.device)


def check_vocab(model_vocab: int, tokenizer_vocab: int | None,
                restricted: RestrictedModel | None) -> None:
    """The three vocabularies agree: the tokenizer's ids fit the model's embedding, and the
    restricted model is over the tokenizer's vocabulary (or the model's)."""
    if tokenizer_vocab is not None and tokenizer_vocab > model_vocab:
        raise ValueError(f"tokenizer vocabulary ({tokenizer_vocab}) is larger than the model's "
                         f"embedding ({model_vocab} rows): resize the embeddings "
                         "(model.resize_token_embeddings(len(tokenizer))) or use the model's "
                         "own tokenizer")
    if restricted is None:
        return
    if not isinstance(restricted, RestrictedModel):
        raise ValueError(f"restricted must have `num_classes` and `probs(prev_ids)`, got "
                         f"{type(restricted).__name__}")
    allowed = {model_vocab} | ({tokenizer_vocab} if tokenizer_vocab is not None else set())
    if restricted.num_classes not in allowed:
        raise ValueError(f"restricted model has num_classes={restricted.num_classes}, but the "
                         f"tokenizer has {tokenizer_vocab} tokens and the model {model_vocab}: "
                         "fit it on this tokenizer's ids with vocab_size=len(tokenizer)")
