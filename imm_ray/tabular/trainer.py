"""Batched trainer of one lambda-vs-n cell: every seed x ratio of one (method, n) at once.

A cell's data (:class:`CellData`) is built by the toy
(``imm_ray/experiments/lambda_vs_n/toy/trainer.py``) or by a
table (:mod:`imm_ray.tabular.cell`); from there everything is shared: the models of all
seeds x ratios are one batch (:func:`fit_models`: batched BFGS for the linear model, batched
Adam for the MLP, in chunks bounded by memory), evaluated on each seed's validation and
test rows (:func:`evaluate`), ``interpolate`` evaluated from the ``none`` fits
(:func:`evaluate_interpolate`), and returned as tidy rows (:data:`ROW_FIELDS`).
Fitting the batch equals fitting each model alone (tested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor

from imm_ray import core
from imm_ray.tabular.config import FitConfig
from imm_ray.tabular.models import MLP, LinearSoftmax
from imm_ray.tabular.objective import METHODS, PAIR_METHODS, Induced, Objective
from imm_ray.tabular.optim import FitResult, minimize_adam, minimize_bfgs

ALL_METHODS = (*METHODS, "interpolate", "restricted")
"""Every method a row can carry (``restricted``: the restricted model alone, tables only)."""
ROW_FIELDS = ("method", "ratio", "lambda", "n", "seed", "test_log_loss", "test_accuracy",
              "valid_log_loss", "valid_accuracy", "train_objective", "iterations",
              "grad_norm", "converged")
"""Columns of :func:`train_cell`'s rows: one row per (method, ratio, seed)."""
HESSIAN_BUDGET = 2**23
"""Floats of ``[M, p, p]`` inverse Hessians per BFGS chunk (64 MiB in float64)."""


@dataclass
class TrainSet:
    """Training rows of ``M`` models (or ``S`` seeds), stacked."""

    features: Tensor
    """``[M, n, P]`` float64 design rows."""
    y: Tensor
    """``[M, n]`` int64 labels."""
    restricted_probs: Tensor
    """``[M, n, C]`` ``Pbar(. | x_i)``."""
    induced: Induced
    seeds: tuple[int, ...]
    """Data seed of each model (starts the MLP's weights)."""

    def take(self, idx: Tensor) -> TrainSet:
        return TrainSet(self.features[idx], self.y[idx], self.restricted_probs[idx],
                        self.induced.take(idx), tuple(self.seeds[i] for i in idx.tolist()))


@dataclass
class EvalSet:
    """Held-out rows: ``G = 1`` set shared by every seed (the toy) or one per seed (tables)."""

    features: Tensor
    """``[G, T, P]`` design rows."""
    y: Tensor
    """``[G, T]`` int64 labels."""
    restricted_probs: Tensor
    """``[G, T, C]`` ``Pbar`` at these rows (for ``interpolate`` and ``restricted``)."""


@dataclass
class CellData:
    """Everything one cell needs for ``S`` seeds."""

    train: TrainSet
    valid: EvalSet
    test: EvalSet
    num_classes: int
    restricted_width: int
    """Leading design columns forming the restricted part (intercept included)."""

    def group_of_seed(self) -> Tensor:
        """``[S]`` index of each seed's held-out set."""
        s = len(self.train.seeds)
        return torch.zeros(s, dtype=torch.int64) if len(self.test.y) == 1 else torch.arange(s)


_ON_FITTED: ContextVar[Callable[[int, int], None] | None] = ContextVar("on_fitted",
                                                                      default=None)


