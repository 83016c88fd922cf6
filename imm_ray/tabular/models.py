"""Full models for batches of independent fits: ``M`` models' parameters as one ``[M, p]``.

Every model reads design rows ``f = (1, restricted encoding, extra encoding)`` (``[..., P]``);
the first ``R`` columns (the intercept and the restricted encoding) are the *restricted
part*. Both models split their first layer there, so the logits of an extended context
``(x_i, xb_j)``, the restricted part of row ``i`` with the extra part of row ``j``, come
from ``a_i + b_j`` without materialising ``[M, n, k, P]`` pair features.

- :class:`LinearSoftmax`: multinomial logistic regression with class 0 as the reference,
  logits ``(0, f W)``, ``W [P, C - 1]``; for ``C = 2`` exactly binary logistic regression
  ``sigmoid(w . f)`` (same parameters, same objective).
- :class:`MLP`: one ``tanh`` hidden layer of width ``H``: logits ``tanh(f U) V + v``
  (``U [P, H]``, ``V [H, C]``, ``v [C]``), trained with Adam.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from imm_ray.checks import as_int


def pairs(a: Tensor, b: Tensor, index: Tensor | None) -> Tensor:
    """``a_i + b_j`` over extended contexts: ``[A, n, H]``, ``[A, n, H]`` -> ``[A, n, k, H]``.

    ``index`` ``[A, n, k]`` lists the pool rows ``j`` paired with each row ``i``; None
    pairs every row with the whole pool (``k = n``).
    """
    if index is None:
        return a.unsqueeze(2) + b.unsqueeze(1)
    rows = torch.arange(len(b), device=b.device).view(-1, 1, 1)
    return a.unsqueeze(2) + b[rows, index]


class LinearSoftmax:
    """Multinomial logistic regression, class 0 the reference; ``params [M, (C-1) P]``.

    Args:
        num_features: ``P``, design columns (intercept included).
        num_classes: ``C >= 2``.
        restricted_width: ``R``, the leading design columns that form the restricted part.
    """

    kind = "linear"

    def __init__(self, num_features: int, num_classes: int, restricted_width: int):
        self.p = as_int("num_features", num_features, 2)
        self.c = as_int("num_classes", num_classes, 2)
        self.r = as_int("restricted_width", restricted_width, 1, self.p - 1)

    @property
    def num_params(self) -> int:
        return (self.c - 1) * self.p

    def weights(self, params: Tensor) -> Tensor:
        """``[A, (C-1) P]`` -> ``W`` ``[A, P, C-1]`` (row ``c`` of ``params`` is class ``c+1``)."""
        return params.view(-1, self.c - 1, self.p).transpose(1, 2)

    def logits(self, params: Tensor, features: Tensor) -> Tensor:
        """``[A, p]``, features ``[A, n, P]`` (or shared ``[n, P]``) -> ``[A, n, C]``."""
        return F.pad(features @ self.weights(params), (1, 0))

    def pair_logits(self, params: Tensor, features: Tensor, index: Tensor | None) -> Tensor:
        """``[A, p]``, ``[A, n, P]``, ``index [A, n, k]`` or None -> ``[A, n, k, C]``."""
        w = self.weights(params)
        a = features[..., :self.r] @ w[:, :self.r]
        b = features[..., self.r:] @ w[:, self.r:]
        return F.pad(pairs(a, b, index), (1, 0))

    def scores(self, params: Tensor, features: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Held-out ``(log_loss [A], accuracy [A])`` on shared rows ``[T, P]``, ``y [T]``.

        ``log_loss = mean_t logsumexp(0, z_t) - mean_t z_t[y_t]``: the second term is linear
        in ``W``, done exactly in float64 from per-class feature means; ``z = f W`` and the
        logsumexp in float32 (relative error ~1e-7), summed in float64.
        """
        w = self.weights(params)  # [A, P, C-1]
        onehot = torch.nn.functional.one_hot(y, self.c)[:, 1:].to(torch.float64)  # [T, C-1]
        class_means = features.to(torch.float64).T @ onehot / len(y)  # [P, C-1]
        linear = (w.to(torch.float64) * class_means).sum((1, 2))
        z = features.float() @ w.float()  # [A, T, C-1]
        if self.c == 2:
            lse, pred = F.softplus(z[..., 0]), (z[..., 0] > 0).long()
        else:
            full = F.pad(z, (1, 0))
            lse, pred = torch.logsumexp(full, -1), full.argmax(-1)
        log_loss = lse.sum(-1, dtype=torch.float64) / len(y) - linear
        return log_loss, (pred == y).sum(-1, dtype=torch.float64) / len(y)

    def init_params(self, seeds, dtype=torch.float64) -> Tensor:
        """Zeros. ``none``, ``reverse_kd`` and ``noising`` are convex, so the start does not
        change their optimum; IMM's is not, and the trainer adds two more starts
        (:func:`imm_ray.tabular.trainer.fit_models`)."""
        return torch.zeros(len(seeds), self.num_params, dtype=dtype)

    def init_inv_hessian(self, features: Tensor, l2: float) -> Tensor:
        """Inverse Hessian of the main loss at ``W = 0`` plus ``(l2 + 0.01) I``: ``[M, p, p]``.

        At ``W = 0`` every class has probability ``1/C``, so the Hessian is
        ``(diag(1/C) - 1/C^2) kron F^T F / n`` over the ``C - 1`` free classes (``0.25 F^T F / n``
        for two classes): a cheap start that saves most of BFGS's early iterations.
        """
        n = features.shape[-2]
        gram = features.transpose(-1, -2) @ features / n  # [M, P, P]
        k = self.c - 1
        cov = (torch.eye(k, dtype=gram.dtype) / self.c
               - torch.full((k, k), 1.0 / self.c**2, dtype=gram.dtype))
        hess = torch.einsum("ab,mij->maibj", cov, gram).reshape(len(gram), k * self.p, -1)
        eye = torch.eye(k * self.p, dtype=gram.dtype)
        return torch.linalg.inv(hess + (l2 + 1e-2) * eye)


