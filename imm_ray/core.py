"""Induced Model Matching: the loss, its memory-flat gradient, and lambda schedules.

Pure PyTorch on tensors: no Ray, no RLlib, no file I/O. Every experiment in imm_ray
(the logistic toy, the language models, the RLlib learners) calls these functions;
nothing re-implements them. Notation follows ``shared/docs/IMM.md``:

- ``C`` classes (labels, vocabulary words, actions); ``k`` extended contexts per
  restricted context; ``N`` restricted contexts in a batch.
- ``Q(y | x, xb_j)``: the full model's prediction for extended context ``j``.
- Induced model ``Qbar(y | x) = sum_j w_j Q(y | x, xb_j)`` (``w_j = 1/k`` by default).
- IMM loss ``-sum_y Pbar(y | x) log Qbar(y | x)``; objective ``L_main + lambda L_imm``,
  or equivalently ``(1 - r) L_main + r L_imm`` with ``r = lambda / (1 + lambda)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

PROB_ATOL = 1e-4
"""Tolerance for probability vectors (restricted models, belief weights) summing to 1
(float16/bfloat16 rows get their dtype's eps instead)."""

Reduction = Literal["mean", "sum", "none"]


class NonFiniteLossError(FloatingPointError):
    """A loss or input became NaN/inf; trainers raise this to stop a trial with a message."""


# --------------------------------------------------------------------------- checks


def _compute_dtype(t: Tensor) -> torch.dtype:
    # Half-precision inputs are reduced in float32: logsumexp over k and the sum over
    # a 10k vocabulary lose too much in float16/bfloat16.
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


def assert_finite(value: Tensor, name: str) -> Tensor:
    """Raise :class:`NonFiniteLossError` naming ``name`` if ``value`` has NaN or inf."""
    if not bool(torch.isfinite(value).all()):
        bad = value[~torch.isfinite(value)].flatten()[:3].tolist()
        raise NonFiniteLossError(f"{name} is not finite (found {bad}); stopping instead of "
                                 "propagating NaN. Lower the learning rate or lambda.")
    return value


def _check_logits(logits: Tensor, name: str, min_dim: int) -> None:
    if not torch.is_tensor(logits) or not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {type(logits).__name__}"
                         f"{'' if not torch.is_tensor(logits) else ' of ' + str(logits.dtype)}")
    if logits.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims, got shape "
                         f"{tuple(logits.shape)}")
    if logits.shape[-1] < 1:
        raise ValueError(f"{name} has no classes (last dim is 0)")
    assert_finite(logits, name)


def check_probs(probs: Tensor, name: str, dim: int = -1) -> None:
    """Raise ValueError unless ``probs`` is non-negative, finite and sums to 1 along ``dim``."""
    if not torch.is_tensor(probs) or not probs.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of probabilities")
    assert_finite(probs, name)
    if bool((probs < 0).any()):
        raise ValueError(f"{name} must be non-negative; min is {probs.min().item():.3g}")
    sums = probs.sum(dim=dim, dtype=torch.float64)
    err = (sums - 1).abs().max().item() if sums.numel() else 0.0
    # Rounding each entry moves the sum by at most eps/2 of the total: a bfloat16 row
    # cannot sum to 1 within 1e-4, so half precisions get their own eps as tolerance.
    tol = max(PROB_ATOL, torch.finfo(probs.dtype).eps)
    if err > tol:
        raise ValueError(f"{name} must sum to 1 along dim {dim} (tolerance {tol:.3g}); "
                         f"worst row is off by {err:.3g}")


def _check_classes(logits: Tensor, probs: Tensor, logits_name: str) -> None:
    if logits.shape[-1] != probs.shape[-1]:
        raise ValueError(
            f"restricted_probs has {probs.shape[-1]} classes but {logits_name} has "
            f"{logits.shape[-1]}: the restricted and full models must share one vocabulary "
            "/ action set")