@contextmanager
def reporting_fits(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, :func:`fit_models` calls ``callback(fitted, total)`` after each
    chunk (a trial shows ``fits 40/130`` on the sweep's progress line; the trainer itself
    knows nothing of Ray)."""
    token = _ON_FITTED.set(callback)
    try:
        yield
    finally:
        _ON_FITTED.reset(token)


def make_model(fit: FitConfig, num_features: int, num_classes: int, restricted_width: int):
    if fit.model == "mlp":
        return MLP(num_features, num_classes, restricted_width, fit.hidden)
    return LinearSoftmax(num_features, num_classes, restricted_width)


def check_method_and_ratios(method: str, ratios: Sequence[float]) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    bad = [r for r in ratios if not 0.0 <= float(r) < 1.0]
    if bad:
        raise ValueError(f"ratios must be in [0, 1), got {bad}")


def fit_models(model, train: TrainSet, method: str, ratios: Tensor, fit: FitConfig) -> FitResult:
    """Fit ``M`` independent models (``train`` stacked ``[M, ...]``, ``ratios [M]``).

    Chunks hold at most ``fit.max_pairs`` pairs (pair methods) and, for BFGS,
    :data:`HESSIAN_BUDGET` inverse-Hessian floats, counting the three starts of a
    multi-start IMM fit; each chunk is one batched run.
    """
    check_method_and_ratios(method, ratios.tolist())
    m, n = train.y.shape
    chunk = m
    starts = 3 if method in MULTI_START_METHODS and model.kind == "linear" else 1
    if method in PAIR_METHODS:
        chunk = max(1, fit.max_pairs // (starts * train.induced.pairs_per_model(n)))
    if model.kind == "linear":
        chunk = min(chunk, max(1, HESSIAN_BUDGET // (starts * model.num_params**2)))
    parts, on_fitted = [], _ON_FITTED.get()
    for s in range(0, m, chunk):
        idx = torch.arange(s, min(m, s + chunk))
        parts.append(_fit_chunk(model, train.take(idx), method, ratios[idx], fit))
        if on_fitted is not None:
            on_fitted(int(idx[-1]) + 1, m)
    return FitResult(*(torch.cat([getattr(p, k) for p in parts]) for k in
                       ("params", "loss", "grad_norm", "iterations", "converged")))


def cell_bytes(method: str, n: int, seeds: int, num_ratios: int, num_features: int,
               num_classes: int, build_floats: int = 0) -> float:
    """A lower bound on the bytes one (method, n) cell allocates, for refusing a size that
    cannot fit before Ray starts (it would die in the allocator inside every retry).

    The larger of: building the seeds' data, ``build_floats`` float64 per training row
    and seed at once (the toy's quadrature: ``2 x nodes``); the stacked training rows of
    its ``M = seeds x ratios`` models (``none``: one ratio), design ``[M, n, P]``, ``Pbar``
    ``[M, n, C]`` and labels ``[M, n]``; for the pair methods (``imm``, ``noising``) one
    model's ``[n, n, C]`` pair logits (a chunk holds at least one model)::

        8 * max(S * n * build_floats, M * n * (P + C + 1), [pair method] * n**2 * C)
    """
    models = seeds * (1 if method == "none" else num_ratios)
    pairs = n * n * num_classes if method in PAIR_METHODS else 0
    return 8.0 * max(seeds * n * build_floats, models * n * (num_features + num_classes + 1),
                     pairs)


def _fit_chunk(model, train: TrainSet, method: str, ratios: Tensor, fit: FitConfig) -> FitResult:
    objective = Objective(method, model, train.features, train.y, train.restricted_probs,
                          train.induced, ratios.to(torch.float64), fit.l2)
    init = model.init_params(train.seeds)
    if model.kind == "mlp":
        return minimize_adam(objective, init, steps=fit.epochs, lr=fit.lr, tol=fit.tol)
    inv_h = model.init_inv_hessian(train.features, fit.l2)
    if method in MULTI_START_METHODS:
        return _fit_multi_start(objective, init, inv_h, fit)
    return minimize_bfgs(objective, init, max_iters=fit.max_iters, tol=fit.tol,
                         init_inv_hessian=inv_h)


MULTI_START_METHODS = ("imm",)
"""Methods whose linear-model objective is not convex (the log of an average of softmaxes):
fitted from several starts (:func:`_fit_multi_start`), the lowest objective kept."""


def _fit_multi_start(objective: Objective, zero: Tensor, inv_h: Tensor,
                     fit: FitConfig) -> FitResult:
    """BFGS of ``M`` IMM objectives from three starts each, in one batch of ``3 M``:
    ``zero``, the ``none`` fit of the same rows, and the restricted-matching fit (the full
    model fitted to ``Pbar``'s soft labels, so its induced model is close to ``Pbar``).
    Per model the run with the lowest objective is kept (the zero start unless another is
    lower by more than rounding)."""
    m = len(zero)
    convex = {}
    for name in ("none", "match"):
        fn = Objective("none", objective.model, objective.features, objective.y,
                       objective.restricted_probs, objective.induced, objective.ratio,
                       objective.l2) if name == "none" else _MatchRestricted(objective)
        convex[name] = minimize_bfgs(fn, zero, max_iters=fit.max_iters, tol=fit.tol,
                                     init_inv_hessian=inv_h).params
    starts = torch.cat([zero, convex["none"], convex["match"]])  # [3M, p]
    rep = torch.arange(m).repeat(3)
    stacked = Objective(objective.method, objective.model, objective.features[rep],
                        objective.y[rep], objective.restricted_probs[rep],
                        objective.induced.take(rep), objective.ratio[rep], objective.l2)
    runs = minimize_bfgs(stacked, starts, max_iters=fit.max_iters, tol=fit.tol,
                         init_inv_hessian=inv_h[rep])
    loss = runs.loss.view(3, m)
    # Another start wins only if clearly lower: at one and the same minimum (the common
    # case) the zero start's fit, exactly what a single-start fit gives, is kept.
    margin = 1e-9 * (1 + loss[0].abs())
    best = torch.where(loss.min(0).values < loss[0] - margin, loss.argmin(0), 0)
    best = best * m + torch.arange(m)  # [M] row of the kept run
    return FitResult(runs.params[best], runs.loss[best], runs.grad_norm[best],
                     runs.iterations[best], runs.converged[best])


@dataclass
class _MatchRestricted:
    """``mean_i CE(Pbar(. | x_i), Q(. | x_i, xb_i)) + 0.5 l2 |w|^2``: convex in a linear
    model's weights; its minimiser is the restricted-matching start of IMM fits."""

    objective: Objective

    def __call__(self, params: Tensor, idx: Tensor) -> Tensor:
        o = self.objective
        logits = o.model.logits(params, o.features[idx])
        extra = core.reverse_kd_loss(logits, o.restricted_probs[idx], reduction="none")
        return extra.mean(-1) + 0.5 * o.l2 * (params * params).sum(-1)


def _chunks(total: int, per_item: int, budget: int = 2_000_000):
    step = max(1, budget // max(per_item, 1))
    return [torch.arange(s, min(total, s + step)) for s in range(0, total, step)]


@torch.no_grad()
def evaluate(model, params: Tensor, held_out: EvalSet, group: Tensor) -> dict[str, Tensor]:
    """Held-out ``log_loss`` and ``accuracy`` of ``[M, p]`` models: ``{name: [M]}``.

    Model ``m`` is scored on ``held_out``'s set ``group[m]`` (``model.scores``: float32
    logits, float64 sums; ties predict the lower class).
    """
    out = {"log_loss": torch.empty(len(params), dtype=torch.float64),
           "accuracy": torch.empty(len(params), dtype=torch.float64)}
    for g in group.unique().tolist():
        members = (group == g).nonzero().squeeze(-1)
        f, y = held_out.features[g], held_out.y[g]
        for part in _chunks(len(members), y.numel() * model.c):
            idx = members[part]
            ll, acc = model.scores(params[idx], f, y)
            out["log_loss"][idx] = core.assert_finite(ll, "held-out log-loss")
            out["accuracy"][idx] = acc
    return out


@torch.no_grad()
def evaluate_interpolate(model, params: Tensor, held_out: EvalSet, group: Tensor,
                         ratios: Sequence[float]) -> dict[str, Tensor]:
    """``core.interpolate(Q, Pbar, r)`` of ``[S, p]`` models at each ratio: ``{name: [S, R]}``.

    ``r = 0`` is ``Q`` itself (:func:`evaluate`); the other ratios go through one
    ``core.interpolate`` call per chunk with the ratios as an ``[R, 1, 1, 1]`` tensor, in
    float32 (the mixture is at least ``r min(Pbar) > 0``, so no log 0), sums in float64.
    """
    plain = evaluate(model, params, held_out, group)
    out = {k: v.unsqueeze(-1).repeat(1, len(ratios)) for k, v in plain.items()}
    pos = [j for j, r in enumerate(ratios) if float(r) > 0]
    if not pos:
        return out
    r_t = torch.tensor([float(ratios[j]) for j in pos], dtype=torch.float32).view(-1, 1, 1, 1)
    for g in group.unique().tolist():
        members = (group == g).nonzero().squeeze(-1)
        f, y = held_out.features[g].float(), held_out.y[g]
        pbar = held_out.restricted_probs[g].float()  # [T, C]
        for part in _chunks(len(members), len(pos) * y.numel() * model.c):
            idx = members[part]
            full = torch.softmax(model.logits(params[idx].float(), f), -1)  # [c, T, C]
            full = full.expand(len(pos), *full.shape)  # [R, c, T, C], a view
            mix = core.interpolate(full, pbar, r_t)  # [R, c, T, C]
            p_y = mix.gather(-1, y.view(1, 1, -1, 1).expand(*mix.shape[:-1], 1)).squeeze(-1)
            ll = -torch.log(p_y).sum(-1, dtype=torch.float64) / len(y)  # [R, c]
            out["log_loss"][idx[:, None], pos] = core.assert_finite(ll, "interpolate log-loss").T
            hits = (_predict(mix) == y).sum(-1, dtype=torch.float64) / len(y)
            out["accuracy"][idx[:, None], pos] = hits.T
    return out


def _predict(probs: Tensor) -> Tensor:
    """Most probable class (ties: the lower), ``[..., C]`` -> ``[...]``."""
    if probs.shape[-1] == 2:
        return (probs[..., 1] > probs[..., 0]).long()
    return probs.argmax(-1)


@torch.no_grad()
def evaluate_restricted(held_out: EvalSet) -> dict[str, Tensor]:
    """Log-loss and accuracy of the restricted model alone on each set: ``{name: [G]}``."""
    pbar = held_out.restricted_probs.to(torch.float64)
    p_y = pbar.gather(-1, held_out.y.unsqueeze(-1)).squeeze(-1)
    return {"log_loss": core.assert_finite(-torch.log(p_y).mean(-1), "restricted log-loss"),
            "accuracy": (pbar.argmax(-1) == held_out.y).to(torch.float64).mean(-1)}


def train_cell(data: CellData, method: str, ratios: Sequence[float], fit: FitConfig, *,
               interpolate: bool = True, restricted_rows: bool = False) -> tuple[dict, dict]:
    """Fit and evaluate one (method, n) cell: every seed at every ratio in one batch.

    ``none`` ignores ``ratios`` (one fit per seed, ratio 0) and adds, with ``interpolate``,
    ``interpolate`` rows at every ratio from the same fits and, with ``restricted_rows``,
    one ``restricted`` row per seed (the restricted model alone; ratio 0, no fit columns).

    Returns:
        ``(rows, stats)``: ``rows`` maps each of :data:`ROW_FIELDS` to an equal-length list;
        ``stats`` has ``models`` (fits), ``fit_seconds``, ``max_iterations`` and
        ``all_converged``.
    """
    check_method_and_ratios(method, ratios)
    seeds, (s, n, p) = data.train.seeds, data.train.features.shape
    cell_ratios = [0.0] if method == "none" else [float(r) for r in ratios]
    rep = torch.arange(s).repeat_interleave(len(cell_ratios))
    ratio = torch.tensor(cell_ratios, dtype=torch.float64).repeat(s)
    model = make_model(fit, p, data.num_classes, data.restricted_width)
    start = time.perf_counter()
    result = fit_models(model, data.train.take(rep), method, ratio, fit)
    stats = {"models": len(ratio), "fit_seconds": time.perf_counter() - start,
             "max_iterations": int(result.iterations.max()),
             "all_converged": bool(result.converged.all())}
    group = data.group_of_seed()
    metrics = _held_out(lambda es: evaluate(model, result.params, es, group[rep]), data)
    rows = _rows(method, n, [seeds[i] for i in rep.tolist()], ratio.tolist(), metrics, result)
    if method == "none" and interpolate:
        ev = _held_out(lambda es: evaluate_interpolate(model, result.params, es, group,
                                                       ratios), data)
        k = len(ratios)
        rows = _concat(rows, _rows(
            "interpolate", n, [x for x in seeds for _ in range(k)], [float(r) for r in ratios]
            * s, {key: v.flatten() for key, v in ev.items()},
            FitResult(*(t.repeat_interleave(k, 0) for t in (
                result.params, result.loss, result.grad_norm, result.iterations,
                result.converged)))))
    if method == "none" and restricted_rows:
        rows = _concat(rows, _restricted(data, n, group))
    return rows, stats


def _held_out(fn, data: CellData) -> dict[str, Tensor]:
    return {f"{name}_{k}": v for name, es in (("valid", data.valid), ("test", data.test))
            for k, v in fn(es).items()}


def _rows(method: str, n: int, seeds: list[int], ratios: list[float],
          metrics: dict[str, Tensor], fit: FitResult) -> dict[str, list]:
    return {
        "method": [method] * len(seeds), "ratio": ratios,
        "lambda": [core.lambda_from_ratio(r) for r in ratios], "n": [n] * len(seeds),
        "seed": list(seeds),
        **{k: metrics[k].tolist() for k in ("test_log_loss", "test_accuracy",
                                            "valid_log_loss", "valid_accuracy")},
        "train_objective": fit.loss.tolist(), "iterations": fit.iterations.tolist(),
        "grad_norm": fit.grad_norm.tolist(), "converged": fit.converged.long().tolist(),
    }


def _restricted(data: CellData, n: int, group: Tensor) -> dict[str, list]:
    s = len(data.train.seeds)
    metrics = {k: v[group] for k, v in _held_out(evaluate_restricted, data).items()}
    nan = torch.full((s,), float("nan"), dtype=torch.float64)
    none = FitResult(torch.zeros(s, 0), nan, nan, torch.zeros(s, dtype=torch.int64),
                     torch.ones(s, dtype=torch.bool))
    return _rows("restricted", n, list(data.train.seeds), [0.0] * s, metrics, none)


def _concat(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in ROW_FIELDS}

