"""The sweep's table: test perplexity per method / estimator / lambda / fraction (mean and
95% interval over seeds), beside the Kneser-Ney bigram's own perplexity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imm_ray import analysis
from imm_ray.experiments.lm_transformers.trainable import ROW_FIELDS

GROUP = ["method", "estimator", "imm_lambda", "train_fraction"]


def summary(rows: pd.DataFrame, metric: str = "test_ppl") -> pd.DataFrame:
    """Mean, 95% CI and seed count of ``metric`` per (method, estimator, lambda, fraction)."""
    agg = analysis.aggregate(rows, GROUP, metric)
    return agg.sort_values(["train_fraction", "method", "estimator", "imm_lambda"],
                           ignore_index=True)


def markdown(rows: pd.DataFrame, bigram_ppl: dict[str, float]) -> str:
    """A markdown table of test (and validation) perplexity, and the bigram's line."""
    test, valid = summary(rows, "test_ppl"), summary(rows, "valid_ppl")
    lines = ["| fraction | method | estimator | lambda | seeds | test ppl (95% CI) | valid ppl |",
             "|---:|---|---|---:|---:|---|---:|"]
    for t, v in zip(test.itertuples(), valid.itertuples(), strict=True):
        # one seed has no interval ("± 0" would claim a certainty it does not have); the
        # interval is analysis.aggregate's, clipped to perplexity >= 1, so not symmetric
        ci = f"[{t.ci_low:.2f}, {t.ci_high:.2f}]" if t.count > 1 else "(1 seed: no CI)"
        lines.append(f"| {t.train_fraction:g} | {t.method} | {t.estimator} | "
                     f"{t.imm_lambda:g} | {t.count} | {t.mean:.2f} {ci} | {v.mean:.2f} |")
    lines.append(f"\nKneser-Ney bigram (fit on the full training split): test ppl "
                 f"{bigram_ppl['test']:.1f}, valid ppl {bigram_ppl['valid']:.1f}")
    return "\n".join(lines)


def write(rows: pd.DataFrame, out: Path, bigram_ppl: dict[str, float]) -> tuple[str, str]:
    """``results.csv`` and ``summary.md`` in ``out``; returns (csv path, the table)."""
    csv = analysis.write_csv(rows[list(ROW_FIELDS)], out / "results.csv", required=ROW_FIELDS)
    text = markdown(rows, bigram_ppl)
    (out / "summary.md").write_text(text + "\n")
    return csv, text
