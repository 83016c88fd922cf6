"""The KN bigram on token ids: proper rows, sparse at a 50k vocabulary, vocabulary checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm.hf import bigram
from imm_ray.lm.hf.restricted import check_vocab, padded_probs


def test_rows_sum_to_one_and_match_log_prob(corpus, kn):
    prev = torch.as_tensor(corpus.train_ids[:50])
    rows = kn.probs(prev).double()
    assert torch.allclose(rows.sum(-1), torch.ones(50, dtype=torch.float64), atol=1e-5)
    nxt = torch.as_tensor(corpus.train_ids[1:51])
    picked = rows.gather(1, nxt.unsqueeze(1)).squeeze(1)
    assert torch.allclose(picked.log(), kn.log_prob(prev, nxt), atol=1e-5)


def test_a_50k_vocabulary_is_stored_sparsely():
    v = 50_000
    ids = np.random.default_rng(0).zipf(1.2, size=100_000) % v
    model = bigram(ids, v)
    sizes = [t.numel() for t in (model.codes, model.disc_terms, model.gamma, model.pcont)]
    assert max(sizes) <= 100_000 and sum(sizes) < v * 10  # nothing like V x V = 2.5e9
    rows = model.probs(torch.tensor([0, 1, 1]))
    assert rows.shape == (3, v) and torch.allclose(rows.sum(-1), torch.ones(3), atol=1e-4)


def test_padded_rows_put_no_mass_on_padding_ids(kn):
    rows = padded_probs(kn, torch.tensor([3, 4]), kn.num_classes + 5)
    assert rows.shape == (2, kn.num_classes + 5) and rows[:, -5:].eq(0).all()


@pytest.mark.parametrize("call, match", [
    (lambda: bigram([0, 5, 9], 5), r"token_ids must lie in \[0, vocab_size=5\)"),
    (lambda: bigram([0, 1], 1), "vocab_size must be an integer >= 2"),
    (lambda: bigram([[0, 1]], 4), "token_ids must be a 1-D integer stream"),
    (lambda: check_vocab(10, 12, None), r"tokenizer vocabulary \(12\) is larger"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_restricted_model_over_another_vocabulary_is_refused(kn):
    with pytest.raises(ValueError, match="restricted model has num_classes"):
        check_vocab(kn.num_classes + 7, kn.num_classes - 1, kn)
