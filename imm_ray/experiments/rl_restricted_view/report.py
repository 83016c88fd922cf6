"""Tables, paired comparisons and the plot of the restricted-view experiment.

Rows (one per config, budget, seed; see
:data:`imm_ray.experiments.rl_restricted_view.trainable.ROW_FIELDS`)
have ``mean_return`` (sampled actions) and ``greedy_return`` (argmax). Run ``i`` of
every config shares its initial network and evaluation episodes, so :func:`paired`
compares each config with ``none`` seed by seed (mean difference, 95% t-interval).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis
from imm_ray.experiments.rl_restricted_view.trainable import ROW_FIELDS

ORDER = ("none", "imm:late", "reverse_kd:late", "interpolate:late", "imm:early",
         "reverse_kd:early", "interpolate:early")


def config_order(configs) -> list[str]:
    known = [c for c in ORDER if c in set(configs)]
    return known + sorted(set(configs) - set(known))


def aggregate(rows: pd.DataFrame, metric: str = "mean_return") -> pd.DataFrame:
    """Mean ``metric`` per (config, iterations) with a 95% Student-t interval over seeds."""
    return analysis.aggregate(rows, by=["config", "iterations"], metric=metric)


def paired(rows: pd.DataFrame, metric: str = "mean_return") -> pd.DataFrame:
    """Per (config, iterations): mean over seeds of ``config - none`` with a 95% paired
    t-interval and the two-sided p-value."""
    from scipy import stats

    base = rows[rows.config == "none"].set_index(["iterations", "seed"])[metric]
    out = []
    for (config, n), part in rows[rows.config != "none"].groupby(["config", "iterations"]):
        d = (part.set_index(["iterations", "seed"])[metric] - base).dropna()
        if len(d) < 2:
            continue
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        p = stats.ttest_1samp(d, 0.0).pvalue if d.std(ddof=1) > 0 else 0.0
        out.append({"config": config, "iterations": n, "diff": d.mean(),
                    "ci_low": d.mean() - half, "ci_high": d.mean() + half,
                    "p": float(p), "seeds": len(d)})
    return pd.DataFrame(out)


def markdown_table(agg: pd.DataFrame) -> str:
    """``| config | b1 | b2 | ...`` with ``mean [lo, hi]`` cells."""
    return analysis.markdown_grid(
        agg, "config", "iterations", rows=config_order(agg.config),
        cell=lambda r: f"{r['mean']:.0f} [{r.ci_low:.0f}, {r.ci_high:.0f}]")


def paired_table(diffs: pd.DataFrame, rows: pd.DataFrame | None = None) -> str:
    """``| config | b1 | ...`` with ``diff [lo, hi]`` cells (``*`` where the CI excludes 0);
    when there are none, says why (``rows``: the rows the differences came from)."""
    if diffs.empty:
        if rows is not None and not (rows.config == "none").any():
            return ("(no paired comparisons: they are differences to none, and the none "
                    "runs are not in --methods)")
        return "(no paired comparisons: fewer than 2 seeds)"

    def cell(r) -> str:
        star = "*" if r.ci_low > 0 or r.ci_high < 0 else ""
        return f"{r['diff']:+.0f} [{r.ci_low:+.0f}, {r.ci_high:+.0f}]{star}"

    return analysis.markdown_grid(diffs, "config", "iterations", cell,
                                  rows=config_order(diffs.config), corner="config - none")


def summary_text(rows: pd.DataFrame, restricted: dict) -> str:
    """The printed summary: the restricted policies' own returns, both tables per metric."""
    parts = ["\nRestricted policies (trained on the view alone), own return on their view:"]
    for label, info in restricted.items():
        random = (f" (uniform-random: {info['random_return']:.1f})"
                  if "random_return" in info else "")
        parts.append(f"  {label}: iteration {info['iteration']}, "
                     f"{info['mean_return']:.1f} sampled, {info['greedy_return']:.1f} greedy"
                     f"{random}")
    for metric, what in (("mean_return", "sampled actions"), ("greedy_return", "greedy")):
        parts += [f"\nMean episode return [95% CI] over seeds ({what}), by training "
                  "iterations:\n", markdown_table(aggregate(rows, metric)),
                  f"\nPaired difference to none [95% CI] ({what}; * = CI excludes 0):\n",
                  paired_table(paired(rows, metric), rows)]
    return "\n".join(parts)


def plot(rows: pd.DataFrame, path, title: str = "") -> str:
    """Mean return (sampled actions) vs training iterations, 95% CI bands."""
    agg = aggregate(rows)
    analysis.plot_with_ci(agg, x="iterations", hue="config", path=path,
                          ylabel="mean episode return (sampled actions)", title=title)
    return str(path)


def write_outputs(rows: pd.DataFrame, restricted: dict, out: Path,
                  env: str) -> tuple[str, list[str]]:
    """Summary printed; CSV of rows, summary CSV, paired CSV, plot."""
    print(summary_text(rows, restricted))
    aggregate(rows).to_csv(out / "rl_restricted_view_summary.csv", index=False)
    paired(rows).to_csv(out / "rl_restricted_view_paired.csv", index=False)
    csv = analysis.write_csv(rows, out / "rl_restricted_view.csv", required=ROW_FIELDS)
    png = plot(rows, out / "rl_restricted_view.png",
               f"{env}: IMM with a restricted-view policy")
    return csv, [png]