class MLP:
    """One ``tanh`` hidden layer; ``params [M, P H + H C + C]`` = ``(U, V, v)`` flattened.

    Args:
        num_features, num_classes, restricted_width: as :class:`LinearSoftmax`.
        hidden: ``H``, the hidden width.
    """

    kind = "mlp"

    def __init__(self, num_features: int, num_classes: int, restricted_width: int,
                 hidden: int):
        self.p = as_int("num_features", num_features, 2)
        self.c = as_int("num_classes", num_classes, 2)
        self.r = as_int("restricted_width", restricted_width, 1, self.p - 1)
        self.h = as_int("hidden", hidden, 1)

    @property
    def num_params(self) -> int:
        return self.p * self.h + self.h * self.c + self.c

    def unpack(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``[A, p]`` -> ``U [A, P, H]``, ``V [A, H, C]``, ``v [A, C]``."""
        a, ph, hc = len(params), self.p * self.h, self.h * self.c
        return (params[:, :ph].view(a, self.p, self.h),
                params[:, ph:ph + hc].view(a, self.h, self.c), params[:, ph + hc:])

    def logits(self, params: Tensor, features: Tensor) -> Tensor:
        """``[A, p]``, ``[A, n, P]`` (or shared ``[n, P]``) -> ``[A, n, C]``."""
        u, v, bias = self.unpack(params)
        return torch.tanh(features @ u) @ v + bias.unsqueeze(1)

    def pair_logits(self, params: Tensor, features: Tensor, index: Tensor | None) -> Tensor:
        """``[A, p]``, ``[A, n, P]``, ``index [A, n, k]`` or None -> ``[A, n, k, C]``."""
        u, v, bias = self.unpack(params)
        a = features[..., :self.r] @ u[:, :self.r]
        b = features[..., self.r:] @ u[:, self.r:]
        hidden = torch.tanh(pairs(a, b, index))  # [A, n, k, H]
        return hidden @ v.unsqueeze(1) + bias.view(-1, 1, 1, self.c)

    def scores(self, params: Tensor, features: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Held-out ``(log_loss [A], accuracy [A])`` on shared rows ``[T, P]``, ``y [T]``
        (float32 forward pass, float64 sums)."""
        logits = self.logits(params.float(), features.float())  # [A, T, C]
        ll = torch.log_softmax(logits, -1).gather(-1, y.expand(len(params), -1).unsqueeze(-1))
        hits = (logits.argmax(-1) == y).sum(-1, dtype=torch.float64)
        return -ll.squeeze(-1).sum(-1, dtype=torch.float64) / len(y), hits / len(y)

    def init_params(self, seeds, dtype=torch.float64) -> Tensor:
        """Per-seed Gaussian start ``U ~ N(0, 1/P)``, ``V ~ N(0, 1/H)``, ``v = 0``: a model's
        start depends only on its data seed (all ratios of a seed start alike)."""
        from imm_ray.tabular.seeding import rng

        out = []
        for s in seeds:
            g = rng("init", int(s))
            u = g.standard_normal(self.p * self.h) / np.sqrt(self.p)
            v = g.standard_normal(self.h * self.c) / np.sqrt(self.h)
            out.append(np.concatenate([u, v, np.zeros(self.c)]))
        return torch.as_tensor(np.stack(out), dtype=dtype)
