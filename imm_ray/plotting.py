"""One colour and marker per method, in every figure of every experiment.

:func:`style` is what :func:`imm_ray.analysis.plot_with_ci` (and any experiment's own
plot) draws a method with, so ``imm`` is the same blue circle in the toy's, the table's,
the grid world's, CartPole's and Penn Treebank's figures. A label that extends a method
name (``imm_argmax``, ``imm (late)``) takes that method's colour and its own marker; any
other label gets a colour of its own, the same in every figure (from its name, not from
the order lines happen to be drawn in).
"""

from __future__ import annotations

import zlib

METHOD_STYLES: dict[str, dict] = {
    "none": {"color": "black", "marker": "o"},
    "imm": {"color": "tab:blue", "marker": "o"},
    "reverse_kd": {"color": "tab:green", "marker": "s"},
    "noising": {"color": "tab:orange", "marker": "^"},
    "interpolate": {"color": "tab:purple", "marker": "D"},
    "restricted": {"color": "tab:brown", "marker": "v"},
    "bigram": {"color": "tab:red", "marker": "x"},
}
"""The methods every experiment shares (imm_ray.metrics' method names)."""
VARIANT_MARKERS = ("P", "X", "*", "h", "<", ">")
"""Markers of labels that extend a method name (``imm_softmax_t1``), by name."""
OTHER_COLORS = ("tab:cyan", "tab:olive", "tab:pink", "tab:gray", "gold", "navy", "teal",
                "crimson")


def _pick(name: str, options: tuple):
    return options[zlib.crc32(name.encode()) % len(options)]


def style(label) -> dict:
    """``{"color": ..., "marker": ...}`` for a method or a label built on one."""
    name = str(label)
    if name in METHOD_STYLES:
        return dict(METHOD_STYLES[name])
    base = max((m for m in METHOD_STYLES if name.startswith(m)), key=len, default=None)
    if base is not None:
        return {"color": METHOD_STYLES[base]["color"], "marker": _pick(name, VARIANT_MARKERS)}
    return {"color": _pick(name, OTHER_COLORS), "marker": _pick(name, VARIANT_MARKERS)}
