"""History sampler windows and KN bigram noising."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm.histories import HistorySampler
from imm_ray.lm.noising import BigramNoiser
from imm_ray.restricted.kneser_ney import KneserNeyBigram


def test_windows_end_with_the_word_and_are_corpus_slices():
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 12, size=500)
    sampler = HistorySampler(corpus, length=7)
    words = torch.tensor([[0, 3], [11, 5]])
    gen = torch.Generator().manual_seed(0)
    ends = sampler.sample_positions(words, k=40, generator=gen)
    windows = sampler.sample(words, k=40, generator=torch.Generator().manual_seed(0))
    assert windows.shape == (2, 2, 40, 7)
    assert torch.equal(windows[..., -1], words.unsqueeze(-1).expand(2, 2, 40))
    assert int(ends.min()) >= 6  # never crosses the corpus start
    c = torch.as_tensor(corpus)
    for idx in np.ndindex(*ends.shape):
        p = int(ends[idx])
        assert torch.equal(windows[idx], c[p - 6:p + 1])


def test_occurrences_before_the_first_full_window_are_not_used():
    corpus = np.array([9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2])
    sampler = HistorySampler(corpus, length=4)
    assert sampler.available(torch.tensor([9, 1, 2, 3, 8])).tolist() == [
        False, True, True, True, True]
    ends = sampler.sample_positions(torch.tensor([1]), k=200)
    assert set(ends.flatten().tolist()) == {9}  # position 1 is too close to the start
    with pytest.raises(ValueError, match="no dataset rows"):
        sampler.sample(torch.tensor([9]), k=1)


def test_draws_are_uniform_over_occurrences():
    corpus = np.array([0, 0, 0, 5, 1, 5, 2, 5, 3, 5, 4] * 50)
    sampler = HistorySampler(corpus, length=2)
    ends = sampler.sample_positions(torch.full((2000,), 5), k=1,
                                    generator=torch.Generator().manual_seed(1))
    prev = torch.as_tensor(corpus)[ends.flatten() - 1]
    freq = torch.bincount(prev, minlength=5)[:5].double() / len(prev)
    expected = torch.tensor([0.25, 0.25, 0.25, 0.25, 0.0], dtype=torch.double)
    torch.testing.assert_close(freq, expected, atol=0.03, rtol=0)


@pytest.fixture(scope="module")
def kn_and_corpus():
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, 31) ** 1.2
    ids = rng.choice(30, size=5000, p=p / p.sum())
    return KneserNeyBigram.fit(ids, 30), ids


def test_noising_rate_is_gamma_of_previous_word(kn_and_corpus):
    kn, ids = kn_and_corpus
    noiser = BigramNoiser(kn, gamma0=0.5)
    expected = (0.5 * kn.successor_types.double() / kn.context_counts.double()).clamp(max=1)
    torch.testing.assert_close(noiser.gamma.double(), expected, atol=1e-6, rtol=0)
    stream = torch.as_tensor(ids).repeat(40).view(8, -1)  # [8, 25000]
    noised, hit = noiser.noise(stream, generator=torch.Generator().manual_seed(0))
    assert not bool(hit[:, 0].any())
    assert torch.equal(noised[~hit], stream[~hit])
    prev = stream[:, :-1]
    for v in (0, 1, 5):
        sel = prev == v
        rate = hit[:, 1:][sel].double().mean().item()
        n = int(sel.sum())
        g = float(expected[v])
        assert abs(rate - g) < 4 * (g * (1 - g) / n) ** 0.5 + 1e-3, (v, rate, g)


def test_replacements_follow_the_continuation_distribution(kn_and_corpus):
    kn, ids = kn_and_corpus
    noiser = BigramNoiser(kn, gamma0=1.0)
    stream = torch.as_tensor(ids).repeat(20).view(4, -1)
    noised, hit = noiser.noise(stream, generator=torch.Generator().manual_seed(2))
    draws = noised[hit]
    freq = torch.bincount(draws, minlength=30).double() / len(draws)
    torch.testing.assert_close(freq, kn.pcont.double(), atol=0.01, rtol=0)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="noise_gamma"):
            BigramNoiser(kn, gamma0=bad)
