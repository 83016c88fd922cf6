"""The exact restricted model of the logistic toy: ``Pbar(y | x)`` by Gauss-Hermite.

The toy (docs/lambda_vs_n.md, 'The toy'; ``imm_ray/experiments/lambda_vs_n/toy/data.py``) draws ``x
~ N(0, 1)``, extra
features ``xb_k = rho x + sqrt(1 - rho^2) e_k`` with ``e ~ N(0, I_d)``, and
``P(y = 1 | x, xb) = eps + (1 - 2 eps) sigmoid(w0 + w1 x + wb . xb)`` (``eps``: label
flip probability). Given ``x`` only, ``wb . xb`` is normal with mean ``rho x sum(wb)``
and standard deviation ``sqrt(1 - rho^2) |wb|``, so the Bayes-optimal one-feature
predictor is a 1-D Gaussian integral::

    Pbar(y = 1 | x) = eps + (1 - 2 eps) E_Z sigmoid(w0 + (w1 + rho sum(wb)) x + s Z),
    s = sqrt(1 - rho^2) |wb|,  Z ~ N(0, 1),

computed with ``num_nodes``-point probabilists' Gauss-Hermite quadrature (64 nodes are
exact to ~1e-12 for the default weights; ``tests/restricted/test_logistic_bayes.py``
checks it against Monte Carlo).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


@functools.lru_cache(maxsize=8)
def _gauss_hermite(num_nodes: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of ``E f(Z) ~ sum_i w_i f(t_i)``, ``Z ~ N(0, 1)`` (an eigenproblem,
    ~30 ms at 64 nodes: computed once per process)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    return (torch.as_tensor(nodes, dtype=torch.float64),
            torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=torch.float64))


class LogisticBayesRestricted:
    """``Pbar(y | x)`` of the logistic toy; follows :class:`imm_ray.protocols.RestrictedModel`.

    Args:
        weights: ``(w0, w1, wb_1, ..., wb_d)``: bias, weight of ``x``, weights of the
            ``d >= 0`` extra features.
        rho: correlation of each extra feature with ``x``, in ``(-1, 1)``.
        label_noise: label flip probability ``eps`` in ``[0, 0.5)``.
        num_nodes: Gauss-Hermite nodes.
    """

    num_classes = 2

    def __init__(self, weights: Sequence[float], rho: float = 0.0, label_noise: float = 0.0,
                 num_nodes: int = 64):
        if len(weights) < 2:
            raise ValueError(f"weights must be (w0, w1, wb...) with at least 2 entries, got "
                             f"{tuple(weights)}")
        if not all(math.isfinite(float(w)) for w in weights):
            raise ValueError(f"weights must be finite, got {tuple(weights)}")
        if not -1.0 < rho < 1.0:
            raise ValueError(f"rho must be in (-1, 1), got {rho!r}")
        if not 0.0 <= label_noise < 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5), got {label_noise!r}")
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"num_nodes must be an integer >= 1, got {num_nodes!r}")
        w = [float(v) for v in weights]
        self.bias = w[0]
        self.slope = w[1] + rho * sum(w[2:])  # E[wb . xb | x] = rho x sum(wb)
        self.spread = math.sqrt(1.0 - rho**2) * math.sqrt(sum(v * v for v in w[2:]))
        self.label_noise = label_noise
        self.nodes, self.node_weights = _gauss_hermite(num_nodes)

    def prob_one(self, x: Tensor) -> Tensor:
        """``[...]`` values of ``x`` -> ``[...]`` ``Pbar(y = 1 | x)``, in float64."""
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError("x must be a floating-point tensor of restricted features")
        dtype = torch.float64
        nodes = self.nodes.to(x.device, dtype)
        mean = self.bias + self.slope * x.to(dtype)
        p = (torch.sigmoid(mean.unsqueeze(-1) + self.spread * nodes)
             * self.node_weights.to(x.device, dtype)).sum(-1)
        return self.label_noise + (1.0 - 2.0 * self.label_noise) * p

    def probs(self, restricted_contexts: Tensor) -> Tensor:
        """``[...]`` values of ``x`` -> ``[..., 2]`` rows ``(Pbar(0 | x), Pbar(1 | x))``."""
        p = self.prob_one(restricted_contexts)
        return torch.stack([1.0 - p, p], dim=-1)
