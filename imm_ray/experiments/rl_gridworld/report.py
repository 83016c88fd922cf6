"""Tables, checks and plots of the grid-world sweep against the paper's reference figure.

The reference numbers (the paper's reference implementation: mean total reward of 22
steps, 30 seeds x 10 rollouts; docs/rl_gridworld.md, 'Protocol') are :data:`REFERENCE`;
:func:`check_reference` applies the acceptance rule of the reproduction: a point passes
when the reference value lies in our 95% CI or within ``tolerance`` reward of our mean.
:func:`load_rows` reads the trials' rows back; :func:`write_figure` and
:func:`write_search` write the outputs of a figure run and of a lambda search.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from imm_ray import analysis
from imm_ray.experiments.rl_gridworld.trainable import CONFIGS, ROW_FIELDS, load_schedule

REFERENCE = {
    "none": {10: 1.3, 20: 1.2, 50: 2.5, 75: 7.5, 100: 12.6, 150: 15.8, 200: 17.3, 300: 18.3,
             500: 18.7},
    "imm_argmax": {10: 1.7, 20: 2.3, 50: 8.8, 75: 14.8, 100: 17.3, 150: 18.7, 200: 18.9,
                   300: 19.1, 500: 19.4},
    "imm_softmax_t1": {10: 1.5, 20: 1.7, 50: 4.9, 75: 11.2, 100: 14.6, 150: 16.9, 200: 17.8,
                       300: 18.8, 500: 18.7},
}


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean return per (config, epochs) with a 95% Student-t interval over seeds."""
    return analysis.aggregate(rows, by=["config", "epochs"], metric="mean_return")


