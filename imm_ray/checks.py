"""Argument checks shared by :mod:`imm_ray.core`, :mod:`imm_ray.schedules` and configs.

Each raises ValueError naming the argument and saying what it got (or
:class:`NonFiniteLossError` for NaN/inf values); ``core`` re-exports the public ones.

Scalars are checked once, the same way everywhere.
A number may arrive as a Python ``int``/``float``, a numpy scalar (``np.float32(0.5)``
from a grid built with numpy, ``np.int64`` from a DataFrame) or a 0-d tensor (a value
computed in torch). All of these are accepted and turned into a plain ``float`` (or
``int``); anything else is rejected with a message that says the *type* is the problem,
instead of a misleading "must be in [0, 1), got np.float32(0.5)"::

    check_real(np.float32(0.5), "ratio", low=0, high=1, high_open=True)  # -> 0.5
    check_real("0.5", "ratio")     # ValueError: ratio must be a real number ..., got str '0.5'
    check_real(True, "imm_lambda") # ValueError: ... got bool True (a bool is not a number here)
    check_real(7, "chunk_size", low=1, integer=True)  # -> 7

NaN and infinities are always rejected (a non-finite setting is never meaningful here).

Tensors: :func:`check_probs` (non-negative, finite, rows summing to 1),
:func:`check_leading` (the only broadcasting core allows: leading dims of size 1 or
missing, never one that adds dims), :func:`check_ratio_tensor`, :func:`reduce_rows`
(``"mean"`` of an empty batch is an error, not NaN).
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    class _Torch:
        """``torch``, imported on first use: the scalar checks run at the command line
        (``--help``, flag errors) where importing torch would cost seconds."""

        def __getattr__(self, name):
            import torch as module

            return getattr(module, name)

    torch = _Torch()


def _is_tensor(value) -> bool:
    """``torch.is_tensor`` without importing torch (no torch loaded: no tensor exists)."""
    module = sys.modules.get("torch")
    return module is not None and module.is_tensor(value)

ACCEPTED = "an int, float, numpy scalar or 0-d tensor"
ACCEPTED_INTEGER = "an int, numpy integer, 0-d tensor, or a float with no fractional part"


def _describe(value) -> str:
    if _is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def is_bool(value) -> bool:
    """A Python or numpy bool (``np.bool_`` is not a ``bool`` subclass)."""
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy" and
                                       kind.__name__ in ("bool", "bool_"))


def as_real(value, name: str, *, integer: bool = False) -> float | int:
    """``value`` as a Python ``float`` (``int`` when ``integer``), or ValueError naming
    ``name`` and the type. Booleans are not numbers here (``True`` as a weight is a bug)."""
    kind, accepted = ("an integer", ACCEPTED_INTEGER) if integer else ("a real number",
                                                                       ACCEPTED)
    original = value
    if _is_tensor(value):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be {kind} ({accepted}), got {_describe(value)}")
        value = value.item()
    if is_bool(value):
        raise ValueError(f"{name} must be {kind} ({accepted}), got {_describe(original)} "
                         "(a bool is not a number here)")
    if integer:
        if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) \
                and math.isfinite(value) and float(value).is_integer():
            return int(value)  # 2.0 is the integer 2
        if not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be {kind} ({accepted}), got {_describe(original)}")
        return int(value)
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind} ({accepted}), got {_describe(original)}")
    return float(value)


def interval(low=None, high=None, low_open: bool = False, high_open: bool = False) -> str:
    """``"[0, 1)"``, ``">= 0"``, ``"> 0"``, ``"<= 1"`` or ``"finite"`` for messages."""
    if low is not None and high is not None:
        return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "finite"


def check_real(value, name: str, *, low=None, high=None, low_open: bool = False,
               high_open: bool = False, integer: bool = False) -> float | int:
    """:func:`as_real`, then finite and inside the interval; returns the plain number.

    Raises:
        ValueError: naming ``name``, the allowed range (e.g. ``[0, 1)``) and the value.
    """
    x = as_real(value, name, integer=integer)
    ok = math.isfinite(x)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:
        where = interval(low, high, low_open, high_open)
        if where[0] in "([":  # a bounded interval says "finite" by itself
            need = f"{'an integer ' if integer else ''}in {where}"
        else:
            need = f"{'an integer' if integer else 'a finite number'}"
            need += "" if where == "finite" else f" {where}"
        raise ValueError(f"{name} must be {need}, got {x!r}")
    return x


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices`` (strings), else ValueError naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {_describe(value)}")
    return value


# ------------------------------------------------------- settings in (name, value) order
# The config dataclasses' style: ``as_int("--tol", v, 1)`` names the setting first.


def _scalar(value):
    """numpy scalars, 0-d arrays and 0-d tensors -> Python scalars; else unchanged (numpy
    is recognised by its module, so that ``core`` can import this file without numpy)."""
    if _is_tensor(value) and value.dim() == 0:
        return value.item()
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def as_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]``, or ValueError naming ``name``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{_range(low, high)}, got "
                             f"{type(value).__name__} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range(low, high)}, got {value}")
    return value


def as_float(name: str, value, low: float | None = None, high: float | None = None, *,
             low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the given interval, or ValueError naming ``name``."""
    value = _scalar(value)
    allowed = _interval(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number{allowed}, got "
                         f"{type(value).__name__} {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        raise ValueError(f"{name} must be a finite number{allowed}, got {value!r}")
    return value


def as_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def as_names(name: str, values, allow_empty: bool = True) -> tuple[str, ...]:
    """A tuple of distinct non-empty strings (column names)."""
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"{name} must be column names (non-empty strings), got {bad!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must name at least one column")
    require_unique(name, values)
    return values


