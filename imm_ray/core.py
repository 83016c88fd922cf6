"""Induced Model Matching: the loss, its memory-flat gradient, and lambda schedules.

Pure PyTorch on tensors: no Ray, no RLlib, no file I/O. Every experiment in imm_ray
(the logistic toy, the language models, the RLlib learners) calls these functions;
nothing re-implements them. Notation follows the paper (Muneeb & Ohannessian, NeurIPS
2024, arXiv 2402.12513):

- ``C`` classes (labels, vocabulary words, actions); ``k`` extended contexts per
  restricted context; ``N`` restricted contexts in a batch.
- ``Q(y | x, xb_j)``: the full model's prediction for extended context ``j``.
- Induced model ``Qbar(y | x) = sum_j w_j Q(y | x, xb_j)`` (``w_j = 1/k`` by default).
- IMM loss ``-sum_y Pbar(y | x) log Qbar(y | x)``; objective ``L_main + lambda L_imm``,
  or equivalently ``(1 - r) L_main + r L_imm`` with ``r = lambda / (1 + lambda)``.

Every function checks what it is given and raises ValueError naming the argument: tensor
shapes exactly as documented (the only broadcasting is the documented one: leading dims
of size 1 or missing, never a broadcast that adds dims, which would silently pair every
row with every other), probabilities that sum to 1, finite values, scalars of a number
type (:mod:`imm_ray.checks`: Python, numpy or 0-d tensor numbers are accepted). The lambda
<-> ratio maps and schedules live in :mod:`imm_ray.schedules` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from imm_ray import checks
from imm_ray.checks import (
    PROB_ATOL,
    NonFiniteLossError,
    Reduction,
    as_real,
    assert_finite,
    check_probs,
    check_real,
)
from imm_ray.schedules import (
    REFERENCE_RL_SCHEDULE,
    SCHEDULE_PRESETS,
    ConstantSchedule,
    RatioSchedule,
    Schedule,
    lambda_from_ratio,
    make_schedule,
    ratio_from_lambda,
)

__all__ = [
    "PROB_ATOL", "REFERENCE_RL_SCHEDULE", "SCHEDULE_PRESETS", "ConstantSchedule",
    "NonFiniteLossError", "RatioSchedule", "Reduction", "Schedule", "as_real",
    "assert_finite", "check_probs", "check_real", "gaussian_log_probs", "imm_loss",
    "imm_loss_continuous", "induced_log_probs",
    "interpolate", "lambda_from_ratio", "make_schedule", "mix_losses", "ratio_from_lambda",
    "reverse_kd_loss", "serialized_imm_backward",
]

# --------------------------------------------------------------------------- the loss

FEW_CLASSES = 8
"""Up to this many classes :func:`induced_log_probs` works class-first (``[C, ..., k]``):
PyTorch's CPU (log-)softmax kernel is ~2.5x slower, forward and backward, over a tiny
contiguous last dim than over a leading one, and the sum over ``k`` then runs along the
contiguous dim (measured on ``[1000, 32, 32, 2]`` float64: 63 -> 24 ms per loss and
gradient). Vocabularies and action sets beyond it keep the ``[..., k, C]`` layout."""


def induced_log_probs(sample_logits: Tensor, sample_weights: Tensor | None = None) -> Tensor:
    """Log of the induced model, ``log Qbar(y | x)``, from k extended contexts.

    Args:
        sample_logits: ``[..., k, C]`` full-model logits, one row per extended context
            ``(x, xb_j)`` of the same restricted context ``x``.
        sample_weights: optional ``[..., k]`` conditional ``pi(xb_j | x)`` (non-negative,
            summing to 1 over k; e.g. a POMDP belief). Default uniform ``1/k``. Its leading
            dims must equal ``sample_logits.shape[:-2]`` or broadcast to it (size-1 or
            missing dims); they may not add dims.

    Returns:
        ``[..., C]``: ``log sum_j w_j softmax(logits_j)``, computed as a logsumexp over
        ``log w_j + log_softmax(logits_j)`` so that logits of +-1e4 stay finite. Float32
        for half-precision input, else the input dtype.
    """
    checks.check_logits(sample_logits, "sample_logits", min_dim=2)
    k = sample_logits.shape[-2]
    if k < 1:
        raise ValueError(f"k (sample_logits.shape[-2]) must be >= 1, got {k}")
    if sample_weights is not None:
        checks.check_float_tensor(sample_weights, "sample_weights", " of probabilities")
        if sample_weights.dim() < 1 or sample_weights.shape[-1] != k:
            raise ValueError(f"sample_weights must be [..., k={k}] to match sample_logits "
                             f"{tuple(sample_logits.shape)}, got shape "
                             f"{tuple(sample_weights.shape)}")
        checks.check_leading(sample_weights, "sample_weights", sample_logits.shape[:-2],
                       "sample_logits.shape[:-2]")
        check_probs(sample_weights, "sample_weights")
    logits = sample_logits.to(checks.compute_dtype(sample_logits))
    if logits.shape[-1] <= FEW_CLASSES:  # class-first [C, ..., k]: see FEW_CLASSES
        log_q, classes, samples = torch.log_softmax(logits.movedim(-1, 0), dim=0), 0, -1
    else:
        log_q, classes, samples = torch.log_softmax(logits, dim=-1), -1, -2
    if sample_weights is not None:  # [..., k] lines up with both layouts' trailing k; log 0 = -inf
        log_w = torch.log(sample_weights.to(log_q.dtype))
        log_q = log_q + (log_w if classes == 0 else log_w.unsqueeze(-1))
    out = torch.logsumexp(log_q, dim=samples)
    if sample_weights is None:
        out = out - math.log(k)
    return out.movedim(0, -1) if classes == 0 else out


def imm_loss(
    sample_logits: Tensor,
    restricted_probs: Tensor,
    sample_weights: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """IMM risk: cross-entropy of the restricted model against the induced model.

    ``L_imm(x) = -sum_y Pbar(y | x) log Qbar(y | x)`` (KL(Pbar || Qbar) plus a constant).

    Args:
        sample_logits: ``[..., k, C]`` logits for k extended contexts per restricted one.
        restricted_probs: ``[..., C]`` ``Pbar(. | x)``; rows sum to 1. Its leading dims
            must equal ``sample_logits.shape[:-2]`` or broadcast to it without adding dims
            (``[N, 1, C]`` against ``[N, k, C]`` logits is an error, not N x N pairs).
        sample_weights: optional ``[..., k]``, see :func:`induced_log_probs`.
        reduction: ``"mean"`` / ``"sum"`` over restricted contexts, or ``"none"`` for the
            per-context ``[...]`` tensor. ``"mean"`` of an empty batch raises.
    """
    log_qbar = induced_log_probs(sample_logits, sample_weights)
    checks.check_float_tensor(restricted_probs, "restricted_probs", " of probabilities")
    checks.check_classes(sample_logits, restricted_probs, "sample_logits")
    checks.check_leading(restricted_probs, "restricted_probs", sample_logits.shape[:-2],
                   "sample_logits.shape[:-2]")
    check_probs(restricted_probs, "restricted_probs")
    per_row = -(restricted_probs.to(log_qbar.dtype) * log_qbar).sum(dim=-1)
    return checks.reduce_rows(per_row, reduction, "sample_logits")


def reverse_kd_loss(logits: Tensor, restricted_probs: Tensor, reduction: Reduction = "mean"):
    """Per-sample matching ``CE(Pbar(. | x_i), Q(. | x_i, xb_i))``: the biased baseline.

    Args:
        logits: ``[..., C]`` full-model logits at each data point's own full context.
        restricted_probs: ``[..., C]`` restricted model at the same points; leading dims
            equal to ``logits.shape[:-1]`` or broadcasting to it without adding dims.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per point, ``[...]``).
    """
    checks.check_logits(logits, "logits", min_dim=1)
    checks.check_float_tensor(restricted_probs, "restricted_probs", " of probabilities")
    checks.check_classes(logits, restricted_probs, "logits")
    checks.check_leading(restricted_probs, "restricted_probs", logits.shape[:-1],
                   "logits.shape[:-1]")
    check_probs(restricted_probs, "restricted_probs")
    log_q = torch.log_softmax(logits.to(checks.compute_dtype(logits)), dim=-1)
    per_row = -(restricted_probs.to(log_q.dtype) * log_q).sum(dim=-1)
    return checks.reduce_rows(per_row, reduction, "logits")


def interpolate(full_probs: Tensor, restricted_probs: Tensor, ratio: float | Tensor) -> Tensor:
    """Prediction-time mixture ``(1 - ratio) Q + ratio Pbar`` (the interpolation baseline).

    Args:
        full_probs: ``[..., C]`` full-model probabilities.
        restricted_probs: ``[..., C]``; leading dims equal to ``full_probs.shape[:-1]`` or
            broadcasting to it without adding dims.
        ratio: a number in [0, 1], or a tensor of such values of shape ``[..., 1]`` (last
            dim 1: one ratio per row, never per class) broadcasting *to*
            ``full_probs.shape[:-1] + (1,)`` without adding dims: ``[3, 1, 1]`` ratios
            against ``[3, C]`` rows would silently return ``[3, 3, C]`` (every ratio with
            every row), so it is an error. For one mixture per ratio, expand the
            probabilities first (``full_probs.expand(R, B, C)`` with ``[R, 1, 1]`` ratios).

    Returns:
        The mixture, ``full_probs``-shaped; every row sums to 1.
    """
    check_probs(full_probs, "full_probs")
    checks.check_float_tensor(restricted_probs, "restricted_probs", " of probabilities")
    checks.check_classes(full_probs, restricted_probs, "full_probs")
    checks.check_leading(restricted_probs, "restricted_probs", full_probs.shape[:-1],
                   "full_probs.shape[:-1]")
    check_probs(restricted_probs, "restricted_probs")
    if torch.is_tensor(ratio) and ratio.dim() > 0:
        rows = full_probs.shape[:-1] + (1,)
        if ratio.shape[-1] != 1 or not checks.broadcasts_to(ratio.shape, rows):
            raise ValueError(f"ratio has shape {tuple(ratio.shape)}: a ratio tensor must be "
                             f"[..., 1] (one ratio per row, not per class) and broadcast to "
                             f"full_probs rows {tuple(rows)} without adding dims")
        checks.check_ratio_tensor(ratio, "ratio", upper_inclusive=True)
    else:
        ratio = checks.check_ratio(ratio, "ratio", upper_inclusive=True)
    return (1 - ratio) * full_probs + ratio * restricted_probs.to(full_probs.dtype)


def mix_losses(main: Tensor, extra: Tensor, ratio: float | Tensor) -> Tensor:
    """The normalised objective ``(1 - r) main + r extra``.

    Args:
        main, extra: tensors of the same shape (0-d, or one loss per model ``[M]``).
        ratio: a number in [0, 1), or a tensor of such values whose shape broadcasts to
            ``main.shape`` without adding dims (e.g. ``[M]``: one ratio per model).
    """
    for name, t in (("main", main), ("extra", extra)):
        checks.check_float_tensor(t, name)
    if main.shape != extra.shape:
        raise ValueError(f"main and extra must have the same shape, got {tuple(main.shape)} "
                         f"and {tuple(extra.shape)}")
    assert_finite(main, "main")  # (1 - r) NaN + r x is NaN: never mixed in silently
    assert_finite(extra, "extra")
    if torch.is_tensor(ratio) and ratio.dim() > 0:
        if not checks.broadcasts_to(ratio.shape, main.shape):
            raise ValueError(f"ratio has shape {tuple(ratio.shape)}, which does not broadcast "
                             f"to main's shape {tuple(main.shape)} without adding dims")
        checks.check_ratio_tensor(ratio, "ratio", upper_inclusive=False)
    else:
        ratio = checks.check_ratio(ratio)
    return (1 - ratio) * main + ratio * extra


# --------------------------------------------------------------------------- continuous


def imm_loss_continuous(
    component_log_probs: Tensor,
    sample_weights: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """IMM risk for continuous actions, estimated with ``m`` actions drawn from ``Pbar``.

    The induced policy is the mixture ``Qbar(a | x) = sum_j w_j Q(a | x, xb_j)`` of the ``k``
    component densities, and ``L_imm(x) = -E_{a ~ Pbar(.|x)} log Qbar(a | x)`` (KL(Pbar ||
    Qbar) plus the entropy of Pbar, a constant) is estimated by

        ``L_imm(x) ~= -(1/m) sum_i log sum_j w_j exp(log Q(a_i | x, xb_j))``,  ``a_i ~ Pbar``

    (a log-mean-exp over ``k`` for uniform weights). Unbiased in the draws of ``a`` for a
    fixed mixture; no gradient flows through ``Pbar``. ``k = 1`` with the point's own full
    observation is the per-sample reverse-KD term ``-E_{a ~ Pbar} log Q(a | x, xb)``; ``m = 1``
    with ``a`` the action of a deterministic ``Pbar`` is the deterministic special case.

    Args:
        component_log_probs: ``[..., k, m]`` log-densities ``log Q(a_i | x, xb_j)`` of the
            ``m`` restricted actions of each restricted context under its ``k`` components
            (e.g. :func:`gaussian_log_probs`; with gradient).
        sample_weights: optional ``[..., k]`` conditional ``pi(xb_j | x)`` (non-negative,
            summing to 1 over k). Default uniform ``1/k``. Leading dims equal to
            ``component_log_probs.shape[:-2]`` or broadcasting to it without adding dims.
        reduction: ``"mean"`` / ``"sum"`` over restricted contexts, or ``"none"`` for the
            per-context ``[...]`` tensor.
    """
    checks.check_logits(component_log_probs, "component_log_probs", min_dim=2)
    k = component_log_probs.shape[-2]
    if k < 1:
        raise ValueError(f"k (component_log_probs.shape[-2]) must be >= 1, got {k}")
    log_q = component_log_probs.to(checks.compute_dtype(component_log_probs))
    if sample_weights is not None:
        checks.check_float_tensor(sample_weights, "sample_weights", " of probabilities")
        if sample_weights.dim() < 1 or sample_weights.shape[-1] != k:
            raise ValueError(f"sample_weights must be [..., k={k}] to match "
                             f"component_log_probs {tuple(component_log_probs.shape)}, got "
                             f"shape {tuple(sample_weights.shape)}")
        checks.check_leading(sample_weights, "sample_weights",
                             component_log_probs.shape[:-2], "component_log_probs.shape[:-2]")
        check_probs(sample_weights, "sample_weights")
        log_q = log_q + torch.log(sample_weights.to(log_q.dtype)).unsqueeze(-1)
    log_qbar = torch.logsumexp(log_q, dim=-2)  # [..., m]
    if sample_weights is None:
        log_qbar = log_qbar - math.log(k)
    per_row = -log_qbar.mean(dim=-1)
    return checks.reduce_rows(per_row, reduction, "component_log_probs")


def gaussian_log_probs(mean: Tensor, log_std: Tensor, actions: Tensor,
                       squashed: bool = False) -> Tensor:
    """Log-densities of ``m`` actions under ``k`` diagonal Gaussians (or tanh-squashed ones).

    Args:
        mean, log_std: ``[..., k, d]`` component parameters.
        actions: ``[..., m, d]`` actions (leading dims equal to ``mean.shape[:-2]`` or
            broadcasting to it without adding dims). With ``squashed=True`` they lie in
            ``(-1, 1)`` and the density is that of ``tanh(u)``, ``u ~ N(mean, std)``:
            ``log N(atanh a) - sum log(1 - a^2)``.

    Returns:
        ``[..., k, m]``: ``log Q(a_i | component j)``, summed over the ``d`` action dims.
    """
    checks.check_logits(mean, "mean", min_dim=2)
    checks.check_logits(log_std, "log_std", min_dim=2)
    if log_std.shape != mean.shape:
        raise ValueError(f"log_std must have mean's shape {tuple(mean.shape)}, got "
                         f"{tuple(log_std.shape)}")
    checks.check_logits(actions, "actions", min_dim=2)
    if actions.shape[-1] != mean.shape[-1]:
        raise ValueError(f"actions must be [..., m, d={mean.shape[-1]}] to match mean "
                         f"{tuple(mean.shape)}, got {tuple(actions.shape)}")
    checks.check_leading(actions[..., 0], "actions[..., 0]", mean.shape[:-2],
                         "mean.shape[:-2]")
    if squashed and not bool(((actions > -1) & (actions < 1)).all()):
        raise ValueError("actions must lie in (-1, 1) for squashed=True (tanh's range)")
    a = actions.to(checks.compute_dtype(mean))
    u = torch.atanh(a) if squashed else a
    z = (u.unsqueeze(-3) - mean.unsqueeze(-2)) * torch.exp(-log_std).unsqueeze(-2)
    per_dim = -0.5 * z * z - log_std.unsqueeze(-2) - 0.5 * math.log(2 * math.pi)
    out = per_dim.sum(-1)  # [..., k, m]
    if squashed:
        out = out - torch.log1p(-a * a).sum(-1).unsqueeze(-2)
    return out


# --------------------------------------------------------------------------- serialized


def serialized_imm_backward(
    forward: Callable[[Tensor], Tensor],
    samples: Tensor,
    restricted_probs: Tensor,
    chunk_size: int,
    imm_lambda: float = 1.0,
    sample_weights: Tensor | None = None,
) -> Tensor:
    """Exact IMM gradient with memory flat in k (the paper's Algorithm 2).

    Accumulates ``imm_lambda * d imm_loss(mean over N) / d params`` into the ``.grad`` of the
    parameters ``forward`` uses, without keeping k autograd graphs alive:

    1. no-grad pass over chunks of the k samples: running ``log Qbar`` (``[N, C]``);
    2. grad pass over the same chunks, back-propagating the surrogate
       ``-sum_y w_j(y) log Q_j(y)`` with the constant weights
       ``w_j(y) = Pbar(y) pi_j Q_j(y) / Qbar(y)``, whose gradients sum to the IMM one.

    Both passes start from the same RNG state, so dropout inside ``forward`` draws the
    same masks twice and the gradient stays exact (true for ``nn.Dropout``; cuDNN's
    fused RNN dropout on CUDA keeps its own state and is not replayed).

    Args:
        forward: maps extended contexts ``[M, ...]`` to logits ``[M, C]``.
        samples: ``[N, k, ...]`` extended contexts, k per restricted context (N >= 1).
        restricted_probs: ``[N, C]`` restricted model rows.
        chunk_size: an integer >= 1: at most this many of the k samples (times N rows) per
            forward pass; peak memory scales with it, not with k.
        imm_lambda: the IMM weight lambda, finite and >= 0; multiplies the gradient.
        sample_weights: optional ``[N, k]`` conditional weights (default ``1/k``).

    Returns:
        The detached IMM loss (mean over N), a 0-dim tensor.
    """
    n, k, weights = _check_serialized_args(samples, restricted_probs, chunk_size,
                                           sample_weights)
    chunk_size = int(chunk_size)  # checked: an integer, or a float such as 2.0
    imm_lambda = check_real(imm_lambda, "imm_lambda", low=0.0)
    devices = [samples.device] if samples.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # pass 2 replays pass 1's RNG draws
        log_qbar = _serialized_log_qbar(forward, samples, weights, chunk_size, restricted_probs)
    probs = restricted_probs.to(log_qbar.dtype)
    for start in range(0, k, chunk_size):
        chunk = samples[:, start:start + chunk_size]
        c = chunk.shape[1]
        log_q = _chunk_log_probs(forward, chunk)  # [N, c, C], with grad
        with torch.no_grad():
            w = probs.unsqueeze(1) * torch.exp(log_q - log_qbar.unsqueeze(1))
            w = w * weights[:, start:start + c].unsqueeze(-1).to(w.dtype) * (imm_lambda / n)
        (-(w * log_q).sum()).backward()
    return (-(probs * log_qbar).sum(-1)).mean().detach()


def _check_serialized_args(samples, restricted_probs, chunk_size, sample_weights):
    check_real(chunk_size, "chunk_size", low=1, integer=True)
    if not torch.is_tensor(samples) or samples.dim() < 2:
        got = tuple(samples.shape) if torch.is_tensor(samples) else type(samples).__name__
        raise ValueError(f"samples must be a tensor [N, k, ...], got {got}")
    n, k = samples.shape[:2]
    if n < 1:
        raise ValueError("samples has no restricted contexts (N = samples.shape[0] = 0): "
                         "the mean IMM loss over no rows is undefined")
    if k < 1:
        raise ValueError(f"k (samples.shape[1]) must be >= 1, got {k}")
    checks.check_float_tensor(restricted_probs, "restricted_probs", " of probabilities")
    if restricted_probs.dim() != 2 or restricted_probs.shape[0] != n:
        raise ValueError(f"restricted_probs must be [N={n}, C], got "
                         f"{tuple(restricted_probs.shape)}")
    check_probs(restricted_probs, "restricted_probs")
    if sample_weights is None:
        weights = torch.full((n, k), 1.0 / k, device=samples.device, dtype=torch.float64)
    else:
        checks.check_float_tensor(sample_weights, "sample_weights", " of probabilities")
        if tuple(sample_weights.shape) != (n, k):
            raise ValueError(f"sample_weights must be [N={n}, k={k}], got "
                             f"{tuple(sample_weights.shape)}")
        check_probs(sample_weights, "sample_weights")
        weights = sample_weights
    return n, k, weights


def _chunk_log_probs(forward, chunk: Tensor) -> Tensor:
    """``[N, c, ...]`` -> ``log_softmax(forward(...))`` as ``[N, c, C]``."""
    n, c = chunk.shape[:2]
    logits = forward(chunk.reshape(n * c, *chunk.shape[2:]))
    if not torch.is_tensor(logits) or logits.dim() != 2 or logits.shape[0] != n * c:
        got = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"forward must return logits [M={n * c}, C], got {got}")
    checks.check_float_tensor(logits, "forward(samples) logits")
    if torch.is_grad_enabled() and not logits.requires_grad:
        raise ValueError("forward(samples) logits do not require grad (detached, or computed "
                         "under torch.no_grad()): forward must return logits computed from "
                         "the parameters whose .grad it accumulates")
    assert_finite(logits.detach(), "forward(samples) logits")
    return torch.log_softmax(logits.to(checks.compute_dtype(logits)), dim=-1).view(n, c, -1)


@torch.no_grad()
def _serialized_log_qbar(forward, samples, weights, chunk_size, restricted_probs) -> Tensor:
    """Running ``log Qbar`` over chunks of k: ``[N, C]``, O(N C) memory whatever k is."""
    acc = None
    for start in range(0, samples.shape[1], chunk_size):
        log_q = _chunk_log_probs(forward, samples[:, start:start + chunk_size])
        log_w = torch.log(weights[:, start:start + log_q.shape[1]].to(log_q.dtype))
        part = torch.logsumexp(log_q + log_w.unsqueeze(-1), dim=1)
        acc = part if acc is None else torch.logaddexp(acc, part)
    checks.check_classes(acc, restricted_probs, "forward(samples) logits")
    return acc