def check_reference(agg: pd.DataFrame, tolerance: float = 1.5) -> pd.DataFrame:
    """One row per reference point we measured: ours, the reference, pass/fail."""
    out = []
    for config, ref in REFERENCE.items():
        for n, value in ref.items():
            hit = agg[(agg.config == config) & (agg.epochs == n)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            in_ci = r.ci_low <= value <= r.ci_high
            out.append({"config": config, "epochs": n, "mean": r["mean"], "ci_low": r.ci_low,
                        "ci_high": r.ci_high, "reference": value, "diff": r["mean"] - value,
                        "in_ci": in_ci, "ok": in_ci or abs(r["mean"] - value) <= tolerance})
    return pd.DataFrame(out)


def separation(agg: pd.DataFrame, better: str, worse: str, sizes=(50, 75)) -> pd.DataFrame:
    """Whether ``better``'s 95% CI lies wholly above ``worse``'s at each size."""
    out = []
    for n in sizes:
        a = agg[(agg.config == better) & (agg.epochs == n)]
        b = agg[(agg.config == worse) & (agg.epochs == n)]
        if a.empty or b.empty:
            continue
        a, b = a.iloc[0], b.iloc[0]
        out.append({"epochs": n, better: a["mean"], worse: b["mean"],
                    "separated": bool(a.ci_low > b.ci_high)})
    return pd.DataFrame(out)


def markdown_table(agg: pd.DataFrame, epochs=None) -> str:
    """``| config | n1 | n2 | ...`` with ``mean [lo, hi]`` cells and reference rows."""
    epochs = sorted(agg.epochs.unique()) if epochs is None else list(epochs)
    head = "| config | " + " | ".join(str(n) for n in epochs) + " |"
    lines = [head, "|" + "---|" * (len(epochs) + 1)]
    for config in [c for c in CONFIGS if c in set(agg.config)]:
        cells = []
        for n in epochs:
            hit = agg[(agg.config == config) & (agg.epochs == n)]
            cells.append("" if hit.empty else
                         f"{hit['mean'].iloc[0]:.1f} [{hit.ci_low.iloc[0]:.1f}, "
                         f"{hit.ci_high.iloc[0]:.1f}]")
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
        if config in REFERENCE:
            ref = [f"{REFERENCE[config][n]:.1f}" if n in REFERENCE[config] else ""
                   for n in epochs]
            lines.append(f"| {config} (reference) | " + " | ".join(ref) + " |")
    return "\n".join(lines)


def plot(agg: pd.DataFrame, path, title: str = "") -> str:
    """Mean return vs epochs with 95% CI bands, reference points as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    analysis.plot_with_ci(agg, x="epochs", hue="config", path=None, ax=ax,
                          ylabel="mean total reward (10 rollouts x 22 steps)", title=title)
    colors = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for config, ref in REFERENCE.items():
        if config in colors:
            ax.scatter(list(ref), list(ref.values()), marker="x", s=30, color=colors[config],
                       zorder=5)
    ax.scatter([], [], marker="x", color="gray", label="reference (paper)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def search_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Lambda search: mean return [95% CI] per (epochs, ratio), best ratio flagged."""
    agg = analysis.aggregate(rows, by=["epochs", "ratio"], metric="mean_return")
    best = analysis.best_per_group(agg, group=["epochs"], choose="ratio", mode="max")
    agg["best"] = [bool(((best.epochs == n) & (best.ratio == r)).any())
                   for n, r in zip(agg.epochs, agg.ratio, strict=True)]
    return agg


def figure_text(agg: pd.DataFrame) -> str:
    """The sweep's printed summary: table, reference check, IMM-vs-none separation."""
    fmt = {"float_format": lambda v: f"{v:.2f}", "index": False}
    parts = ["\nMean total reward [95% CI] over seeds (x 10 rollouts); reference rows from "
             "the paper (docs/rl_gridworld.md, 'Protocol'):\n", markdown_table(agg)]
    checks = check_reference(agg)
    if not checks.empty:
        bad = checks[~checks.ok]
        parts.append(f"\nreference points within 95% CI or +-1.5: {int(checks.ok.sum())}/"
                     f"{len(checks)}" + ("" if bad.empty else
                                         "; outside:\n" + bad.to_string(**fmt)))
    sep = separation(agg, "imm_argmax", "none")
    if not sep.empty:
        parts.append("\nimm_argmax above none with non-overlapping 95% CIs:\n"
                     + sep.to_string(**fmt))
    return "\n".join(parts)


def search_text(table: pd.DataFrame, schedule, fit: dict, reference) -> str:
    """Lambda-search summary: every (epochs, ratio) cell, the fit, both schedules."""
    lines = ["\nMean return [95% CI] per (epochs, ratio); * = best:\n"]
    for n, part in table.groupby("epochs"):
        cells = [f"r={r:.1f}: {m:.1f} [{lo:.1f}, {hi:.1f}]{'*' if b else ''}"
                 for r, m, lo, hi, b in part[["ratio", "mean", "ci_low", "ci_high", "best"]]
                 .itertuples(index=False)]
        lines.append(f"  {n:>4} epochs: " + "; ".join(cells))
    sizes = [10, 20, 50, 75, 100, 150, 200, 300, 400, 500]
    lines.append(f"\nfitted schedule: slope {schedule.slope:.6g}, intercept "
                 f"{schedule.intercept:.4g}, basis {schedule.basis} (rmse {fit['rmse']:.3f})")
    lines.append(f"ratios at {sizes}:\n  fitted:    {[schedule.ratio(n) for n in sizes]}\n"
                 f"  reference: {[reference.ratio(n) for n in sizes]}")
    return "\n".join(lines)


def write_search(rows: pd.DataFrame, out: Path) -> tuple[str, list[str]]:
    """--lambda-search: best ratio per size, fitted schedule (JSON), table, plot."""
    table = search_table(rows)
    best = table[table.best].sort_values("epochs")
    schedule, fit = analysis.fit_schedule(best, x="epochs", y="ratio", decimals=1)
    spec = {"slope": schedule.slope, "intercept": schedule.intercept,
            "basis": schedule.basis, "decimals": 1}
    path = out / "fitted_schedule.json"
    path.write_text(json.dumps({"schedule": spec, "fit": fit,
                                "best": best.to_dict(orient="records")}, indent=2))
    print(search_text(table, schedule, fit, load_schedule("reference_rl")))
    print(f"schedule: {path}  (run the figure with --schedule {path})")
    csv = analysis.write_csv(rows, out / "lambda_search.csv", required=ROW_FIELDS)
    table.to_csv(out / "lambda_search_table.csv", index=False)
    fig = analysis.plot_with_ci(table, x="ratio", hue="epochs", path=out / "lambda_search.png",
                                ylabel="mean total reward", title="imm_argmax: ratio search")
    return csv, [str(fig)]


def write_figure(rows: pd.DataFrame, out: Path) -> tuple[str, list[str]]:
    """The figure: CSV, table vs the reference, acceptance checks, plot."""
    agg = aggregate(rows)
    agg.to_csv(out / "rl_gridworld_summary.csv", index=False)
    print(figure_text(agg))
    csv = analysis.write_csv(rows, out / "rl_gridworld.csv", required=ROW_FIELDS)
    return csv, [plot(agg, out / "rl_gridworld.png", "MountainGrid 11x11: IMM vs none")]
