"""restricted_data: the KN bigram from the whole training split or from exactly the
training prefix, cached per prefix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm import data as lmdata
from imm_ray.lm.bigram import bigram_tokens, cache_path, restricted_model
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import LMTrainer


def _bigram_codes(tokens: np.ndarray, vocab: int) -> set[int]:
    """Every (prev, next) pair of a circular stream, as prev * V + next."""
    return set((np.roll(tokens, 1) * vocab + tokens).tolist())


def test_same_counts_only_bigrams_of_the_prefix(tiny_corpus):
    """A corpus whose suffix holds bigrams the prefix lacks: with "same" none of them
    (nor any count from the suffix) reaches the model; with "full" they do."""
    frac = 0.3
    prefix = lmdata.train_prefix(tiny_corpus.train, frac)
    v = tiny_corpus.vocab_size
    same = restricted_model(tiny_corpus, frac, "same")
    full = restricted_model(tiny_corpus, frac, "full")
    assert set(same.codes.tolist()) == _bigram_codes(prefix, v)
    assert int(same.context_counts.sum()) == len(prefix)  # every count from the prefix
    suffix_only = _bigram_codes(tiny_corpus.train, v) - _bigram_codes(prefix, v)
    assert suffix_only and suffix_only <= set(full.codes.tolist())
    assert not suffix_only & set(same.codes.tolist())
    assert int(full.context_counts.sum()) == len(tiny_corpus.train)


def test_full_data_ignores_the_fraction():
    train = np.arange(100) % 7
    assert np.array_equal(bigram_tokens(train, 0.2, "full"), train)
    assert len(bigram_tokens(train, 0.2, "same")) == 20
    with pytest.raises(ValueError, match="restricted_data"):
        bigram_tokens(train, 0.2, "half")


def test_cached_per_prefix_and_refitted_when_corrupt(tiny_corpus, tiny_corpus_path, tmp_path,
                                                      capsys):
    path = tmp_path / tiny_corpus_path.name
    path.write_bytes(tiny_corpus_path.read_bytes())
    a = restricted_model(tiny_corpus, 0.3, "same", path)
    b = restricted_model(tiny_corpus, 0.5, "same", path)
    files = sorted(p.name for p in tmp_path.glob("*.kn*.npz"))
    n03 = len(lmdata.train_prefix(tiny_corpus.train, 0.3))
    n05 = len(lmdata.train_prefix(tiny_corpus.train, 0.5))
    assert files == sorted([cache_path(path, n03).name, cache_path(path, n05).name])
    prev = torch.arange(tiny_corpus.vocab_size)
    assert torch.equal(restricted_model(tiny_corpus, 0.3, "same", path).probs(prev),
                       a.probs(prev))
    assert not torch.equal(a.probs(prev), b.probs(prev))
    cache_path(path, n03).write_bytes(b"PK\x03\x04 truncated")
    again = restricted_model(tiny_corpus, 0.3, "same", path)
    assert "refitting the bigram" in capsys.readouterr().err
    assert torch.equal(again.probs(prev), a.probs(prev))


def test_trainer_uses_the_prefix_bigram_for_every_method(tiny_corpus_path):
    cfg = dict(data_path=str(tiny_corpus_path), emb_size=8, hidden_size=8, batch_size=4,
               bptt=6, train_fraction=0.4, restricted_data="same", method="noising")
    tr = LMTrainer(LMConfig(**cfg))
    prefix = lmdata.train_prefix(lmdata.load_corpus(tiny_corpus_path).train, 0.4)
    assert int(tr.kn.context_counts.sum()) == len(prefix)
    assert tr.noiser.q.shape == (tr.vocab_size,)
