"""The toy's data: reproducible, nested in n, independent of batching; the documented figures."""

import math

import pytest
import torch

from imm_ray.experiments.lambda_vs_n.config import ToyConfig
from imm_ray.experiments.lambda_vs_n.toy.data import (
    ToyProblem,
    bin_of,
    evaluation_set,
    induced_weights,
    sample,
    sample_batch,
)


def test_a_dataset_depends_only_on_split_seed_and_n():
    p = ToyProblem()
    a, b = sample(p, 7, 20), sample(p, 7, 20)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(sample(p, 8, 20).x, a.x)
    assert not torch.equal(sample(p, 7, 20, "test").x, a.x)
    assert a.x.shape == (20,) and a.xb.shape == (20, 2) and a.y.shape == (20,)
    assert a.x.dtype == torch.float64 and a.y.dtype == torch.int64


def test_datasets_are_nested_in_n_and_batching_does_not_change_them():
    p = ToyProblem()
    big = sample(p, 3, 50)
    for n in (1, 2, 7, 33):
        small = sample(p, 3, n)
        assert all(torch.equal(s, b[:n]) for s, b in zip(small, big, strict=True))
    batch = sample_batch(p, [5, 3, 9], 12)
    assert batch.x.shape == (3, 12) and batch.xb.shape == (3, 12, 2)
    assert torch.equal(batch.xb[1], sample(p, 3, 12).xb)


def test_documented_bayes_and_restricted_figures():
    p = ToyProblem()
    t = evaluation_set(p, "test", 200_000)
    bayes = p.prob_one(t.x, t.xb)
    y = t.y.to(torch.float64)
    acc = lambda prob: ((prob > 0.5).long() == t.y).double().mean().item()
    logloss = lambda prob: torch.nn.functional.binary_cross_entropy(prob, y).item()
    assert acc(bayes) == pytest.approx(0.821, abs=0.004)
    assert logloss(bayes) == pytest.approx(0.387, abs=0.004)
    pbar = p.restricted().prob_one(t.x)
    assert acc(pbar) == pytest.approx(0.715, abs=0.004)
    assert logloss(pbar) == pytest.approx(0.550, abs=0.004)
    # labels follow the Bayes probabilities: calibration in 5 bins
    for lo in torch.linspace(0, 0.8, 5):
        m = (bayes >= lo) & (bayes < lo + 0.2)
        assert y[m].mean().item() == pytest.approx(bayes[m].mean().item(), abs=0.01)


def test_dependence_label_noise_and_extra_features():
    p = ToyProblem(weights=(0.0, 1.0, 0.5, 0.5, -0.5), rho=0.6, label_noise=0.2)
    d = sample(p, 0, 100_000)
    assert d.xb.shape == (100_000, 3) and p.num_extra == 3
    for k in range(3):
        corr = torch.corrcoef(torch.stack([d.x, d.xb[:, k]]))[0, 1].item()
        assert corr == pytest.approx(0.6, abs=0.01)
    prob = p.prob_one(d.x, d.xb)
    assert prob.min().item() >= 0.2 - 1e-12 and prob.max().item() <= 0.8 + 1e-12
    assert d.y.double().mean().item() == pytest.approx(prob.mean().item(), abs=0.005)


def test_induced_weights_are_the_empirical_groups_of_x():
    assert induced_weights(ToyProblem(), torch.randn(2, 5), 4) is None  # independent: pool
    p = ToyProblem(rho=0.5)
    x = torch.tensor([[-2.0, -1.0, 0.1, 0.2, 1.5, -1.2]], dtype=torch.float64)
    w = induced_weights(p, x, num_bins=4)[0]
    assert torch.allclose(w.sum(-1), torch.ones(6, dtype=torch.float64))
    bins = bin_of(x[0], 4).tolist()  # quartiles of N(0,1): -0.674, 0, 0.674
    assert bins == [0, 0, 2, 2, 3, 0]
    for i in range(6):
        for j in range(6):
            expected = (bins[i] == bins[j]) / bins.count(bins[i])
            assert w[i, j].item() == pytest.approx(expected)
    # equal-probability bins
    counts = torch.bincount(bin_of(torch.randn(200_000, dtype=torch.float64), 5), minlength=5)
    assert torch.allclose(counts.double() / 200_000, torch.full((5,), 0.2, dtype=torch.float64),
                          atol=0.005)


@pytest.mark.parametrize("call,match", [
    (lambda: sample(ToyProblem(), 0, 5, split="dev"), "split must be one of"),
    (lambda: sample(ToyProblem(), -1, 5), "seed must be an integer >= 0"),
    (lambda: sample(ToyProblem(), 0, 0), "n must be an integer >= 1"),
    (lambda: sample_batch(ToyProblem(), [], 5), "seeds must not be empty"),
    (lambda: ToyProblem(rho=-1.0), "rho must be in"),
    (lambda: ToyProblem(weights=(1.0,)), "at least 2 entries"),
    (lambda: evaluation_set(ToyProblem(), "train", 10), "valid' or 'test"),
    (lambda: bin_of(torch.zeros(3), 0), "num_bins"),
    (lambda: ToyConfig(eval_seed=-1), "--eval-seed must be an integer >= 0"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_problem_is_hashable_for_caching():
    assert hash(ToyProblem(weights=[0, 2, 1.5, -1])) == hash(ToyProblem())
    assert math.isclose(ToyProblem().weights[1], 2.0)
