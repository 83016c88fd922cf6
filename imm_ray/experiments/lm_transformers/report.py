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
        half = (t.ci_high - t.ci_low) / 2
        lines.append(f"| {t.train_fraction:g} | {t.method} | {t.estimator} | "
                     f"{t.imm_lambda:g} | {t.count} | {t.mean:.1f} ± {half:.1f} | "
                     f"{v.mean:.1f} |")
    lines.append(f"\nKneser-Ney bigram (fit on the full training split): test ppl "
                 f"{bigram_ppl['test']:.1f}, valid ppl {bigram_ppl['valid']:.1f}")
    return "\n".join(lines)


def write(rows: pd.DataFrame, out: Path, bigram_ppl: dict[str, float]) -> tuple[str, str]:
    """``results.csv`` and ``summary.md`` in ``out``; returns (csv path, the table)."""
    csv = analysis.write_csv(rows[list(ROW_FIELDS)], out / "results.csv", required=ROW_FIELDS)
    text = markdown(rows, bigram_ppl)
    (out / "summary.md").write_text(text + "\n")
    return csv, text
