"""The fitted multinomial logistic restricted model against hand computations and a
general-purpose optimiser."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from imm_ray.protocols import RestrictedModel
from imm_ray.restricted.logistic import LogisticRestricted
from imm_ray.tabular.data import Column


def test_one_hot_restricted_column_without_penalty_gives_the_class_frequencies():
    """With a categorical column (one-hot + intercept) and l2 = 0 the model is saturated:
    its probabilities are the empirical class frequencies of each category."""
    codes = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0, 2])
    col = Column("colour", "categorical", ("a", "b", "c"), discrete=True)
    (model,) = LogisticRestricted.fit_batch(codes.view(1, -1, 1), y.view(1, -1), [col], 3,
                                            l2=0.0, max_iters=2000, tol=1e-9)
    assert isinstance(model, RestrictedModel) and model.converged
    p = model.probs(torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64))
    freq = torch.tensor([[1, 2, 1], [2, 1, 0], [1, 1, 3]], dtype=torch.float64)
    freq = freq / freq.sum(1, keepdim=True)
    # the zero count of (b, class 2) sits at -infinity: BFGS gets within ~1e-4 of it
    assert torch.allclose(p, freq, atol=2e-4)


def test_numeric_fit_equals_scipy_on_the_same_penalised_objective():
    g = np.random.default_rng(0)
    x = g.standard_normal((2, 40, 2)) * [3.0, 0.5] + [10.0, -1.0]
    y = (x[..., 0] - 10 + 2 * x[..., 1] + g.standard_normal((2, 40)) > 0).astype(np.int64)
    cols = [Column("a", "numeric"), Column("b", "numeric")]
    models = LogisticRestricted.fit_batch(torch.tensor(x), torch.tensor(y), cols, 2, l2=0.1)
    for s in range(2):
        z = (x[s] - x[s].mean(0)) / x[s].std(0)  # standardised on its fitting rows
        design = np.c_[np.ones(40), z]
        obj = lambda w, s=s, design=design: (np.logaddexp(0, design @ w) - y[s] * (design @ w)
                                             ).mean() + 0.05 * (w @ w)
        w = minimize(obj, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
        q = np.array([[10.5, -0.7], [4.0, 0.0]])
        expected = 1 / (1 + np.exp(-(np.c_[np.ones(2), (q - x[s].mean(0)) / x[s].std(0)] @ w)))
        got = models[s].probs(torch.tensor(q))[:, 1].numpy()
        assert np.allclose(got, expected, atol=1e-7)
    batch = models[1].params
    (alone,) = LogisticRestricted.fit_batch(torch.tensor(x[1:]), torch.tensor(y[1:]), cols, 2,
                                            l2=0.1)
    assert torch.allclose(batch, alone.params, atol=1e-10)


def test_bad_queries_are_named():
    cols = [Column("a", "numeric")]
    (model,) = LogisticRestricted.fit_batch(torch.randn(1, 10, 1, dtype=torch.float64),
                                            torch.randint(2, (1, 10)), cols, 2, l2=0.1)
    with pytest.raises(ValueError, match=r"restricted_contexts must be \[N, 1\]"):
        model.probs(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"restricted_contexts must be \[N, 1\]"):
        model.probs([[0.0]])
