"""Tables, schedules and files of a lambda-vs-n sweep, from its tidy rows.

Input: one row per (method, ratio, n, seed) with ``valid_log_loss``, ``test_log_loss``,
``test_accuracy`` (the trials' ``rows.parquet`` via :func:`imm_ray.analysis.load_rows`, or
the sweep's CSV). The best ratio of each (method, n) is chosen on the validation log-loss;
the test metrics at that ratio are reported with 95% intervals over seeds
(:func:`imm_ray.analysis.best_table`). :func:`summarise` builds every table,
:func:`write_outputs` the CSVs, ``schedules.json`` (loadable by ``core.make_schedule``)
and plots, :func:`print_summary` the console summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis
from imm_ray.core import lambda_from_ratio
from imm_ray.experiments.lambda_vs_n.config import ORDER
from imm_ray.tabular.trainer import ROW_FIELDS

SELECT = "valid_log_loss"
REPORT = ("test_log_loss", "test_accuracy")
FIXED = ("none", "restricted")
"""Methods without a ratio (no schedule)."""


def best_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, n): best ratio (on validation), lambda, test metrics with CIs."""
    best = analysis.best_table(rows, ["method", "n"], "ratio", SELECT, [*REPORT, SELECT])
    best["lambda"] = best["ratio"].map(lambda_from_ratio)
    return best.sort_values(["method", "n"], key=_method_order).reset_index(drop=True)


def _method_order(col: pd.Series) -> pd.Series:
    return col.map(lambda m: ORDER.index(m) if m in ORDER else len(ORDER)) if \
        col.name == "method" else col


def fit_schedules(best: pd.DataFrame, basis: str = "auto") -> dict[str, tuple]:
    """``{method: (core.RatioSchedule, fit report)}`` through each method's best ratios:
    exactly :func:`imm_ray.analysis.fit_schedule` (clipped at ``schedules.MAX_RATIO``)."""
    out = {}
    for method, part in best.groupby("method"):
        if method not in FIXED and part["n"].nunique() >= 2:
            out[method] = analysis.fit_schedule(part, x="n", y="ratio", basis=basis)
    return out


def schedule_specs(schedules: dict) -> dict[str, dict]:
    """``{method: RatioSchedule fields}``: what ``schedules.json`` holds, so that
    ``core.make_schedule(json.load(f)["imm"])`` rebuilds the schedule."""
    return {m: {"slope": s.slope, "intercept": s.intercept, "basis": s.basis,
                "max_ratio": s.max_ratio} for m, (s, _) in schedules.items()}


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


def degradation(rows: pd.DataFrame, methods=("imm", "reverse_kd"), n_min: float | None = None,
                targets=(0.9, None)) -> pd.DataFrame:
    """For the larger sizes (``n >= n_min``, default 0.6 x the largest): test log-loss at
    the best ratio and at each target ratio (``None``: the largest swept; targets not
    swept are skipped), and their paired per-seed difference with a 95% interval (the
    consistency picture: docs/method.md, 'Why IMM is consistent')."""
    n_min = 0.6 * rows["n"].max() if n_min is None else n_min
    part = rows[rows.method.isin(methods) & (rows.n >= n_min)]
    if part.empty:
        return pd.DataFrame()
    out = []
    for rec in best_ratios(part).itertuples():
        cell = part[(part.method == rec.method) & (part.n == rec.n)]
        at = cell.pivot_table(index="seed", columns="ratio", values="test_log_loss")
        swept = [float(r) for r in at.columns]
        goals = sorted({swept[-1] if t is None else t for t in targets if t is None or
                        any(abs(t - r) < 1e-12 for r in swept)})
        for goal in goals:
            to = min(swept, key=lambda r, g=goal: abs(r - g))
            diff = pd.DataFrame({"d": at[to] - at[rec.ratio], "g": 0})
            ci = analysis.aggregate(diff, by=["g"], metric="d").iloc[0]
            out.append({"method": rec.method, "n": rec.n, "best_ratio": rec.ratio,
                        "log_loss_best": at[rec.ratio].mean(), "to_ratio": to,
                        "log_loss_to": at[to].mean(), "increase": ci["mean"],
                        "increase_ci_low": ci["ci_low"], "increase_ci_high": ci["ci_high"]})
    return pd.DataFrame(out)


