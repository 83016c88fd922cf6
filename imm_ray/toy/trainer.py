"""Vectorised trainer of the toy's full model: one call fits a whole batch of models.

The full model is logistic regression ``Q(y = 1 | x, xb) = sigmoid(w . (1, x, xb))``,
written as the 2-class logits ``(0, z)`` so that :mod:`imm_ray.core` is used verbatim.
Objectives of model ``m`` with ratio ``r_m`` (IMM.md sections 2, 5), all plus
``0.5 * l2 * |w|^2``:

- ``none``: ``L_main``, the mean log-loss on the training set;
- ``imm``: ``core.mix_losses(L_main, core.imm_loss(pair logits, Pbar(x_i)), r)``, the
  induced model of ``x_i`` being the average over the training pool ``(x_i, xb_j)``
  (``rho = 0``), or over ``x_i``'s empirical group (``rho != 0``, :func:`induced_weights`);
- ``reverse_kd``: ``core.mix_losses(L_main, core.reverse_kd_loss(logits, Pbar(x_i)), r)``;
- ``noising``: each ``xb_i`` replaced with probability ``r`` by a random pool member (of
  ``x_i``'s group when ``rho != 0``), ``y_i`` kept, applied in expectation:
  ``(1 - r) L_main + r mean_i sum_j pi_ij logloss(y_i | x_i, xb_j)``, the limit of
  redrawing the corruption every epoch (deterministic, so BFGS applies);
- ``interpolate`` (evaluation only): ``core.interpolate(Q, Pbar, r)`` of the ``none`` fits.

A batch holds ``M`` models (seeds x ratios), each with its own data, ratio and BFGS state
(:mod:`imm_ray.toy.optim`): fitting them together equals fitting each alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from imm_ray import core
from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import ToyData, evaluation_set, induced_weights, sample_batch
from imm_ray.toy.optim import BFGSResult, minimize_bfgs

METHODS = ("none", "imm", "reverse_kd", "noising")
"""Training methods; ``interpolate`` is added at evaluation from the ``none`` fits."""
ALL_METHODS = (*METHODS, "interpolate")
"""Every method a row can carry; a row's ``method_id`` indexes this tuple."""
PAIR_METHODS = ("imm", "noising")
"""Methods whose objective pairs every ``x_i`` with every pooled ``xb_j`` (``[M, n, n]``)."""


def two_class_logits(z: Tensor) -> Tensor:
    """``[...]`` logit of ``y = 1`` -> ``[...,  2]`` logits ``(0, z)``."""
    return F.pad(z.unsqueeze(-1), (1, 0))


def design(x: Tensor, xb: Tensor) -> Tensor:
    """``[..., n]``, ``[..., n, d]`` -> ``[..., n, 2 + d]`` rows ``(1, x, xb)``."""
    return torch.cat([torch.ones_like(x).unsqueeze(-1), x.unsqueeze(-1), xb], dim=-1)


def pair_logits(w: Tensor, features: Tensor) -> Tensor:
    """Logits of the extended contexts ``(x_i, xb_j)``: ``[A, p]``, ``[A, n, p]`` -> ``[A, n, n]``.

    Equals ``IndependentPool(xb).sample(x, k=None)`` features times ``w`` (tested), computed
    as ``a_i + b_j`` without materialising the ``[A, n, n, p]`` feature tensor.
    """
    a = (features[..., :2] * w[:, None, :2]).sum(-1)  # w0 + w1 x_i
    b = (features[..., 2:] * w[:, None, 2:]).sum(-1)  # wb . xb_j
    return a.unsqueeze(-1) + b.unsqueeze(-2)


@dataclass
class ToyObjective:
    """Per-model training objectives of a batch; ``(w [A, p], idx [A]) -> [A]``."""

    method: str
    features: Tensor
    """``[M, n, p]`` design rows."""
    y: Tensor
    """``[M, n]`` float64 labels."""
    restricted_probs: Tensor
    """``[M, n, 2]`` ``Pbar(. | x_i)``."""
    pool_weights: Tensor | None
    """``[M, n, n]`` ``pi(xb_j | x_i)``, or None for uniform over the pool."""
    ratio: Tensor
    """``[M]`` ratio r of each model."""
    l2: float

    def __call__(self, w: Tensor, idx: Tensor) -> Tensor:
        f, y = self.features[idx], self.y[idx]
        z = (f * w[:, None, :]).sum(-1)  # [A, n]
        main = F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(-1)
        penalty = 0.5 * self.l2 * (w * w).sum(-1)
        if self.method == "none":
            return main + penalty
        return core.mix_losses(main, self.extra(w, idx, f, z, y), self.ratio[idx]) + penalty

    def extra(self, w: Tensor, idx: Tensor, f: Tensor, z: Tensor, y: Tensor) -> Tensor:
        """The method's second term, ``[A]``."""
        pbar = self.restricted_probs[idx]
        if self.method == "reverse_kd":
            return core.reverse_kd_loss(two_class_logits(z), pbar, reduction="none").mean(-1)
        pairs = pair_logits(w, f)  # [A, n(i), n(j)]
        weights = None if self.pool_weights is None else self.pool_weights[idx]
        if self.method == "imm":
            return core.imm_loss(two_class_logits(pairs), pbar, sample_weights=weights,
                                 reduction="none").mean(-1)
        if self.method == "noising":
            nll = F.binary_cross_entropy_with_logits(pairs, y.unsqueeze(-1).expand_as(pairs),
                                                     reduction="none")
            per_i = nll.mean(-1) if weights is None else (nll * weights).sum(-1)
            return per_i.mean(-1)
        raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")