def _range(low, high) -> str:
    return _interval(low, high, False, False)


def _interval(low, high, low_open, high_open) -> str:
    """`` in [0, 1)``, `` >= 1`` ... for messages (empty when unbounded)."""
    if low is None and high is None:
        return ""
    text = interval(low, high, low_open, high_open)
    return f" in {text}" if low is not None and high is not None else f" {text}"


def check_memory(name: str, nbytes: float, what: str) -> None:
    """ValueError naming ``name`` when ``what`` needs more bytes than this machine's memory
    (a tensor that cannot fit dies in the allocator and is retried for minutes)."""
    import psutil

    total = psutil.virtual_memory().total
    if nbytes > total:
        raise ValueError(f"{name}: {what} need at least {nbytes / 1e9:,.1f} GB, more than "
                         f"this machine's {total / 1e9:,.1f} GB of memory; lower {name}")


def require_unique(name: str, values) -> None:
    """Raise ValueError naming ``name`` (a flag or field) if ``values`` repeats a value: a
    repeated grid value would run identical trials and count their rows twice."""
    seen: list = []
    repeated = [v for v in values if v in seen or seen.append(v)]
    if repeated:
        raise ValueError(f"{name} must not repeat a value; {repeated!r} repeated in "
                         f"{list(values)!r}")


# --------------------------------------------------------------------------- tensors

PROB_ATOL = 1e-4
"""Tolerance for probability vectors (restricted models, belief weights) summing to 1
(float16/bfloat16 rows get their dtype's eps instead)."""

Reduction = Literal["mean", "sum", "none"]


class NonFiniteLossError(FloatingPointError):
    """A loss or input became NaN/inf; trainers raise this to stop a trial with a message."""


def compute_dtype(t: Tensor) -> torch.dtype:
    # Half-precision inputs are reduced in float32: logsumexp over k and the sum over
    # a 10k vocabulary lose too much in float16/bfloat16.
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


def assert_finite(value: Tensor, name: str, hint: str = "") -> Tensor:
    """Raise :class:`NonFiniteLossError` naming ``name`` if ``value`` has NaN or inf.

    ``hint`` is appended to the message: only a caller that knows the cause (a training
    loss whose inputs were checked finite) should advise e.g. lowering the learning rate;
    a NaN in the data or a restricted model's output is named as such, with no advice.
    A non-tensor ``value`` (a Python float) is a TypeError naming ``name``."""
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a tensor, got {_describe(value)}; use "
                        "math.isfinite for a Python number")
    check_not_meta(value, name)
    # One reduction instead of isfinite's four passes: a NaN or inf anywhere makes the sum
    # non-finite, so a finite sum proves every entry finite; a sum that overflowed (or a
    # real NaN) gets the exact test.
    if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
        bad = value[~torch.isfinite(value)].flatten()[:3].tolist()
        raise NonFiniteLossError(f"{name} is not finite (found {bad}); stopping instead of "
                                 f"propagating NaN.{' ' + hint if hint else ''}")
    return value