def summarise(rows: pd.DataFrame, refs: dict[str, float] | None = None) -> dict:
    """Every table of the summary (``refs``: reference log-losses drawn as lines)."""
    best = best_ratios(rows)
    return {"best": best, "schedules": fit_schedules(best),
            "compare": compare(best) if {"imm", "none"} <= set(best.method) else None,
            "degradation": degradation(rows), "refs": refs or {},
            "show": show_sizes(rows["n"].unique())}


def write_outputs(rows: pd.DataFrame, tables: dict, out: Path,
                  write_rows: bool = True) -> tuple[str, list[str]]:
    """``lambda_vs_n.csv`` (unless not ``write_rows``), ``best_ratios.csv``,
    ``schedules.json``, ``schedule_fits.json`` and the three plots under ``out``."""
    from imm_ray.experiments.lambda_vs_n import plots

    out = Path(out)
    csv = str(out / "lambda_vs_n.csv")
    if write_rows:
        analysis.write_csv(rows, csv, required=ROW_FIELDS)
    tables["best"].to_csv(out / "best_ratios.csv", index=False)
    (out / "schedules.json").write_text(json.dumps(schedule_specs(tables["schedules"]),
                                                   indent=2))
    (out / "schedule_fits.json").write_text(json.dumps(
        {m: rep for m, (_, rep) in tables["schedules"].items()}, indent=2))
    show = [n for n in tables["show"] if n in (4, 8, 16, 32, 50)]
    if len(show) < 3:  # not the toy's sizes: up to 5 spread from the smallest to the largest
        sizes = tables["show"]
        show = sorted({sizes[i] for i in np.linspace(0, len(sizes) - 1, min(5, len(sizes)))
                       .round().astype(int)})
    figs = [plots.plot_best_vs_n(tables["best"], tables["refs"], out / "loss_vs_n.png"),
            plots.plot_ratio_vs_n(tables["best"], tables["schedules"],
                                  out / "best_ratio_vs_n.png"),
            plots.plot_loss_vs_ratio(rows, show, out / "loss_vs_ratio.png")]
    return csv, [str(f) for f in figs]


# --------------------------------------------------------------------------- text


def _ci(mean, lo, hi, digits=3) -> str:
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def best_markdown(best: pd.DataFrame, sizes, metric: str = "test_log_loss") -> str:
    """Markdown table: per n, each method's best ratio and ``metric`` with its 95% CI."""

    def cell(r) -> str:
        value = _ci(r[f"{metric}_mean"], r[f"{metric}_ci_low"], r[f"{metric}_ci_high"])
        value += "*" if r.get(f"{metric}_ci_clipped", False) else ""
        return value if r.method in FIXED else f"r={r.ratio:.3g}: {value}"

    table = analysis.markdown_grid(best, "n", "method", cell, rows=sizes,
                                   columns=[m for m in ORDER if m in set(best.method)])
    shown = best[best.n.isin(list(sizes))]
    if shown.get(f"{metric}_ci_clipped", pd.Series(dtype=bool)).any():
        low, high = analysis.metric_range(metric)
        table += (f"\n* the 95% interval reached past the metric's range [{low:g}, "
                  f"{'inf' if high is None else f'{high:g}'}] and is clipped there")
    return table


def degradation_markdown(deg: pd.DataFrame) -> str:
    lines = ["| method | n | best r | log-loss at best r | to r | log-loss at r | "
             "increase [95% CI] |", "|---|---|---|---|---|---|---|"]
    for r in deg.sort_values(["to_ratio", "method", "n"]).itertuples():
        lines.append(f"| {r.method} | {r.n} | {r.best_ratio:.3g} | {r.log_loss_best:.4f} | "
                     f"{r.to_ratio:.3g} | {r.log_loss_to:.4f} | "
                     f"{_ci(r.increase, r.increase_ci_low, r.increase_ci_high, 4)} |")
    return "\n".join(lines)


def degradation_header(deg: pd.DataFrame, largest: float) -> str:
    """What the consistency table holds: the target ratios it actually has (r = 0.9 only
    when the grid swept it), and the sizes."""
    targets = sorted(set(deg["to_ratio"]))
    named = [f"r = {t:g}" + (" (the largest swept)" if abs(t - largest) < 1e-12 else "")
             for t in targets]
    note = "" if any(abs(t - 0.9) < 1e-12 for t in targets) else \
        "; r = 0.9 is not in the ratio grid, so it has no rows"
    return (f"Test log-loss from the best ratio to {' and to '.join(named)} "
            f"(sizes n >= {deg['n'].min():g}){note}:")