def _check_ratio(ratio: float, name: str = "ratio", upper_inclusive: bool = False) -> None:
    ok = 0.0 <= ratio <= 1.0 if upper_inclusive else 0.0 <= ratio < 1.0
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ok):
        allowed = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"{name} must be in {allowed}, got {ratio!r}")


def _reduce(per_row: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# --------------------------------------------------------------------------- the loss


def induced_log_probs(sample_logits: Tensor, sample_weights: Tensor | None = None) -> Tensor:
    """Log of the induced model, ``log Qbar(y | x)``, from k extended contexts.

    Args:
        sample_logits: ``[..., k, C]`` full-model logits, one row per extended context
            ``(x, xb_j)`` of the same restricted context ``x``.
        sample_weights: optional ``[..., k]`` conditional ``pi(xb_j | x)`` (non-negative,
            summing to 1 over k; e.g. a POMDP belief). Default uniform ``1/k``. Leading
            dims broadcast against ``sample_logits``'.

    Returns:
        ``[..., C]``: ``log sum_j w_j softmax(logits_j)``, computed as a logsumexp over
        ``log w_j + log_softmax(logits_j)`` so that logits of +-1e4 stay finite. Float32
        for half-precision input, else the input dtype.
    """
    _check_logits(sample_logits, "sample_logits", min_dim=2)
    k = sample_logits.shape[-2]
    if k < 1:
        raise ValueError(f"k (sample_logits.shape[-2]) must be >= 1, got {k}")
    log_q = torch.log_softmax(sample_logits.to(_compute_dtype(sample_logits)), dim=-1)
    if sample_weights is None:
        return torch.logsumexp(log_q, dim=-2) - math.log(k)
    if sample_weights.shape[-1] != k:
        raise ValueError(f"sample_weights must be [..., k={k}] to match sample_logits, got "
                         f"shape {tuple(sample_weights.shape)}")
    check_probs(sample_weights, "sample_weights")
    log_w = torch.log(sample_weights.to(log_q.dtype)).unsqueeze(-1)  # [..., k, 1]; log 0 = -inf
    return torch.logsumexp(log_q + log_w, dim=-2)


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
        restricted_probs: ``[..., C]`` ``Pbar(. | x)``; rows sum to 1. Leading dims
            broadcast against ``sample_logits.shape[:-2]``.
        sample_weights: optional ``[..., k]``, see :func:`induced_log_probs`.
        reduction: ``"mean"`` / ``"sum"`` over restricted contexts, or ``"none"`` for the
            per-context ``[...]`` tensor.
    """
    log_qbar = induced_log_probs(sample_logits, sample_weights)
    _check_classes(sample_logits, restricted_probs, "sample_logits")
    check_probs(restricted_probs, "restricted_probs")
    per_row = -(restricted_probs.to(log_qbar.dtype) * log_qbar).sum(dim=-1)
    return _reduce(per_row, reduction)


def reverse_kd_loss(logits: Tensor, restricted_probs: Tensor, reduction: Reduction = "mean"):
    """Per-sample matching ``CE(Pbar(. | x_i), Q(. | x_i, xb_i))``: the biased baseline.

    Args:
        logits: ``[..., C]`` full-model logits at each data point's own full context.
        restricted_probs: ``[..., C]`` restricted model at the same points (broadcasts).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    _check_logits(logits, "logits", min_dim=1)
    _check_classes(logits, restricted_probs, "logits")
    check_probs(restricted_probs, "restricted_probs")
    log_q = torch.log_softmax(logits.to(_compute_dtype(logits)), dim=-1)
    per_row = -(restricted_probs.to(log_q.dtype) * log_q).sum(dim=-1)
    return _reduce(per_row, reduction)


def interpolate(full_probs: Tensor, restricted_probs: Tensor, ratio: float | Tensor) -> Tensor:
    """Prediction-time mixture ``(1 - ratio) Q + ratio Pbar`` (the interpolation baseline).

    Args:
        full_probs: ``[..., C]`` full-model probabilities.
        restricted_probs: ``[..., C]`` restricted probabilities (broadcasts).
        ratio: float in [0, 1], or a tensor of such values broadcasting against
            ``[..., 1]`` (e.g. one ratio per vectorised model).
    """
    check_probs(full_probs, "full_probs")
    _check_classes(full_probs, restricted_probs, "full_probs")
    check_probs(restricted_probs, "restricted_probs")
    if torch.is_tensor(ratio):
        if bool(((ratio < 0) | (ratio > 1) | ~torch.isfinite(ratio)).any()):
            raise ValueError("ratio must be in [0, 1] everywhere")
    else:
        _check_ratio(ratio, "ratio", upper_inclusive=True)
    return (1 - ratio) * full_probs + ratio * restricted_probs.to(full_probs.dtype)


def mix_losses(main: Tensor, extra: Tensor, ratio: float | Tensor) -> Tensor:
    """The normalised objective ``(1 - r) main + r extra`` (``r`` in [0, 1), or a tensor)."""
    if not torch.is_tensor(ratio):
        _check_ratio(ratio)
    return (1 - ratio) * main + ratio * extra


# --------------------------------------------------------------------------- serialized


def serialized_imm_backward(
    forward: Callable[[Tensor], Tensor],
    samples: Tensor,
    restricted_probs: Tensor,
    chunk_size: int,
    imm_lambda: float = 1.0,
    sample_weights: Tensor | None = None,
) -> Tensor:
    """Exact IMM gradient with memory flat in k (IMM.md section 4, paper's Algorithm 2).

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
        samples: ``[N, k, ...]`` extended contexts, k per restricted context.
        restricted_probs: ``[N, C]`` restricted model rows.
        chunk_size: at most this many of the k samples (times N rows) per forward pass;
            peak memory scales with it, not with k.
        imm_lambda: the IMM weight lambda; multiplies the accumulated gradient.
        sample_weights: optional ``[N, k]`` conditional weights (default ``1/k``).

    Returns:
        The detached IMM loss (mean over N), a 0-dim tensor.
    """
    n, k, weights = _check_serialized_args(samples, restricted_probs, chunk_size,
                                           sample_weights)
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
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if samples.dim() < 2:
        raise ValueError(f"samples must be [N, k, ...], got shape {tuple(samples.shape)}")
    n, k = samples.shape[:2]
    if k < 1:
        raise ValueError(f"k (samples.shape[1]) must be >= 1, got {k}")
    if restricted_probs.dim() != 2 or restricted_probs.shape[0] != n:
        raise ValueError(f"restricted_probs must be [N={n}, C], got "
                         f"{tuple(restricted_probs.shape)}")
    check_probs(restricted_probs, "restricted_probs")
    if sample_weights is None:
        weights = torch.full((n, k), 1.0 / k, device=samples.device, dtype=torch.float64)
    else:
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
    if logits.dim() != 2 or logits.shape[0] != n * c:
        raise ValueError(f"forward must return logits [M={n * c}, C], got "
                         f"{tuple(logits.shape)}")
    assert_finite(logits.detach(), "forward(samples) logits")
    return torch.log_softmax(logits.to(_compute_dtype(logits)), dim=-1).view(n, c, -1)


@torch.no_grad()
def _serialized_log_qbar(forward, samples, weights, chunk_size, restricted_probs) -> Tensor:
    """Running ``log Qbar`` over chunks of k: ``[N, C]``, O(N C) memory whatever k is."""
    acc = None
    for start in range(0, samples.shape[1], chunk_size):
        log_q = _chunk_log_probs(forward, samples[:, start:start + chunk_size])
        log_w = torch.log(weights[:, start:start + log_q.shape[1]].to(log_q.dtype))
        part = torch.logsumexp(log_q + log_w.unsqueeze(-1), dim=1)
        acc = part if acc is None else torch.logaddexp(acc, part)
    _check_classes(acc, restricted_probs, "forward(samples) logits")
    return acc


# --------------------------------------------------------------------------- lambda


def lambda_from_ratio(r: float) -> float:
    """``lambda = r / (1 - r)`` for a ratio ``r`` in [0, 1)."""
    _check_ratio(r)
    return r / (1.0 - r)


def ratio_from_lambda(imm_lambda: float) -> float:
    """``r = lambda / (1 + lambda)`` for ``lambda >= 0``."""
    if not (isinstance(imm_lambda, (int, float)) and math.isfinite(imm_lambda)
            and imm_lambda >= 0):
        raise ValueError(f"imm_lambda must be a finite number >= 0, got {imm_lambda!r}")
    return imm_lambda / (1.0 + imm_lambda)


@dataclass(frozen=True)
class ConstantSchedule:
    """The same lambda for every dataset size."""

    imm_lambda: float

    def __post_init__(self):
        ratio_from_lambda(self.imm_lambda)  # validates lambda >= 0

    def ratio(self, n: float) -> float:
        return ratio_from_lambda(self.imm_lambda)

    def __call__(self, n: float) -> float:
        return float(self.imm_lambda)


@dataclass(frozen=True)
class RatioSchedule:
    """Ratio as a line in ``n`` or ``log n``: ``r(n) = clip(round(slope f(n) + intercept))``.

    ``f(n) = n`` (``basis="n"``) or ``log n`` (``basis="log_n"``); rounded to ``decimals``
    when given (the reference RL rule rounds to 0.1), then clipped into ``[0, max_ratio]``
    so that lambda stays finite. Calling the schedule returns lambda.
    """

    slope: float
    intercept: float
    basis: Literal["n", "log_n"] = "n"
    decimals: int | None = None
    max_ratio: float = 0.95

    def __post_init__(self):
        if self.basis not in ("n", "log_n"):
            raise ValueError(f"basis must be 'n' or 'log_n', got {self.basis!r}")
        _check_ratio(self.max_ratio, "max_ratio")

    def ratio(self, n: float) -> float:
        if not (math.isfinite(n) and n > 0):
            raise ValueError(f"dataset size n must be > 0, got {n!r}")
        r = self.slope * (n if self.basis == "n" else math.log(n)) + self.intercept
        if self.decimals is not None:
            r = round(r, self.decimals)
        return min(max(r, 0.0), self.max_ratio)

    def __call__(self, n: float) -> float:
        return lambda_from_ratio(self.ratio(n))


REFERENCE_RL_SCHEDULE = RatioSchedule(slope=-0.0002, intercept=0.1891, decimals=1)
"""The reference RL code's rule ``r = round(-0.0002 n + 0.1891, 1)`` (n = epochs)."""

Schedule = ConstantSchedule | RatioSchedule
SCHEDULE_PRESETS: dict[str, Schedule] = {"reference_rl": REFERENCE_RL_SCHEDULE}


def make_schedule(spec: float | str | dict | Schedule) -> Schedule:
    """A schedule from a config value: a number (constant lambda), a preset name
    (``"reference_rl"``), a dict of :class:`RatioSchedule` fields, or a schedule."""
    if isinstance(spec, (ConstantSchedule, RatioSchedule)):
        return spec
    if isinstance(spec, bool):
        raise ValueError(f"schedule spec must be a number, preset name or dict, got {spec!r}")
    if isinstance(spec, (int, float)):
        return ConstantSchedule(float(spec))
    if isinstance(spec, str):
        if spec not in SCHEDULE_PRESETS:
            raise ValueError(f"unknown schedule preset {spec!r}; choose from "
                             f"{sorted(SCHEDULE_PRESETS)}")
        return SCHEDULE_PRESETS[spec]
    if isinstance(spec, dict):
        return RatioSchedule(**spec)
    raise ValueError(f"schedule spec must be a number, preset name or dict, got {spec!r}")
