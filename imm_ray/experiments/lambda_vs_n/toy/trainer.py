"""The toy's cells on the generic batched trainer (:mod:`imm_ray.tabular.trainer`).

The full model is logistic regression ``Q(y = 1 | x, xb) = sigmoid(w . (1, x, xb))``: the
two-class :class:`imm_ray.tabular.models.LinearSoftmax` on design rows ``(1, x, xb)`` whose
restricted part is ``(1, x)``. ``Pbar(y | x)`` is the exact restricted model
(:class:`imm_ray.restricted.logistic_bayes.LogisticBayesRestricted`); the induced model of
``x_i`` averages over the whole training pool ``(x_i, xb_j)`` (``rho = 0``), or over
``x_i``'s empirical group (``rho != 0``,
:func:`imm_ray.experiments.lambda_vs_n.toy.data.induced_weights`). Every
seed's models are scored on the same large validation and test sets.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from imm_ray.experiments.lambda_vs_n.config import ToyConfig
from imm_ray.experiments.lambda_vs_n.toy.data import (
    ToyData,
    ToyProblem,
    evaluation_set,
    induced_weights,
    sample_batch,
)
from imm_ray.tabular.config import FitConfig
from imm_ray.tabular.objective import Induced
from imm_ray.tabular.trainer import CellData, EvalSet, TrainSet
from imm_ray.tabular.trainer import train_cell as train_generic_cell

RESTRICTED_WIDTH = 2
"""Design columns ``(1, x)``: the restricted part."""


def design(x: Tensor, xb: Tensor) -> Tensor:
    """``[..., n]``, ``[..., n, d]`` -> ``[..., n, 2 + d]`` rows ``(1, x, xb)``."""
    return torch.cat([torch.ones_like(x).unsqueeze(-1), x.unsqueeze(-1), xb], dim=-1)


def train_set(cfg: ToyConfig, data: ToyData, seeds: Sequence[int]) -> TrainSet:
    """The trainer's view of stacked toy datasets ``[S, n]``."""
    problem = cfg.problem()
    weights = induced_weights(problem, data.x, cfg.num_bins)
    return TrainSet(design(data.x, data.xb), data.y,
                    problem.restricted(cfg.quadrature_nodes).probs(data.x),
                    Induced(weights=weights), tuple(int(s) for s in seeds))


@functools.lru_cache(maxsize=4)
def eval_set(problem: ToyProblem, split: str, size: int, seed: int, nodes: int) -> EvalSet:
    """A large held-out set shared by every seed (``G = 1``), cached per process."""
    d = evaluation_set(problem, split, size, seed)
    return EvalSet(design(d.x, d.xb).unsqueeze(0), d.y.unsqueeze(0),
                   problem.restricted(nodes).probs(d.x).unsqueeze(0))


def cell_data(cfg: ToyConfig, n: int, seeds: Sequence[int]) -> CellData:
    """Training sets of ``seeds`` at size ``n`` and the shared held-out sets."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    problem = cfg.problem()
    held = {s: eval_set(problem, s, getattr(cfg, f"{s}_size"), cfg.eval_seed,
                        cfg.quadrature_nodes) for s in ("valid", "test")}
    return CellData(train_set(cfg, sample_batch(problem, list(seeds), n), seeds),
                    held["valid"], held["test"], num_classes=2,
                    restricted_width=RESTRICTED_WIDTH)


def train_cell(cfg: ToyConfig, fit: FitConfig, method: str, n: int, seeds: Sequence[int],
               ratios: Sequence[float], interpolate: bool = True) -> tuple[dict, dict]:
    """One toy (method, n) cell: every seed x ratio in one batch
    (:func:`imm_ray.tabular.trainer.train_cell`)."""
    return train_generic_cell(cell_data(cfg, n, seeds), method, ratios, fit,
                              interpolate=interpolate)


def reference_log_loss(cfg: ToyConfig) -> dict[str, float]:
    """Test log-loss of the Bayes-optimal full model and of the restricted model alone."""
    problem = cfg.problem()
    test = evaluation_set(problem, "test", cfg.test_size, cfg.eval_seed)
    y = test.y.to(torch.float64)
    out = {}
    for name, p in (("bayes", problem.prob_one(test.x, test.xb)),
                    ("restricted", problem.restricted(cfg.quadrature_nodes).prob_one(test.x))):
        out[name] = float(torch.nn.functional.binary_cross_entropy(p, y))
    return out