def schedules_text(schedules: dict) -> str:
    return "\n".join(
        f"{m}: ratio = {rep['slope']:+.4f} * {'log(n)' if rep['basis'] == 'log_n' else 'n'} "
        f"{rep['intercept']:+.4f} (rmse {rep['rmse']:.3f}, r2 {rep['r2']:.2f}, "
        f"{rep['points']} sizes)" for m, (_, rep) in schedules.items())


def show_sizes(sizes, wanted=(2, 3, 4, 6, 8, 10, 16, 20, 32, 50)) -> list[int]:
    """The swept sizes nearest to ``wanted`` (for compact tables); every size if <= 12."""
    sizes = np.array(sorted(set(int(n) for n in sizes)))
    if len(sizes) <= 12:
        return sizes.tolist()
    return sorted({int(sizes[np.abs(sizes - w).argmin()]) for w in wanted})


def print_summary(tables: dict, rows: pd.DataFrame) -> None:
    """The console summary: best-ratio tables (log-loss, accuracy), IMM vs none,
    consistency at the larger sizes, fitted schedules, grid-edge notes."""
    refs = ", ".join(f"{k} {v:.3f}" for k, v in tables["refs"].items())
    print(f"\n{len(rows)} rows. Test log-loss at each method's best ratio (chosen on "
          f"validation), mean [95% CI] over seeds{'; reference: ' + refs if refs else ''}")
    sizes = rows["n"].nunique()
    if len(tables["show"]) < sizes:
        print(f"({len(tables['show'])} of {sizes} sizes shown; every size: best_ratios.csv)")
    print(best_markdown(tables["best"], tables["show"]))
    print("\nTest accuracy at the same ratios:")
    print(best_markdown(tables["best"], tables["show"], "test_accuracy"))
    cmp_ = tables["compare"]
    if cmp_ is not None:
        sep = cmp_[cmp_.separated]["n"].tolist()
        worse = cmp_[cmp_.gain < -1e-9]["n"].tolist()  # r = 0 refits differ by rounding
        print(f"\nimm beats none with non-overlapping 95% CIs at {_sizes(sep)}; "
              f"imm is worse than none (mean) at {_sizes(worse)}")
    deg = tables["degradation"]
    if not deg.empty:
        shown = deg[deg.n.isin(tables["show"])]
        deg = shown if len(shown) else deg
        print(f"\n{degradation_header(deg, rows['ratio'].max())}")
        print(degradation_markdown(deg))
    print("\nFitted ratio schedules (core.RatioSchedule; schedules.json):")
    print(schedules_text(tables["schedules"]))
    best, top = tables["best"], rows["ratio"].max()
    for method, part in best[~best.method.isin(FIXED)].groupby("method"):
        edge = part[part.ratio >= top]["n"].tolist()
        if len(edge) > len(part) / 2:
            print(f"note: {method}'s best ratio is the largest swept ({top:g}) at "
                  f"{len(edge)}/{len(part)} sizes; widen --ratios to see where it turns")


def main(argv=None) -> None:
    """``python -m imm_ray.experiments.lambda_vs_n.report CSV --out DIR``: the summary, schedules
    and
    plots again from a sweep's CSV (how the figures in docs/ are regenerated)."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    p.add_argument("csv", help="a sweep's lambda_vs_n.csv")
    p.add_argument("--out", required=True, help="folder for the files")
    p.add_argument("--toy-references", action="store_true",
                   help="draw the default toy's Bayes and restricted log-loss lines")
    args = p.parse_args(argv)
    if not Path(args.csv).is_file():
        p.error(f"no CSV at {args.csv!r}")
    rows = pd.read_csv(args.csv)
    refs = {}
    if args.toy_references:
        from imm_ray.experiments.lambda_vs_n.config import ToyConfig
        from imm_ray.experiments.lambda_vs_n.toy.trainer import reference_log_loss

        refs = reference_log_loss(ToyConfig())
    tables = summarise(rows, refs)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    _, figs = write_outputs(rows, tables, Path(args.out), write_rows=False)
    print_summary(tables, rows)
    for f in ["best_ratios.csv", "schedules.json", "schedule_fits.json"]:
        print(f"wrote {Path(args.out) / f}")
    for f in figs:
        print(f"wrote {f}")


if __name__ == "__main__":
    main()


def _sizes(sizes: list) -> str:
    """``n = [2, 8]``, or ``no size`` for an empty list."""
    return f"n = {sizes}" if sizes else "no size"
