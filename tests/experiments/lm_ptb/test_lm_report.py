"""imm_ray.experiments.lm_ptb.report on synthetic rows: per-trial/per-epoch split, summary with CIs,
tables (settings a method ignores shown as '-'), IMM's gaps, the bigram comparison."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imm_ray.experiments.lm_ptb import report

BASE = dict(model="lstm", train_fraction=0.1, restricted_data="same", imm_lambda=0.5, k=10,
            imm_contexts=32, imm_length=5, emb_size=64, hidden_size=64, test_tokens=0)


def rows(method: str, seed: int, test: float, epochs: int = 2) -> pd.DataFrame:
    return pd.DataFrame([{**BASE, "method": method, "seed": seed, "trial_id": f"{method}{seed}",
                          "epoch": e + 1, "epoch_valid_ppl": 500.0 - e,
                          "valid_ppl": test + 10 if e == epochs - 1 else math.nan,
                          "test_ppl": test if e == epochs - 1 else math.nan}
                         for e in range(epochs)])


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.concat([rows("none", 0, 400.0), rows("none", 1, 410.0), rows("imm", 0, 300.0),
                      rows("imm", 1, 320.0, epochs=3)], ignore_index=True)


def test_split_rows_keeps_the_last_epoch_per_trial(frame):
    results, curves = report.split_rows(frame)
    assert len(results) == 4 and len(curves) == 9
    assert dict(zip(results.trial_id, results.epochs, strict=True))["imm1"] == 3
    assert results.test_ppl.notna().all()


def test_summary_gap_and_bigram_tables(frame):
    results, _ = report.split_rows(frame)
    summary = report.summarize(results)
    imm = summary[summary.method == "imm"].iloc[0]
    assert imm["mean"] == 310.0 and imm["count"] == 2 and imm.ci_low < 310 < imm.ci_high
    table = report.markdown_table(summary)
    assert "| lstm | 0.1 | - | none | - | - | - |" in table  # none ignores these settings
    assert "| lstm | 0.1 | same | imm | 0.5 | 10 | 32 | 2 |" in table
    gap = report.gap_table(results)
    assert "+95.0 (+23.5%)" in gap  # none 405 - imm 310
    bigram = pd.DataFrame([{"train_fraction": 0.1, "restricted_data": "same",
                            "bigram_test_ppl": 350.0}])
    vs = report.bigram_table(summary, bigram)
    assert "| 350.0 | imm | 310.0 | -11.4% |" in vs and "| none | 405.0 | +15.7% |" in vs


def test_epoch_table_lists_each_epoch(frame):
    _, curves = report.split_rows(frame)
    table = report.epoch_table(curves).splitlines()
    assert table[0].endswith("| epoch 1 | epoch 2 | epoch 3 |")
    assert table[2] == "| lstm | 0.1 | same | imm | 500.0 | 499.0 | 498.0 |"
    assert table[3] == "| lstm | 0.1 | same | none | 500.0 | 499.0 | - |"


def test_unfinished_counts_trials_that_neither_ended_nor_failed():
    class Grid(list):
        num_terminated, num_errors = 3, 1

    assert report.unfinished(Grid(range(6))) == 2
