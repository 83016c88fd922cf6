"""Tables and plots of a lambda-vs-n sweep (``sweeps/lambda_vs_n.py``) from its long rows.

Input: one row per (method, ratio, n, seed) with ``valid_log_loss``, ``test_log_loss``,
``test_accuracy`` (the sweep's CSV). The best ratio of each (method, n) is chosen on the
validation log-loss; the test metrics at that ratio are reported with 95% intervals
over seeds (:func:`imm_ray.analysis.best_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from imm_ray import analysis
from imm_ray.core import lambda_from_ratio
from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import evaluation_set

SELECT = "valid_log_loss"
REPORT = ("test_log_loss", "test_accuracy")
ORDER = ("none", "imm", "reverse_kd", "noising", "interpolate")


def best_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, n): best ratio (on validation), lambda, test metrics with CIs."""
    best = analysis.best_table(rows, ["method", "n"], "ratio", SELECT, [*REPORT, SELECT])
    best["lambda"] = best["ratio"].map(lambda_from_ratio)
    return best.sort_values(["method", "n"], key=_method_order).reset_index(drop=True)


def _method_order(col: pd.Series) -> pd.Series:
    return col.map(lambda m: ORDER.index(m) if m in ORDER else len(ORDER)) if \
        col.name == "method" else col


def fit_schedules(best: pd.DataFrame, basis: str = "auto") -> dict[str, tuple]:
    """``{method: (core.RatioSchedule, fit report)}`` through each method's best ratios."""
    out = {}
    for method, part in best.groupby("method"):
        if method != "none" and part["n"].nunique() >= 2:
            out[method] = analysis.fit_schedule(part, x="n", y="ratio", basis=basis)
    return out


def compare(best: pd.DataFrame, method: str = "imm", baseline: str = "none") -> pd.DataFrame:
    """Per n: ``method`` at its best ratio vs ``baseline``; ``separated`` is True where the
    95% intervals of test log-loss do not overlap with ``method`` lower."""
    cols = ["n", "ratio", "test_log_loss_mean", "test_log_loss_ci_low", "test_log_loss_ci_high"]
    a = best[best.method == method][cols]
    b = best[best.method == baseline][cols].drop(columns="ratio")
    out = a.merge(b, on="n", suffixes=("", "_base"))
    out["gain"] = out["test_log_loss_mean_base"] - out["test_log_loss_mean"]
    out["separated"] = out["test_log_loss_ci_high"] < out["test_log_loss_ci_low_base"]
    return out.reset_index(drop=True)


def degradation(rows: pd.DataFrame, methods=("imm", "reverse_kd"), n_min: int = 30,
                n_max: int = 50) -> pd.DataFrame:
    """For ``n_min <= n <= n_max``: test log-loss at the best ratio and at the largest
    ratio swept, and their paired per-seed difference with a 95% interval."""
    out = []
    part = rows[rows.method.isin(methods) & rows.n.between(n_min, n_max)]
    if part.empty:
        return pd.DataFrame()
    best = best_ratios(part)
    for rec in best.itertuples():
        cell = part[(part.method == rec.method) & (part.n == rec.n)]
        r_max = cell["ratio"].max()
        at = cell.pivot_table(index="seed", columns="ratio", values="test_log_loss")
        diff = pd.DataFrame({"d": at[r_max] - at[rec.ratio], "g": 0})
        ci = analysis.aggregate(diff, by=["g"], metric="d").iloc[0]
        out.append({"method": rec.method, "n": rec.n, "best_ratio": rec.ratio,
                    "log_loss_best": at[rec.ratio].mean(), "max_ratio": r_max,
                    "log_loss_max": at[r_max].mean(), "increase": ci["mean"],
                    "increase_ci_low": ci["ci_low"], "increase_ci_high": ci["ci_high"]})
    return pd.DataFrame(out)


def reference_log_loss(cfg: ToyConfig) -> dict[str, float]:
    """Test log-loss of the Bayes-optimal full model and of the restricted model alone."""
    problem = cfg.problem()
    test = evaluation_set(problem, "test", cfg.test_size, cfg.eval_seed)
    y = test.y.to(torch.float64)
    out = {}
    for name, p in (("bayes", problem.prob_one(test.x, test.xb)),
                    ("restricted", problem.restricted(cfg.quadrature_nodes).prob_one(test.x))):
        out[name] = float(torch.nn.functional.binary_cross_entropy(p, y))
    return out


# --------------------------------------------------------------------------- text


def _ci(mean, lo, hi, digits=3) -> str:
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def best_markdown(best: pd.DataFrame, sizes) -> str:
    """Markdown table: per n, each method's best ratio and test log-loss with 95% CI."""
    methods = [m for m in ORDER if m in set(best.method)]
    head = "| n | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods)
    lines = [head]
    for n in sizes:
        cells = []
        for m in methods:
            r = best[(best.method == m) & (best.n == n)]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            ll = _ci(r.test_log_loss_mean, r.test_log_loss_ci_low, r.test_log_loss_ci_high)
            cells.append(ll if m == "none" else f"r={r.ratio:.2g}: {ll}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def degradation_markdown(deg: pd.DataFrame) -> str:
    lines = ["| method | n | best r | log-loss at best r | r max | log-loss at r max | "
             "increase [95% CI] |", "|---|---|---|---|---|---|---|"]
    for r in deg.itertuples():
        lines.append(f"| {r.method} | {r.n} | {r.best_ratio:.2g} | {r.log_loss_best:.4f} | "
                     f"{r.max_ratio:.2g} | {r.log_loss_max:.4f} | "
                     f"{_ci(r.increase, r.increase_ci_low, r.increase_ci_high, 4)} |")
    return "\n".join(lines)


def schedules_text(schedules: dict) -> str:
    return "\n".join(
        f"{m}: ratio = {rep['slope']:+.4f} * {'log(n)' if rep['basis'] == 'log_n' else 'n'} "
        f"{rep['intercept']:+.4f} (rmse {rep['rmse']:.3f}, r2 {rep['r2']:.2f}, "
        f"{rep['points']} sizes)" for m, (_, rep) in schedules.items())


def show_sizes(sizes, wanted=(2, 3, 4, 6, 8, 10, 16, 20, 32, 50)) -> list[int]:
    """The swept sizes nearest to ``wanted`` (for compact tables)."""
    sizes = np.array(sorted(set(sizes)))
    return sorted({int(sizes[np.abs(sizes - w).argmin()]) for w in wanted})
