"""Data of the logistic-regression toy (docs/lambda_vs_n.md, 'The toy').

``x ~ N(0, 1)`` is the restricted feature; the ``d`` extra features are
``xb_k = rho x + sqrt(1 - rho^2) e_k`` with ``e ~ N(0, I_d)`` (``rho = 0``: independent
of ``x``, the toy's default setting); labels ``y ~ Bernoulli(eps + (1 - 2 eps) sigmoid(w0 +
w1 x + wb . xb))`` with label-flip probability ``eps``. Default ``w = (0, 2, 1.5, -1)``:
Bayes accuracy 0.821, Bayes log-loss 0.387; the restricted model alone 0.715 / 0.550.

Reproducibility: a dataset is a pure function of ``(split, seed, n)``. Each seed has its
own numpy ``SeedSequence([split, seed])`` (:mod:`imm_ray.tabular.seeding`, the one place
the experiment's streams are defined) with separate streams for features and label
noise, filled row by row, so the first ``m`` points of the size-``n`` set are the
size-``m`` set (datasets are nested in ``n``) and no batch or Tune trial layout changes
them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from imm_ray.restricted.logistic_bayes import LogisticBayesRestricted
from imm_ray.tabular import seeding

SPLITS = ("train", "valid", "test")
"""The toy's splits, each its own stream of :mod:`imm_ray.tabular.seeding`."""


@dataclass(frozen=True)
class ToyProblem:
    """The data-generating process (hashable, so evaluation sets can be cached)."""

    weights: tuple[float, ...] = (0.0, 2.0, 1.5, -1.0)
    """(bias w0, weight of x, weights of the extra features); d = len(weights) - 2."""
    rho: float = 0.0
    """Correlation of each extra feature with x, in (-1, 1); 0 is the toy's default setting."""
    label_noise: float = 0.0
    """Probability of flipping each label, in [0, 0.5)."""

    def __post_init__(self):
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        self.restricted()  # validates weights, rho and label_noise with clear messages

    @property
    def num_extra(self) -> int:
        return len(self.weights) - 2

    def restricted(self, num_nodes: int = 64) -> LogisticBayesRestricted:
        """The exact restricted model ``Pbar(y | x)`` of this problem."""
        return LogisticBayesRestricted(self.weights, self.rho, self.label_noise, num_nodes)

    def prob_one(self, x: Tensor, xb: Tensor) -> Tensor:
        """Bayes ``P(y = 1 | x, xb)``: ``[...]``, ``[..., d]`` -> ``[...]``."""
        w = torch.tensor(self.weights, dtype=x.dtype)
        z = w[0] + w[1] * x + (xb * w[2:]).sum(-1)
        return self.label_noise + (1 - 2 * self.label_noise) * torch.sigmoid(z)


class ToyData(NamedTuple):
    """A dataset, or a batch of datasets stacked along leading dims."""

    x: Tensor
    """``[..., n]`` float64 restricted feature."""
    xb: Tensor
    """``[..., n, d]`` float64 extra features."""
    y: Tensor
    """``[..., n]`` int64 labels in {0, 1}."""


def sample(problem: ToyProblem, seed: int, n: int, split: str = "train") -> ToyData:
    """The size-``n`` dataset of ``seed`` (nested: a prefix of any larger one)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    features, labels = (np.random.default_rng(s) for s in
                        seeding.seed_sequence(split, int(seed)).spawn(2))
    g = torch.from_numpy(features.standard_normal((n, 1 + problem.num_extra)))
    u = torch.from_numpy(labels.random(n))
    x = g[:, 0]
    xb = problem.rho * x[:, None] + math.sqrt(1 - problem.rho**2) * g[:, 1:]
    y = (u < problem.prob_one(x, xb)).long()
    return ToyData(x, xb, y)


def sample_batch(problem: ToyProblem, seeds: Sequence[int], n: int,
                 split: str = "train") -> ToyData:
    """Datasets of several seeds stacked: ``x [S, n]``, ``xb [S, n, d]``, ``y [S, n]``."""
    if len(seeds) == 0:
        raise ValueError("seeds must not be empty")
    parts = [sample(problem, s, n, split) for s in seeds]
    return ToyData(*(torch.stack(t) for t in zip(*parts, strict=True)))


@functools.lru_cache(maxsize=4)
def evaluation_set(problem: ToyProblem, split: str, size: int, seed: int = 0) -> ToyData:
    """A large held-out set (cached per process: Tune reuses workers across trials)."""
    if split == "train":
        raise ValueError("evaluation sets come from the 'valid' or 'test' split")
    return sample(problem, seed, size, split)


def bin_of(x: Tensor, num_bins: int) -> Tensor:
    """Equal-probability bins of ``N(0, 1)``: ``[...]`` -> ``[...]`` int64 in ``[0, num_bins)``."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"num_bins must be an integer >= 1, got {num_bins!r}")
    q = torch.arange(1, num_bins, dtype=torch.float64) / num_bins
    return torch.bucketize(x.to(torch.float64), torch.special.ndtri(q))


def induced_weights(problem: ToyProblem, x: Tensor, num_bins: int) -> Tensor | None:
    """``pi(xb_j | x_i)`` over the training pool: ``[..., n]`` -> ``[..., n, n]`` or None.

    ``rho == 0``: None, i.e. uniform over the whole pool (exact empirical induced model).
    Otherwise the empirical group of ``x_i``: uniform over the training points whose ``x``
    falls in the same bin (each point is in its own group, so rows are never empty).
    """
    if problem.rho == 0:
        return None
    b = bin_of(x, num_bins)
    same = (b.unsqueeze(-1) == b.unsqueeze(-2)).to(torch.float64)
    return same / same.sum(-1, keepdim=True)