def check_float_tensor(t, name: str, what: str = "") -> None:
    """ValueError unless ``t`` is a floating-point tensor."""
    if not torch.is_tensor(t) or not t.is_floating_point():
        got = f"a tensor of dtype {t.dtype}" if torch.is_tensor(t) else type(t).__name__
        raise ValueError(f"{name} must be a floating-point tensor{what}, got {got}")
    check_not_meta(t, name)


def check_not_meta(t: Tensor, name: str) -> None:
    """ValueError for a tensor on the ``meta`` device (a shape without data)."""
    if t.is_meta:
        raise ValueError(f"{name} is on the meta device (a shape without data, shape "
                         f"{tuple(t.shape)}); pass a tensor with values (cpu/cuda)")


def check_logits(logits: Tensor, name: str, min_dim: int) -> None:
    """A finite float tensor of at least ``min_dim`` dims and at least one class."""
    check_float_tensor(logits, name)
    if logits.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims, got shape "
                         f"{tuple(logits.shape)}")
    if logits.shape[-1] < 1:
        raise ValueError(f"{name} has no classes (last dim is 0)")
    assert_finite(logits, name)


def check_probs(probs: Tensor, name: str, dim: int = -1) -> None:
    """Raise ValueError unless ``probs`` is non-negative, finite and sums to 1 along ``dim``."""
    check_float_tensor(probs, name, " of probabilities")
    if probs.dim() < 1:
        raise ValueError(f"{name} must have at least 1 dim, got a 0-d tensor")
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


def check_classes(logits: Tensor, probs: Tensor, logits_name: str) -> None:
    """The restricted and full models' last dims (classes) agree."""
    if logits.shape[-1] != probs.shape[-1]:
        raise ValueError(
            f"restricted_probs has {probs.shape[-1]} classes but {logits_name} has "
            f"{logits.shape[-1]}: the restricted and full models must share one vocabulary "
            "/ action set")


def check_leading(t: Tensor, name: str, batch: torch.Size, batch_name: str) -> None:
    """``t[..., last]``'s leading dims must broadcast *to* ``batch`` without enlarging it:
    ``[N, 1, C]`` probabilities against a batch ``[N]`` would silently pair every row with
    every other one (``[N, N]``), so that is an error, not a broadcast."""
    lead = t.shape[:-1]
    if not broadcasts_to(lead, batch):
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}: its leading dims {tuple(lead)} must equal "
            f"(or broadcast to, without adding dims) {batch_name} {tuple(batch)}")


def broadcasts_to(shape, target: torch.Size) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (no dim added or enlarged)."""
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


def check_ratio(ratio, name: str = "ratio", upper_inclusive: bool = False) -> float:
    """A number in [0, 1) (``[0, 1]`` when ``upper_inclusive``), as a float."""
    return check_real(ratio, name, low=0.0, high=1.0, high_open=not upper_inclusive)


def check_ratio_tensor(ratio: Tensor, name: str, upper_inclusive: bool) -> None:
    """Every element of a real tensor in [0, 1) (or [0, 1]) and finite."""
    if ratio.dtype == torch.bool or ratio.is_complex():
        raise ValueError(f"{name} must be a real tensor, got dtype {ratio.dtype}")
    high_ok = ratio <= 1 if upper_inclusive else ratio < 1
    if not bool(((ratio >= 0) & high_ok & torch.isfinite(ratio)).all()):
        allowed = "[0, 1]" if upper_inclusive else "[0, 1)"
        bad = ratio[~((ratio >= 0) & high_ok & torch.isfinite(ratio))].flatten()[:3]
        raise ValueError(f"{name} must be in {allowed} everywhere; found {bad.tolist()}")


def reduce_rows(per_row: Tensor, reduction: Reduction, name: str) -> Tensor:
    """``mean``/``sum``/``none`` of per-row losses; ``name`` is the input an error names."""
    if reduction == "mean":
        if per_row.numel() == 0:
            raise ValueError(f"{name} has an empty batch (shape {tuple(per_row.shape)} of "
                             "rows): reduction='mean' over no rows is undefined (NaN); pass "
                             "a non-empty batch or reduction='sum'/'none'")
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
