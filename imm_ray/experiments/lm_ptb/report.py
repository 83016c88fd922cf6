"""The LM sweep's report: per-trial results and per-epoch curves from the trials' rows,
a summary with 95% CIs, markdown tables (test ppl, IMM's gap to each baseline, the full
model against the bigram), plots, and clean messages for failed trials.

Works on a ``ResultGrid`` right after a sweep, or offline on experiment folders::

    from imm_ray.experiments.lm_ptb import report
    results, curves, errors = report.load(["results/lm_ptb_cpu_full"])
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis
from imm_ray.experiments.lm_ptb.trainable import ROW_SETTINGS

KEY = ["model", "train_fraction", "restricted_data", "method", "imm_lambda", "k",
       "imm_contexts"]
"""What a summary row is grouped by (seeds are averaged)."""
CSV_COLUMNS = [*ROW_SETTINGS, "valid_ppl", "test_ppl", "epochs", "n_train_tokens",
               "train_seconds", "trial_id"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_message(error) -> str:
    """The real exception line of a failed trial, without Ray's wrapper and colours
    (``ray::ImplicitFunc.train() (pid=...)`` and tracebacks are dropped)."""
    text = ANSI.sub("", str(error))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    exc = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b.*:", ln)
           or re.match(r"^[\w.]*(Error|Exception)$", ln)]
    best = exc[-1] if exc else (lines[-1] if lines else repr(error))
    return best[:500]


def split_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of all trials -> (one row per trial: its last epoch; one row per epoch)."""
    rows = rows.sort_values(["trial_id", "epoch"])
    last = rows.groupby("trial_id", sort=False).tail(1).rename(columns={"epoch": "epochs"})
    return last.reset_index(drop=True), rows.reset_index(drop=True)


def unfinished(grid) -> int:
    """Trials of a ResultGrid that neither terminated (finished or early-stopped) nor
    failed: an interrupted sweep."""
    return len(grid) - grid.num_terminated - grid.num_errors


def collect(grid) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """A ResultGrid -> (results, curves, {trial_id: error message} of failed trials)."""
    errors = {}
    for r in grid:
        if r.error is not None:
            tid = (r.metrics or {}).get("trial_id") or Path(r.path).name
            errors[str(tid)] = error_message(r.error)
    try:
        rows = analysis.load_rows(grid)
    except ValueError:  # no trial reported a single epoch
        return pd.DataFrame(columns=CSV_COLUMNS), pd.DataFrame(), errors
    results, curves = split_rows(rows)
    return results, curves, errors


