"""Plots of the LM sweep (matplotlib, Agg): validation perplexity per epoch, test
perplexity against train_fraction (with the bigram's), and IMM's test perplexity against k.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imm_ray import analysis
from imm_ray.plotting import style


def _panels(frame: pd.DataFrame, name: str):
    import matplotlib.pyplot as plt

    models = sorted(frame.model.unique()) if len(frame) else ["-"]
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.0), squeeze=False)
    return fig, list(zip(axes[0], models, strict=True))


def _draw(ax, part: pd.DataFrame, x: str, y: str, label: str, title: str) -> None:
    agg = analysis.aggregate(part, ["method", x], y)
    analysis.plot_with_ci(agg, x=x, hue="method", path=None, ylabel=label, ax=ax,
                          logx=(x == "train_fraction"), title=title)


def plot_all(results: pd.DataFrame, curves: pd.DataFrame, out: Path,
             bigram: pd.DataFrame | None = None) -> list[Path]:
    """Three PNGs in ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = results.dropna(subset=["test_ppl"])
    specs = [("valid_vs_epoch", curves.dropna(subset=["epoch_valid_ppl"]), "epoch",
              "epoch_valid_ppl", "validation perplexity"),
             ("test_vs_train_fraction", done, "train_fraction", "test_ppl", "test perplexity"),
             ("test_vs_k", done[done.method == "imm"], "k", "test_ppl", "IMM test perplexity")]
    paths = []
    for name, frame, x, y, label in specs:
        fig, panels = _panels(frame, name)
        for ax, model in panels:
            part = frame[frame.model == model]
            if part.empty:
                continue
            title = model
            if name == "valid_vs_epoch":
                part = part[part.train_fraction == part.train_fraction.min()]
                title += f", train_fraction {part.train_fraction.min():g}"
            _draw(ax, part, x, y, label, title)
            if name == "test_vs_train_fraction" and bigram is not None:
                _bigram_line(ax, bigram)
            if name == "test_vs_k":
                _baseline_lines(ax, done[(done.model == model) & (done.method != "imm")])
        fig.tight_layout()
        path = Path(out) / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _bigram_line(ax, bigram: pd.DataFrame) -> None:
    for data, part in bigram.sort_values("train_fraction").groupby("restricted_data"):
        ax.plot(part.train_fraction, part.bigram_test_ppl, ls="--", **style("bigram"),
                lw=1, label=f"KN bigram ({data} data)")
    ax.legend(fontsize=8)


def _baseline_lines(ax, base: pd.DataFrame) -> None:
    """Dashed horizontal lines: each baseline's mean test ppl at the smallest fraction."""
    if base.empty:
        return
    base = base[base.train_fraction == base.train_fraction.min()]
    for method, part in base.groupby("method"):
        ax.axhline(part.test_ppl.mean(), ls="--", lw=1, label=f"{method} (baseline)",
                   color=style(method)["color"])
    ax.legend(fontsize=8)
