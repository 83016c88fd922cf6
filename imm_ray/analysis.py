"""Tune results as pandas DataFrames: load, aggregate with CIs, best ratio, fit a schedule.

Works on any imm_ray experiment, finished or still running, from a ``ResultGrid`` or
offline from its storage path. Trials write their tidy rows (one per seed, ratio, ...)
with :func:`imm_ray.sweep.report`; :func:`load_rows` reads them back with readable
string columns (``method == "imm"``, no integer ids)::

    from imm_ray import analysis
    rows = analysis.load_rows("results/lambda_vs_n_2026-11-23_12-00-00")
    agg = analysis.aggregate(rows, by=["method", "ratio", "n"], metric="test_log_loss")
    best = analysis.best_per_group(agg, group=["method", "n"], choose="ratio")
    schedule, fit = analysis.fit_schedule(best[best.method == "imm"], x="n", y="ratio")

(``tests/test_analysis.py`` runs this example on an experiment it makes through Tune.)
:func:`load_experiment` gives each trial's last reported metrics instead, with the
config flattened as ``config/<key>`` columns. Trainables of the older encoding, which
report equal-length lists under a prefix (``rows/seed``, ``rows/test_log_loss``, ...),
are turned into rows by :func:`explode_lists`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from imm_ray import metrics as metric_names
from imm_ray.core import RatioSchedule


def load_experiment(source) -> pd.DataFrame:
    """Last reported result of every trial, config flattened as ``config/<key>`` columns.

    Args:
        source: a ``ray.tune.ResultGrid``, or the experiment's storage path (local folder
            or URI) — readable while the sweep is still running.
    """
    from ray import tune

    if isinstance(source, tune.ResultGrid):
        return source.get_dataframe()
    return tune.ExperimentAnalysis(experiment_path(source)).dataframe()


def experiment_path(source: str | os.PathLike) -> str:
    """An experiment folder as Tune reads it: a URI (``s3://...``) unchanged; a local
    path (relative, ``~``, ``file://`` or a ``pathlib.Path``) made absolute, since Tune
    hands a relative one to pyarrow, which refuses it ("URI has empty scheme").

    Raises:
        FileNotFoundError: a local path that is not a folder (naming the path).
    """
    path = os.fspath(source)
    if "://" in path and not path.startswith("file://"):
        return path
    local = os.path.abspath(os.path.expanduser(path.removeprefix("file://")))
    if not os.path.isdir(local):
        raise FileNotFoundError(f"no Tune experiment folder at {path!r} ({local})")
    return local


def load_rows(source) -> pd.DataFrame:
    """Every trial's tidy rows (``rows.parquet`` in its latest checkpoint, written by
    :func:`imm_ray.sweep.report`), concatenated, with a ``trial_id`` column.

    Args:
        source: a ``ray.tune.ResultGrid``, or the experiment's storage path (local folder:
            relative, ``~`` or ``pathlib.Path`` too; or a URI), finished or still running.
    """
    from ray import tune

    if isinstance(source, tune.ResultGrid):
        items = [(r.metrics.get("trial_id"), r.checkpoint) for r in source]
    else:
        found = tune.ExperimentAnalysis(experiment_path(source))
        items = [(t.trial_id, found.get_last_checkpoint(t)) for t in found.trials]
    frames = [_trial_rows(trial_id, ckpt) for trial_id, ckpt in items if ckpt is not None]
    frames = [f for f in frames if f is not None]
    if not frames:
        raise ValueError(f"no trial has written {metric_names.ROWS_FILE} yet "
                         f"({len(items)} trials)")
    return pd.concat(frames, ignore_index=True)


def _trial_rows(trial_id, checkpoint) -> pd.DataFrame | None:
    with checkpoint.as_directory() as d:
        f = os.path.join(d, metric_names.ROWS_FILE)
        return pd.read_parquet(f).assign(trial_id=trial_id) if os.path.isfile(f) else None


def explode_lists(df: pd.DataFrame, prefix: str = "rows/",
                  keep: Sequence[str] | None = None) -> pd.DataFrame:
    """One output row per element of the list-valued columns named ``<prefix>*``.

    The prefix is dropped from their names; ``keep`` columns (default: every
    ``config/*`` column, renamed without ``config/``) are repeated on each row.
    """
    list_cols = [c for c in df.columns if c.startswith(prefix)]
    if not list_cols:
        raise ValueError(f"no columns start with {prefix!r}; columns are {list(df.columns)}")
    keep = [c for c in df.columns if c.startswith("config/")] if keep is None else list(keep)
    out = df[keep + list_cols].explode(list_cols, ignore_index=True)
    out = out.rename(columns={c: c.removeprefix(prefix) for c in list_cols})
    out = out.rename(columns={c: c.removeprefix("config/") for c in keep})
    for c in (c.removeprefix(prefix) for c in list_cols):
        out[c] = _numeric(out[c])
    return out


def _numeric(col: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(col)
    except (TypeError, ValueError):
        return col


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """The values ``metric`` can take, from its name: log-losses, perplexities and
    losses are >= 0 (perplexity >= 1), accuracies in [0, 1]; else unbounded."""
    name = metric.rsplit("/", 1)[-1]
    if "accuracy" in name:
        return 0.0, 1.0
    if "ppl" in name or "perplexity" in name:
        return 1.0, None
    if "log_loss" in name or name.startswith("loss"):
        return 0.0, None
    return None, None


def aggregate(df: pd.DataFrame, by: Sequence[str], metric: str,
              confidence: float = 0.95) -> pd.DataFrame:
    """Mean of ``metric`` per group with a Student-t confidence interval.

    Returns columns ``by + [mean, std, count, sem, ci_low, ci_high, ci_clipped]``; groups
    of one value get a zero-width interval. The interval is clipped to the values the
    metric can take (:func:`metric_range`: a log-loss's never goes below 0, so it stays on
    a log-scaled plot), and ``ci_clipped`` says where it was.
    """
    from scipy import stats

    if metric not in df.columns:
        raise ValueError(f"metric {metric!r} is not a column; columns are {list(df.columns)}")
    g = df.groupby(list(by), dropna=False)[metric]
    out = g.agg(mean="mean", std="std", count="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["sem"] = out["std"] / np.sqrt(out["count"])
    t = stats.t.ppf(0.5 + confidence / 2, np.maximum(out["count"] - 1, 1))
    half = np.where(out["count"] > 1, t * out["sem"], 0.0)
    low, high = out["mean"] - half, out["mean"] + half
    lo_bound, hi_bound = metric_range(metric)
    out["ci_low"] = low if lo_bound is None else np.maximum(low, lo_bound)
    out["ci_high"] = high if hi_bound is None else np.minimum(high, hi_bound)
    out["ci_clipped"] = (out["ci_low"] != low) | (out["ci_high"] != high)
    return out


def best_per_group(agg: pd.DataFrame, group: Sequence[str], choose: str,
                   value: str = "mean", mode: str = "min") -> pd.DataFrame:
    """For each ``group``, the row of ``agg`` whose ``choose`` value (e.g. the ratio)
    gives the lowest (``mode="min"``) or highest ``value``."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if choose not in agg.columns:
        raise ValueError(f"{choose!r} is not a column of the aggregate")
    grouped = agg.groupby(list(group))[value]
    idx = grouped.idxmin() if mode == "min" else grouped.idxmax()
    return agg.loc[idx].reset_index(drop=True)


def fit_schedule(best: pd.DataFrame, x: str = "n", y: str = "ratio", basis: str = "auto",
                 decimals: int | None = None) -> tuple[RatioSchedule, dict]:
    """Least-squares line ``ratio = slope f(n) + intercept`` through the best ratios,
    clipped into ``[0, imm_ray.schedules.MAX_RATIO]`` (the one cap; a sweep's
    ``schedules.json`` uses the same).

    Args:
        best: one row per dataset size with its best ratio (:func:`best_per_group`).
        basis: ``"n"``, ``"log_n"``, or ``"auto"`` (whichever has the smaller residual).
        decimals: round the schedule's ratios like the reference rule (None: no rounding).

    Returns:
        ``(schedule, report)``; the report has ``slope``, ``intercept``, ``basis``,
        ``rmse`` (of the unrounded line, in ratio units), ``r2`` and ``points``.
    """
    if len(best) < 2:
        raise ValueError(f"fit_schedule needs best ratios at >= 2 dataset sizes, got {len(best)}")
    n = best[x].to_numpy(dtype=float)
    r = best[y].to_numpy(dtype=float)
    if (n <= 0).any():
        raise ValueError(f"column {x!r} must be > 0 to fit a schedule")
    bases = ["n", "log_n"] if basis == "auto" else [basis]
    fits = [_line_fit(n, r, b) for b in bases]
    rep = min(fits, key=lambda f: f["rmse"])
    schedule = RatioSchedule(slope=rep["slope"], intercept=rep["intercept"],
                             basis=rep["basis"], decimals=decimals)
    return schedule, {**rep, "points": int(len(n))}


def _line_fit(n: np.ndarray, r: np.ndarray, basis: str) -> dict:
    if basis not in ("n", "log_n"):
        raise ValueError(f"basis must be 'n', 'log_n' or 'auto', got {basis!r}")
    f = n if basis == "n" else np.log(n)
    slope, intercept = np.polyfit(f, r, 1) if np.ptp(f) > 0 else (0.0, float(r.mean()))
    resid = r - (slope * f + intercept)
    ss_tot = float(((r - r.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {"basis": basis, "slope": float(slope), "intercept": float(intercept),
            "rmse": float(math.sqrt((resid**2).mean())), "r2": r2}


def plot_with_ci(agg: pd.DataFrame, x: str, hue: str, path, *, ylabel: str, title: str = "",
                 logx: bool = False, ax=None):
    """Lines of ``mean`` vs ``x``, one per ``hue`` value, with ``ci_low..ci_high`` bands;
    each value drawn in its :func:`imm_ray.plotting.style` (one look per method everywhere).

    Saves a PNG at ``path`` when ``ax`` is None and returns the path (or the axis).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imm_ray.plotting import style

    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, part in agg.sort_values(x).groupby(hue, sort=True):
        look = style(key)  # one colour and marker per method in every figure
        line, = ax.plot(part[x], part["mean"], ms=4, label=str(key), **look)
        ax.fill_between(part[x], part["ci_low"], part["ci_high"], alpha=0.2,
                        color=line.get_color())
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    ax.set_title(title)
    ax.legend(title=hue, fontsize=8)
    ax.grid(alpha=0.3)
    if not own:
        return ax
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_csv(df: pd.DataFrame, path, required: Sequence[str] = ()) -> str:
    """Write ``df`` to ``path`` after checking the ``required`` columns exist."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"results are missing columns {missing}")
    df.to_csv(path, index=False)
    return os.fspath(path)


def markdown_grid(frame: pd.DataFrame, row_key: str, col_key: str, cell, *, rows=None,
                  columns=None, corner: str | None = None) -> str:
    """A markdown table: a line per ``row_key`` value (``rows``: order and subset, default
    order of appearance), a column per ``col_key`` value (default sorted); each cell is
    ``cell(record)`` of the first record of ``frame`` with that pair, "" where none."""
    rows = list(dict.fromkeys(frame[row_key])) if rows is None else list(rows)
    columns = sorted(frame[col_key].unique()) if columns is None else list(columns)
    first = {(r[row_key], r[col_key]): r for _, r in frame[::-1].iterrows()}
    lines = [f"| {corner or row_key} | " + " | ".join(str(c) for c in columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for r in rows:
        cells = [cell(first[(r, c)]) if (r, c) in first else "" for c in columns]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_table(rows: pd.DataFrame, group: Sequence[str], choose: str, select: str,
               report: Sequence[str], mode: str = "min",
               confidence: float = 0.95) -> pd.DataFrame:
    """Per ``group``, the ``choose`` value (e.g. the ratio) whose mean ``select`` metric is
    best, with the mean and confidence interval of each ``report`` metric at that value.

    Selecting on one metric (e.g. a validation loss) and reporting others (test metrics)
    keeps the reported intervals free of the selection. Returns one row per group:
    ``group + [choose, "count"]`` and ``<m>_mean``, ``<m>_ci_low``, ``<m>_ci_high``,
    ``<m>_ci_clipped`` (the interval met the metric's range, :func:`aggregate`) for each
    ``m`` in ``report``.
    """
    keys = [*group, choose]
    sel = aggregate(rows, by=keys, metric=select, confidence=confidence)
    best = best_per_group(sel, group=group, choose=choose, mode=mode)[[*keys, "count"]]
    for m in report:
        agg = aggregate(rows, by=keys, metric=m, confidence=confidence)
        stats_ = ("mean", "ci_low", "ci_high", "ci_clipped")
        agg = agg[[*keys, *stats_]].rename(columns={c: f"{m}_{c}" for c in stats_})
        best = best.merge(agg, on=keys, how="left")
    return best
