"""The three figures of a lambda-vs-n sweep (matplotlib, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis
from imm_ray.core import lambda_from_ratio
from imm_ray.experiments.lambda_vs_n.config import ORDER
from imm_ray.plotting import style


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _n_axis(ax, sizes) -> None:
    """Log-scaled n axis with plain integer ticks at the swept range."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ticks = [t for t in (2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000)
             if min(sizes) <= t <= max(sizes)]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _log_loss_axis(ax, low: float, high: float) -> None:
    """Log-scaled loss axis (small-n baselines are 3-4x the large-n losses), plain ticks."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    ax.set_yscale("log")
    ticks = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0]
    ax.set_yticks([t for t in ticks if low * 0.9 <= t <= high * 1.1])
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _as_agg(best: pd.DataFrame, metric: str) -> pd.DataFrame:
    cols = {f"{metric}_{c}": c for c in ("mean", "ci_low", "ci_high")}
    return best[["method", "n", *cols]].rename(columns=cols)


def plot_best_vs_n(best: pd.DataFrame, refs: dict[str, float], path: Path) -> Path:
    """Test log-loss and accuracy vs n, each method at its best ratio, 95% CI bands."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ll = _as_agg(best, "test_log_loss")
    analysis.plot_with_ci(ll, "n", "method", None, ylabel="test log-loss (best ratio)",
                          title="log-loss vs n", logx=True, ax=axes[0])
    for name, value in refs.items():
        axes[0].axhline(value, ls="--", lw=1, color="gray")
        axes[0].annotate(name, (ll["n"].min(), value), fontsize=7, va="bottom")
    low = ll.loc[ll.ci_low > 0, "ci_low"].min() if (ll.ci_low > 0).any() else ll["mean"].min()
    _log_loss_axis(axes[0], low, ll["ci_high"].max())
    axes[0].set_ylim(bottom=low * 0.9)  # a band clipped at 0 runs to the bottom edge
    if best.get("test_log_loss_ci_clipped", pd.Series(dtype=bool)).any():
        axes[0].set_title("log-loss vs n (95% CI bands clipped at 0)")
    analysis.plot_with_ci(_as_agg(best, "test_accuracy"), "n", "method", None,
                          ylabel="test accuracy (best ratio)", title="accuracy vs n",
                          logx=True, ax=axes[1])
    for ax in axes:
        _n_axis(ax, best["n"])
    return _save(fig, plt, path)


def plot_ratio_vs_n(best: pd.DataFrame, schedules: dict, path: Path) -> Path:
    """Best ratio vs n per method, with each method's fitted schedule."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    grid = np.linspace(best["n"].min(), best["n"].max(), 200)
    for method in [m for m in ORDER if m in schedules]:
        part = best[best.method == method].sort_values("n")
        dots = ax.plot(part["n"], part["ratio"], ls="", ms=4, label=f"{method} best",
                       **style(method))[0]
        sched, rep = schedules[method]
        ax.plot(grid, [sched.ratio(n) for n in grid], color=dots.get_color(),
                label=f"{method} fit ({rep['basis']}, rmse {rep['rmse']:.2f})")
    _n_axis(ax, best["n"])
    ax.set_xlabel("n")
    ax.set_ylabel("best ratio r = lambda / (1 + lambda)")
    ax.set_title("best ratio vs n and fitted schedules")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_loss_vs_ratio(rows: pd.DataFrame, sizes: list[int], path: Path,
                       methods=("imm", "reverse_kd", "noising", "interpolate")) -> Path:
    """Test log-loss vs ratio at a few n (the consistency picture: IMM stays flat or
    improves where reverse-KD and noising degrade); ``none`` is the dashed line. The ratio
    axis is ``lambda`` on a symlog scale (labelled with r), so 0.9-0.999 is readable."""
    plt = _plt()
    cols = min(3, len(sizes))  # at most 3 panels a row: readable at normal size
    rows_ = -(-len(sizes) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(4.4 * cols, 3.7 * rows_), squeeze=False)
    for ax in axes.flat[len(sizes):]:
        ax.set_visible(False)
    for ax, n in zip(axes.flat, sizes, strict=False):
        part = rows[(rows.n == n) & rows.method.isin(methods)]
        agg = analysis.aggregate(part, by=["method", "ratio"], metric="test_log_loss")
        agg["lambda"] = agg["ratio"].map(lambda_from_ratio)
        analysis.plot_with_ci(agg, "lambda", "method", None, ylabel="test log-loss",
                              title=f"n = {n}", ax=ax)
        _ratio_axis(ax, agg["ratio"])
        base = rows[(rows.n == n) & (rows.method == "none")]["test_log_loss"]
        if len(base):
            ax.axhline(base.mean(), ls="--", color="black", lw=1, label="none")
            ax.legend(fontsize=8)
    return _save(fig, plt, path)


def _ratio_axis(ax, ratios) -> None:
    """x = lambda on a symlog axis, ticks labelled with their ratio r."""
    ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
    marks = [r for r in (0.0, 0.5, 0.9, 0.99, 0.999) if r <= max(ratios) + 1e-12]
    ax.set_xticks([lambda_from_ratio(r) for r in marks])
    ax.set_xticklabels([f"{r:g}" for r in marks])
    ax.set_xlabel("ratio r (axis: lambda = r / (1 - r), symlog)")


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
