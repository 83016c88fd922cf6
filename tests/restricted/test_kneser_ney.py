"""Modified Kneser-Ney bigram against a dense brute-force implementation.

The model and its formulas: docs/lm_ptb.md, 'The restricted model: a Kneser-Ney bigram',
and :mod:`imm_ray.restricted.kneser_ney`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm.data import DATA_DIR_ENV, default_data_dir, load_corpus, prepare_corpus
from imm_ray.protocols import check_restricted_model
from imm_ray.restricted.kneser_ney import KneserNeyBigram


def brute_force_kn(ids: np.ndarray, vocab_size: int):
    """Dense loops over the formulas; the stream is circular (ids[-1] precedes ids[0])."""
    c = np.zeros((vocab_size, vocab_size))
    for a, b in zip(np.roll(ids, 1), ids, strict=True):
        c[a, b] += 1
    nc = [int((c == i).sum()) for i in (1, 2, 3, 4)]
    y = nc[0] / (nc[0] + 2 * nc[1])
    d = [1 - 2 * y * nc[1] / nc[0], 2 - 3 * y * nc[2] / nc[1], 3 - 4 * y * nc[3] / nc[2]]
    cont = np.array([(c[:, w] > 0).sum() for w in range(vocab_size)], dtype=float)
    cont[cont == 0] = 1.0
    pcont = cont / cont.sum()
    p = np.zeros((vocab_size, vocab_size))
    for v in range(vocab_size):
        cv = c[v].sum()
        if cv == 0:
            p[v] = pcont
            continue
        disc = lambda x: 0.0 if x == 0 else d[0] if x == 1 else d[1] if x == 2 else d[2]
        gamma = sum(disc(c[v, w]) for w in range(vocab_size)) / cv
        for w in range(vocab_size):
            p[v, w] = max(c[v, w] - disc(c[v, w]), 0) / cv + gamma * pcont[w]
    return p, tuple(d)


PTB_DIR = default_data_dir()


@pytest.fixture(scope="module")
def ptb_corpus(tmp_path_factory):
    if not PTB_DIR.is_dir():
        pytest.skip(f"PTB not found at {PTB_DIR} (set {DATA_DIR_ENV})")
    return load_corpus(prepare_corpus(PTB_DIR, cache_dir=tmp_path_factory.mktemp("ptb")))


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    vocab = 25
    probs = 1 / np.arange(1, vocab - 1) ** 1.1  # the last 2 words never occur
    ids = rng.choice(vocab - 2, size=3000, p=probs / probs.sum())
    ids[0] = vocab - 3  # a word seen once, at the corpus start
    return ids, vocab


def test_matches_brute_force(small):
    ids, vocab = small
    kn = KneserNeyBigram.fit(ids, vocab)
    dense, d = brute_force_kn(ids, vocab)
    np.testing.assert_allclose(kn.discounts, d, rtol=1e-12)
    rows = kn.probs(torch.arange(vocab)).double().numpy()
    np.testing.assert_allclose(rows, dense, atol=1e-6)
    v, w = torch.meshgrid(torch.arange(vocab), torch.arange(vocab), indexing="ij")
    np.testing.assert_allclose(kn.log_prob(v, w).exp().numpy(), dense, atol=1e-6)


def test_rows_sum_to_one_and_are_positive(small):
    ids, vocab = small
    kn = KneserNeyBigram.fit(ids, vocab)
    rows = kn.probs(torch.tensor([[0, 3], [vocab - 1, int(ids[-1])]]))
    assert rows.shape == (2, 2, vocab)
    torch.testing.assert_close(rows.sum(-1), torch.ones(2, 2), atol=1e-5, rtol=0)
    assert bool((rows > 0).all())


def test_vocabulary_mismatch_raises(small):
    ids, vocab = small
    kn = KneserNeyBigram.fit(ids, vocab)
    with pytest.raises(ValueError, match="num_classes"):
        check_restricted_model(kn, vocab + 1)
    with pytest.raises(ValueError, match="vocabulary"):
        kn.probs(torch.tensor([vocab]))
    with pytest.raises(ValueError, match="vocab_size"):
        KneserNeyBigram.fit(ids, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_ids_are_rejected_not_truncated(small, dtype):
    ids, vocab = small
    kn = KneserNeyBigram.fit(ids, vocab)
    good = torch.tensor([1, 2])
    with pytest.raises(ValueError, match="prev_tokens must be integer"):
        kn.log_prob(torch.tensor([1.7, 2.2], dtype=dtype), good)
    with pytest.raises(ValueError, match="next_tokens must be integer"):
        kn.log_prob(good, torch.tensor([0.5, 3.9], dtype=dtype))
    with pytest.raises(ValueError, match="prev_tokens must be integer"):
        kn.probs(torch.tensor([1.7], dtype=dtype))
    with pytest.raises(ValueError, match="vocabulary"):
        kn.log_prob(good, torch.tensor([0, vocab]))
    assert kn.log_prob(good.int(), good.int()).dtype == torch.float64


def test_ptb_perplexities(ptb_corpus):
    kn = KneserNeyBigram.fit(ptb_corpus.train, ptb_corpus.vocab_size)
    valid, test = kn.perplexity(ptb_corpus.valid), kn.perplexity(ptb_corpus.test)
    assert 185 < test < 187, test  # 185.7 measured
    assert 198 < valid < 201, valid  # 199.5 measured
    assert kn.probs(torch.arange(ptb_corpus.vocab_size)[:50]).min() > 0


def test_arrays_round_trip_gives_the_same_model(small):
    ids, vocab = small
    kn = KneserNeyBigram.fit(ids, vocab)
    back = KneserNeyBigram.from_arrays(kn.to_arrays())
    prev = torch.arange(vocab)
    assert back.discounts == kn.discounts and back.num_classes == vocab
    assert torch.equal(back.probs(prev), kn.probs(prev))