def load(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Trials of several experiment folders, one per grid point (same settings and seed):
    a finished run wins over an unfinished one, then the earlier folder. Unfinished trials
    keep their completed epochs in the curves (and have no test perplexity)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    parts = [collect(ResultGrid(ExperimentAnalysis(analysis.experiment_path(p)))) for p in paths]
    frames = [r.assign(_order=i) for i, (r, _, _) in enumerate(parts) if len(r)]
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS), pd.DataFrame(), {}
    results = pd.concat(frames).assign(_open=lambda d: d.test_ppl.isna())
    results = results.sort_values(["_open", "_order"]).drop_duplicates([*KEY, "seed"])
    results = results.drop(columns=["_open", "_order"])
    curves = pd.concat([c for _, c, _ in parts if len(c)])
    curves = curves[curves.trial_id.isin(results.trial_id)]
    return results, curves, {k: v for _, _, e in parts for k, v in e.items()}


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test perplexity with a 95% CI (and mean valid perplexity) per KEY."""
    done = results.dropna(subset=["test_ppl"])
    test = analysis.aggregate(done, KEY, "test_ppl")
    valid = analysis.aggregate(done, KEY, "valid_ppl")
    return test.merge(valid[KEY + ["mean"]].rename(columns={"mean": "valid_mean"}), on=KEY)


def _uses(method: str, setting: str) -> bool:
    return {"imm_lambda": method in ("imm", "reverse_kd"), "k": method == "imm",
            "imm_contexts": method == "imm",
            "restricted_data": method != "none"}[setting]


def markdown_table(summary: pd.DataFrame) -> str:
    """One line per summary row; settings a method ignores are shown as ``-``."""
    head = ("| model | train_fraction | bigram data | method | lambda | k | IMM positions/step "
            "| seeds | valid ppl | test ppl (mean ± 95% CI) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for _, s in summary.iterrows():
        cell = {c: (f"{s[c]:g}" if _uses(s.method, c) else "-")
                for c in ("imm_lambda", "k", "imm_contexts")}
        half = (s.ci_high - s.ci_low) / 2 if int(s["count"]) > 1 else float("nan")
        ci = f" ± {half:.1f}" if np.isfinite(half) else ""
        data = s.restricted_data if _uses(s.method, "restricted_data") else "-"
        lines.append(f"| {s.model} | {s.train_fraction:g} | {data} | {s.method} | "
                     f"{cell['imm_lambda']} | {cell['k']} | {cell['imm_contexts']} | "
                     f"{int(s['count'])} | {s.valid_mean:.1f} | {s['mean']:.1f}{ci} |")
    return "\n".join(lines)


def gap_table(results: pd.DataFrame) -> str:
    """How much lower IMM's mean test perplexity is than each baseline's (negative: IMM
    is worse), per model, fraction and bigram data."""
    done = results.dropna(subset=["test_ppl"])
    by = ["model", "train_fraction", "restricted_data"]
    means = done.groupby([*by, "method"]).test_ppl.mean().unstack()
    if "imm" not in means or len(means.columns) < 2:
        return ""
    bases = [b for b in ("none", "noising", "reverse_kd") if b in means]
    lines = ["| model | train_fraction | bigram data | " + " | ".join(
        f"{b} - imm" for b in bases) + " |", "|---|---|---|" + "---|" * len(bases)]
    none_rows = done[done.method == "none"].groupby(["model", "train_fraction"]).test_ppl.mean()
    for (model, frac, data), row in means.iterrows():
        cells = []
        for b in bases:
            base = row[b] if np.isfinite(row[b]) else none_rows.get((model, frac), np.nan)
            gap = base - row["imm"]
            cells.append(f"{gap:+.1f} ({gap / base:+.1%})" if np.isfinite(gap) else "-")
        lines.append(f"| {model} | {frac:g} | {data} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def epoch_table(curves: pd.DataFrame) -> str:
    """Mean validation perplexity after each epoch, one line per setting and method (the
    equal-epoch comparison; unfinished trials contribute the epochs they completed)."""
    if curves.empty:
        return ""
    means = curves.groupby([*KEY, "epoch"]).epoch_valid_ppl.mean().unstack("epoch")
    epochs = [int(e) for e in means.columns]
    lines = ["| model | train_fraction | bigram data | method | " + " | ".join(
        f"epoch {e}" for e in epochs) + " |", "|---|---|---|---|" + "---|" * len(epochs)]
    for key, row in means.iterrows():
        k = dict(zip(KEY, key, strict=True))
        cells = [f"{v:.1f}" if np.isfinite(v) else "-" for v in row]
        lines.append(f"| {k['model']} | {k['train_fraction']:g} | {k['restricted_data']} | "
                     f"{k['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bigram_perplexities(corpus_path: str, results: pd.DataFrame) -> pd.DataFrame:
    """Test perplexity of the KN bigram each (train_fraction, restricted_data) of
    ``results`` used (fitted on the same tokens as in the trials; cached), on the same
    test tokens as the trials (the first ``test_tokens``, or all)."""
    from imm_ray.lm import data as lmdata
    from imm_ray.lm.bigram import restricted_model

    corpus = lmdata.load_corpus(corpus_path)
    if "test_tokens" not in results:  # rows written before the column existed: all tokens
        results = results.assign(test_tokens=0)
    pairs = results[["train_fraction", "restricted_data", "test_tokens"]].drop_duplicates()
    out = [{"train_fraction": f, "restricted_data": d,
            "bigram_test_ppl": restricted_model(corpus, f, d, corpus_path).perplexity(
                corpus.test[:int(n) or None])} for f, d, n in pairs.itertuples(index=False)]
    return pd.DataFrame(out, columns=["train_fraction", "restricted_data", "bigram_test_ppl"])


def bigram_table(summary: pd.DataFrame, bigram: pd.DataFrame) -> str:
    """Each method's mean test perplexity against the bigram's (negative: below it)."""
    merged = summary.merge(bigram, on=["train_fraction", "restricted_data"])
    lines = ["| model | train_fraction | bigram data | bigram test ppl | method | test ppl | "
             "vs bigram |", "|---|---|---|---|---|---|---|"]
    for _, s in merged.iterrows():
        gap = s["mean"] / s.bigram_test_ppl - 1
        lines.append(f"| {s.model} | {s.train_fraction:g} | {s.restricted_data} | "
                     f"{s.bigram_test_ppl:.1f} | {s.method} | {s['mean']:.1f} | {gap:+.1%} |")
    return "\n".join(lines)


def write(results: pd.DataFrame, curves: pd.DataFrame, out: Path,
          corpus_path: str | None = None) -> tuple[str, list[Path], str]:
    """CSV, summary.csv/summary.md and plots into ``out``; returns (csv, plots, text).
    Without a finished trial only the per-epoch table (and plot) is written."""
    from imm_ray.experiments.lm_ptb import plots

    csv = analysis.write_csv(results[[c for c in CSV_COLUMNS if c in results]],
                             out / "results.csv", required=["method", "test_ppl"])
    if curves.empty:
        return csv, [], ""
    parts, bigram = [], None
    if results.test_ppl.notna().any():
        summary = summarize(results)
        summary.to_csv(out / "summary.csv", index=False)
        parts += [markdown_table(summary), gap_table(results)]
        if corpus_path:
            bigram = bigram_perplexities(corpus_path, results.dropna(subset=["test_ppl"]))
            parts.append(bigram_table(summary, bigram))
    parts.append(epoch_table(curves))
    text = "\n\n".join(p for p in parts if p)
    (out / "summary.md").write_text(text + "\n")
    return csv, plots.plot_all(results, curves, out, bigram), text