def check_method_and_ratios(method: str, ratios: Sequence[float]) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    bad = [r for r in ratios if not 0.0 <= float(r) < 1.0]
    if bad:
        raise ValueError(f"ratios must be in [0, 1), got {bad}")


def fit_models(data: ToyData, method: str, ratios: Tensor, cfg: ToyConfig) -> BFGSResult:
    """Fit ``M`` independent models: ``data`` stacked ``[M, n]``, ``ratios [M]``.

    Models are processed in chunks of at most ``cfg.max_pairs`` IMM pairs (memory and
    cache size); each chunk is one vectorised BFGS run.
    """
    check_method_and_ratios(method, ratios.tolist())
    m, n = data.x.shape
    chunk = max(1, cfg.max_pairs // (n * n)) if method in PAIR_METHODS else m
    parts = [_fit_chunk(ToyData(*(t[s:s + chunk] for t in data)), method,
                        ratios[s:s + chunk], cfg) for s in range(0, m, chunk)]
    return BFGSResult(*(torch.cat([getattr(p, k) for p in parts]) for k in
                        ("params", "loss", "grad_norm", "iterations", "converged")))


def _fit_chunk(data: ToyData, method: str, ratios: Tensor, cfg: ToyConfig) -> BFGSResult:
    problem = cfg.problem()
    features = design(data.x, data.xb)
    objective = ToyObjective(
        method, features, data.y.to(torch.float64),
        problem.restricted(cfg.quadrature_nodes).probs(data.x),
        induced_weights(problem, data.x, cfg.num_bins), ratios.to(torch.float64), cfg.l2)
    m, n, p = features.shape
    # Inverse Hessian of the main loss at w = 0 (plus a floor): a cheap, good start.
    hess0 = 0.25 * features.transpose(1, 2) @ features / n
    inv_h0 = torch.linalg.inv(hess0 + (cfg.l2 + 1e-2) * torch.eye(p, dtype=torch.float64))
    return minimize_bfgs(objective, torch.zeros(m, p, dtype=torch.float64),
                         max_iters=cfg.max_iters, tol=cfg.tol, init_inv_hessian=inv_h0)


def evaluate(params: Tensor, data: ToyData, chunk: int = 1_000_000) -> dict[str, Tensor]:
    """Held-out ``log_loss`` and ``accuracy`` of ``[M, p]`` models on ``data`` ``[T]``: ``[M]``.

    Log-loss as ``mean softplus(z) - mean y z`` (the second term is linear in ``w``, done
    in float64); ``z`` and the softplus in float32 (relative error ~1e-7), summed in float64.
    """
    f = design(data.x, data.xb)  # [T, p]
    t = len(data.y)
    y_mean_f = f.T @ data.y.to(torch.float64) / t  # [p]
    f32, y_bool = f.T.float().contiguous(), data.y.bool()
    step = max(1, chunk // t)
    out = {"log_loss": [], "accuracy": []}
    for s in range(0, len(params), step):
        w = params[s:s + step]
        z = w.float() @ f32  # [c, T]
        ll = F.softplus(z).sum(-1, dtype=torch.float64) / t - w @ y_mean_f
        out["log_loss"].append(core.assert_finite(ll, "held-out log-loss"))
        out["accuracy"].append(((z > 0) == y_bool).sum(-1, dtype=torch.float64) / t)
    return {k: torch.cat(v) for k, v in out.items()}


def evaluate_interpolate(params: Tensor, data: ToyData, restricted_probs: Tensor,
                         ratios: Sequence[float], chunk: int = 2_000_000) -> dict[str, Tensor]:
    """``core.interpolate((1 - r) Q + r Pbar)`` of ``[S, p]`` models at each ratio: ``[S, R]``.

    ``restricted_probs``: ``[T, 2]`` ``Pbar`` at the held-out points. ``r = 0`` is ``Q``
    itself (:func:`evaluate`); the other ratios go through one ``core.interpolate`` call
    per chunk of models, with the ratios as a ``[R, 1, 1, 1]`` tensor, in float32 (the
    mixture is at least ``r min(Pbar) > 0``, so no tail underflows to log 0).
    """
    plain = evaluate(params, data)
    pos = [float(r) for r in ratios if r > 0]
    f, t = design(data.x, data.xb).float(), len(data.y)
    pbar = restricted_probs.float()
    r_t = torch.tensor(pos, dtype=torch.float32).view(-1, 1, 1, 1)
    step = max(1, chunk // (max(len(pos), 1) * t * 2))
    ll, acc = [], []
    for s in range(0, len(params) if pos else 0, step):
        z = params[s:s + step].float() @ f.T  # [c, T]
        full = torch.stack([torch.sigmoid(-z), torch.sigmoid(z)], dim=-1)  # [c, T, 2]
        mix = core.interpolate(full, pbar, r_t)  # [R, c, T, 2]
        idx = data.y.view(1, 1, t, 1).expand(len(pos), len(z), t, 1)
        p_y = mix.gather(-1, idx).squeeze(-1)
        ll.append(core.assert_finite(-torch.log(p_y).sum(-1, dtype=torch.float64) / t,
                                     "interpolate log-loss").T)
        acc.append(((mix[..., 1] > 0.5) == data.y.bool()).sum(-1, dtype=torch.float64).T / t)
    out = {}
    for key, parts in (("log_loss", ll), ("accuracy", acc)):
        mixed = iter(torch.cat(parts).T) if pos else iter(())
        out[key] = torch.stack([plain[key] if r == 0 else next(mixed) for r in ratios], -1)
    return out


ROW_FIELDS = ("method", "ratio", "lambda", "n", "seed", "test_log_loss", "test_accuracy",
              "valid_log_loss", "valid_accuracy", "train_objective", "iterations",
              "grad_norm", "converged")
"""Columns of :func:`train_cell`'s rows: one row per (method, ratio, seed)."""


def train_cell(cfg: ToyConfig, method: str, n: int, seeds: Sequence[int],
               ratios: Sequence[float], interpolate: bool = True) -> tuple[dict, dict]:
    """Train and evaluate one (method, n) cell: every seed at every ratio in one batch.

    ``none`` ignores ``ratios`` (it is fitted once per seed, ratio 0) and, with
    ``interpolate``, adds ``interpolate`` rows at every ratio from the same fits.

    Returns:
        ``(rows, stats)``: ``rows`` maps each of :data:`ROW_FIELDS` to an equal-length list;
        ``stats`` has ``models`` (fits) and ``fit_seconds``.
    """
    check_method_and_ratios(method, ratios)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    problem = cfg.problem()
    cell_ratios = [0.0] if method == "none" else [float(r) for r in ratios]
    data = sample_batch(problem, list(seeds), n)
    models = ToyData(*(t.repeat_interleave(len(cell_ratios), 0) for t in data))
    ratio = torch.tensor(cell_ratios, dtype=torch.float64).repeat(len(seeds))
    start = time.perf_counter()
    fit = fit_models(models, method, ratio, cfg)
    stats = {"models": len(ratio), "fit_seconds": time.perf_counter() - start}
    held_out = {s: evaluation_set(problem, s, getattr(cfg, f"{s}_size"), cfg.eval_seed)
                for s in ("valid", "test")}
    metrics = {f"{s}_{k}": v for s, d in held_out.items() for k, v in evaluate(fit.params,
                                                                               d).items()}
    seed_col = [int(s) for s in seeds for _ in cell_ratios]
    rows = _rows(method, n, seed_col, ratio.tolist(), metrics, fit)
    if method == "none" and interpolate:
        restricted = problem.restricted(cfg.quadrature_nodes)
        metrics = {}
        for s, d in held_out.items():
            ev = evaluate_interpolate(fit.params, d, restricted.probs(d.x), ratios)
            metrics.update({f"{s}_{k}": v.flatten() for k, v in ev.items()})
        reps = len(ratios)
        extra = _rows("interpolate", n, [s for s in seed_col for _ in ratios],
                      [float(r) for r in ratios] * len(seeds), metrics,
                      BFGSResult(*(t.repeat_interleave(reps, 0) for t in (
                          fit.params, fit.loss, fit.grad_norm, fit.iterations, fit.converged))))
        rows = {k: rows[k] + extra[k] for k in ROW_FIELDS}
    return rows, stats


def _rows(method: str, n: int, seeds: list[int], ratios: list[float],
          metrics: dict[str, Tensor], fit: BFGSResult) -> dict[str, list]:
    return {
        "method": [method] * len(seeds), "ratio": ratios,
        "lambda": [core.lambda_from_ratio(r) for r in ratios], "n": [n] * len(seeds),
        "seed": seeds,
        **{k: metrics[k].tolist() for k in ("test_log_loss", "test_accuracy",
                                            "valid_log_loss", "valid_accuracy")},
        "train_objective": fit.loss.tolist(), "iterations": fit.iterations.tolist(),
        "grad_norm": fit.grad_norm.tolist(), "converged": fit.converged.long().tolist(),
    }
