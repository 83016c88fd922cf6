"""The toy's exact restricted model: Gauss-Hermite quadrature against Monte Carlo."""

import math

import pytest
import torch

from imm_ray.protocols import RestrictedModel, check_restricted_model
from imm_ray.restricted.logistic_bayes import LogisticBayesRestricted


def monte_carlo(weights, rho, eps, x, samples=400_000, seed=0):
    """Slow twin: draw the extra features given x and average the true P(y=1|x, xb)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor(weights, dtype=torch.float64)
    d = len(weights) - 2
    out = []
    for xv in x.tolist():
        e = torch.randn(samples, d, generator=g, dtype=torch.float64)
        xb = rho * xv + math.sqrt(1 - rho**2) * e
        p = eps + (1 - 2 * eps) * torch.sigmoid(w[0] + w[1] * xv + xb @ w[2:])
        out.append(p.mean().item())
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("weights,rho,eps", [
    ((0.0, 2.0, 1.5, -1.0), 0.0, 0.0),     # the default toy
    ((0.3, -1.0, 0.5, 2.0, -1.5), 0.6, 0.0),  # 3 extras, dependent on x
    ((-0.5, 1.0, 3.0), -0.3, 0.1),         # 1 extra, label noise
])
def test_quadrature_matches_monte_carlo(weights, rho, eps):
    model = LogisticBayesRestricted(weights, rho=rho, label_noise=eps)
    x = torch.tensor([-2.5, -1.0, 0.0, 0.3, 1.7], dtype=torch.float64)
    mc = monte_carlo(weights, rho, eps, x)
    # MC standard error is below 0.5 / sqrt(400k) = 8e-4; allow 4 of them.
    assert torch.allclose(model.prob_one(x), mc, atol=3.2e-3)


def test_quadrature_has_converged_and_rows_are_distributions():
    x = torch.linspace(-4, 4, 41, dtype=torch.float64)
    p64 = LogisticBayesRestricted((0.0, 2.0, 1.5, -1.0)).probs(x)
    p200 = LogisticBayesRestricted((0.0, 2.0, 1.5, -1.0), num_nodes=200).probs(x)
    assert torch.allclose(p64, p200, atol=1e-10)
    assert p64.shape == (41, 2) and torch.allclose(p64.sum(-1), torch.ones(41, dtype=torch.float64))
    assert bool((p64 > 0).all())
    # monotone in x for a positive effective slope, symmetric around 0.5 at w0 = 0
    assert bool((p64[1:, 1] > p64[:-1, 1]).all())
    assert torch.allclose(p64[:, 1] + p64.flip(0)[:, 1], torch.ones(41, dtype=torch.float64))


def test_follows_the_restricted_model_protocol_and_batches():
    model = LogisticBayesRestricted((0.0, 2.0, 1.5, -1.0))
    assert isinstance(model, RestrictedModel)
    check_restricted_model(model, num_classes=2)
    x = torch.randn(3, 5)
    assert model.probs(x).shape == (3, 5, 2)
    assert torch.allclose(model.probs(x)[1, 2], model.probs(x[1, 2:3])[0])


def test_no_extra_features_is_the_plain_logistic_model():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    model = LogisticBayesRestricted((0.5, 1.5))
    assert torch.allclose(model.prob_one(x), torch.sigmoid(0.5 + 1.5 * x), atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"weights": (1.0,)}, "at least 2 entries"),
    ({"weights": (0.0, float("nan"))}, "finite"),
    ({"rho": 1.0}, "rho must be in"),
    ({"label_noise": 0.5}, "label_noise must be in"),
    ({"num_nodes": 0}, "num_nodes"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogisticBayesRestricted(**{"weights": (0.0, 2.0, 1.5, -1.0), **kwargs})
    with pytest.raises(ValueError, match="floating-point"):
        LogisticBayesRestricted((0.0, 1.0)).probs(torch.tensor([1, 2]))
