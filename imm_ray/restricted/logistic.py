"""Multinomial logistic regression on the restricted columns: a fitted ``Pbar(y | x)``.

``Pbar(. | x) = softmax(0, d(x) W)`` where ``d(x)`` are the design rows of the restricted
columns (:mod:`imm_ray.tabular.encoding`: numeric columns standardised on the fitting rows,
categorical ones one-hot) and ``W`` minimises the mean log-loss plus ``0.5 l2 |W|^2`` on
the fitting rows (the batched BFGS of :mod:`imm_ray.tabular.optim`, so the models of many
seeds are one fit). Follows :class:`imm_ray.protocols.RestrictedModel`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from imm_ray.tabular.data import Column
from imm_ray.tabular.encoding import design, fit_stats
from imm_ray.tabular.models import LinearSoftmax
from imm_ray.tabular.objective import Induced, Objective
from imm_ray.tabular.optim import minimize_bfgs


class LogisticRestricted:
    """One fitted model; build with :meth:`fit_batch`.

    Args:
        params: ``[(C - 1) P]`` weights of :class:`imm_ray.tabular.models.LinearSoftmax`.
        columns: the restricted columns (kinds and categories).
        mean, std: ``[1, r]`` standardisation of the fitting rows.
        num_classes: ``C``.
        converged: whether BFGS reached its tolerance.
    """

    def __init__(self, params: Tensor, columns: Sequence[Column], mean: Tensor, std: Tensor,
                 num_classes: int, converged: bool = True):
        self.columns, self.mean, self.std = tuple(columns), mean, std
        self.num_classes, self.converged = num_classes, converged
        self.model = LinearSoftmax(1 + sum(len(c.categories) if c.kind == "categorical"
                                           else 1 for c in self.columns), num_classes, 1)
        if params.shape != (self.model.num_params,):
            raise ValueError(f"params must be [{self.model.num_params}], got "
                             f"{tuple(params.shape)}")
        self.params = params

    def probs(self, restricted_contexts: Tensor) -> Tensor:
        """``[N, r]`` raw restricted values -> ``[N, C]``."""
        x = restricted_contexts
        if not torch.is_tensor(x) or x.dim() != 2 or x.shape[1] != len(self.columns):
            raise ValueError(f"restricted_contexts must be [N, {len(self.columns)}], got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        f = design(x.to(torch.float64).unsqueeze(0), self.columns, self.mean, self.std)
        return torch.softmax(self.model.logits(self.params.unsqueeze(0), f)[0], -1)

    @classmethod
    def fit_batch(cls, values: Tensor, y: Tensor, columns: Sequence[Column], num_classes: int,
                  l2: float, max_iters: int = 300, tol: float = 1e-7) -> list[LogisticRestricted]:
        """One model per seed from ``values [S, m, r]``, ``y [S, m]``, in one batched fit."""
        mean, std = fit_stats(values, columns)
        f = design(values, columns, mean, std)
        model = LinearSoftmax(f.shape[-1], num_classes, 1)
        s, m = y.shape
        unused = torch.full((s, m, num_classes), 1.0 / num_classes, dtype=torch.float64)
        objective = Objective("none", model, f, y, unused, Induced(),
                              torch.zeros(s, dtype=torch.float64), l2)
        fit = minimize_bfgs(objective, model.init_params(range(s)), max_iters=max_iters,
                            tol=tol, init_inv_hessian=model.init_inv_hessian(f, l2))
        return [cls(fit.params[i], columns, mean[i], std[i], num_classes,
                    bool(fit.converged[i])) for i in range(s)]
