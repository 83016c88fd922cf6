"""The paper's three rows: the task's metric per method (mean, 95% CI over seeds), the
paired difference of each method to ``mlm`` (same seeds), a CSV, a markdown table and a
plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis
from imm_ray.experiments.lm_finetune.trainable import ROW_FIELDS
from imm_ray.lm.hf.finetune_settings import LABELS, METHODS


def paired(rows: pd.DataFrame, metric: str, base: str = "mlm") -> dict[str, tuple]:
    """method -> (mean difference to ``base`` over shared seeds, 95% CI half-width, n)."""
    from scipy import stats

    wide = rows.pivot_table(index="seed", columns="method", values=metric)
    out = {}
    for m in wide.columns:
        if m == base or base not in wide.columns:
            continue
        d = (wide[m] - wide[base]).dropna().to_numpy()
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) \
            if len(d) > 1 else 0.0
        out[m] = (float(d.mean()) if len(d) else float("nan"), float(half), len(d))
    return out


def markdown(rows: pd.DataFrame, metric: str) -> str:
    agg = analysis.aggregate(rows, ["method"], metric).set_index("method")
    diff = paired(rows, metric)
    lines = [f"| method | seeds | {metric} (95% CI) | vs finetune+mlm (paired) | lambda | k |",
             "|---|---:|---|---|---:|---:|"]
    for m in [m for m in METHODS if m in agg.index]:
        a, first = agg.loc[m], rows[rows.method == m].iloc[0]
        d = diff.get(m)
        dtext = f"{d[0]:+.3f} ± {d[1]:.3f}" if d else "-"
        lines.append(f"| {LABELS[m]} | {int(a['count'])} | {a['mean']:.3f} ± "
                     f"{(a.ci_high - a.ci_low) / 2:.3f} | {dtext} | {first.imm_lambda:g} | "
                     f"{int(first.k)} |")
    return "\n".join(lines)


def plot(rows: pd.DataFrame, metric: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = analysis.aggregate(rows, ["method"], metric).set_index("method")
    methods = [m for m in METHODS if m in agg.index]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    means = agg.loc[methods, "mean"]
    half = (agg.loc[methods, "ci_high"] - agg.loc[methods, "ci_low"]) / 2
    ax.bar([LABELS[m] for m in methods], means, yerr=half, capsize=4, color="#8aa")
    for i, m in enumerate(methods):
        vals = rows[rows.method == m][metric]
        ax.plot([i] * len(vals), vals, "k.", alpha=0.6)
    ax.set_ylabel(f"dev {metric}")
    ax.set_title(f"{rows.task.iloc[0]}: mean, 95% CI, seeds as dots", fontsize=9)
    path = out / "lm_finetune.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_outputs(rows: pd.DataFrame, metric: str, out: Path) -> tuple[str, list[Path], str]:
    """``results.csv``, ``summary.md`` and the plot in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    csv = analysis.write_csv(rows[list(ROW_FIELDS)], out / "results.csv", required=ROW_FIELDS)
    text = markdown(rows, metric)
    (out / "summary.md").write_text(text + "\n")
    return csv, [plot(rows, metric, out)], text
