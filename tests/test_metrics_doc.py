"""docs/metrics.md agrees with the code: every metric name of :mod:`imm_ray.metrics` is
defined in exactly one row of its Tune-metrics table (and that table defines nothing else),
each experiment's row table lists exactly the columns its trainable writes, and each summary
file's table lists exactly the columns its report function writes (computed here on tiny
synthetic rows). A name is defined by a backticked name in a table row's first cell.
No Ray is started."""

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imm_ray import metrics
from imm_ray.experiments.lambda_vs_n import report as lambda_report
from imm_ray.experiments.lm_ptb import report as lm_report
from imm_ray.experiments.lm_ptb.trainable import ROW_EPOCH, ROW_FINAL, ROW_SETTINGS
from imm_ray.experiments.rl_gridworld import report as grid_report
from imm_ray.experiments.rl_gridworld.trainable import ROW_FIELDS as GRID_FIELDS
from imm_ray.experiments.rl_restricted_view import report as view_report
from imm_ray.experiments.rl_restricted_view.trainable import ROW_FIELDS as VIEW_FIELDS
from imm_ray.tabular.trainer import ROW_FIELDS as CELL_FIELDS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
CONSTANTS = {k: v for k, v in vars(metrics).items()
             if not k.startswith("_") and isinstance(v, str)}
FILES = {k: v for k, v in CONSTANTS.items() if k.endswith("_FILE")}
METRICS = {k: v for k, v in CONSTANTS.items() if k not in FILES}
LOADED = "trial_id"
"""The column :func:`imm_ray.analysis.load_rows` adds to every trial's rows."""


def sections() -> dict[str, list[list[str]]]:
    """``{heading: [cells of each table body row]}`` for every ``##``/``###`` heading."""
    out, heading, in_table = {}, "", False
    for line in PAGE.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            out.setdefault(heading, [])
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not in_table:  # the header row
            in_table = True
        elif not all(re.fullmatch(r":?-+:?", c) for c in cells):  # not the separator
            out[heading].append(cells)
    return out


def section(start: str) -> list[list[str]]:
    found = [rows for heading, rows in sections().items() if heading.startswith(start)]
    assert len(found) == 1, f"docs/metrics.md needs one section headed {start!r}"
    assert found[0], f"section {start!r} of docs/metrics.md has no table"
    return found[0]


def defined(rows: list[list[str]]) -> list[str]:
    """Every backticked name of the rows' first cells, in order (repeats kept)."""
    return [name for cells in rows for name in re.findall(r"`([^`]+)`", cells[0])]


def assert_same(documented: list[str], expected, what: str) -> None:
    repeated = sorted({n for n in documented if documented.count(n) > 1})
    assert not repeated, f"{what}: defined more than once in docs/metrics.md: {repeated}"
    missing = sorted(set(expected) - set(documented))
    extra = sorted(set(documented) - set(expected))
    assert not missing, f"{what}: not in docs/metrics.md: {missing}"
    assert not extra, f"{what}: docs/metrics.md defines names the code lacks: {extra}"


def test_metric_names_are_unique_in_the_code():
    values = list(CONSTANTS.values())
    assert len(values) == len(set(values)), "two imm_ray.metrics constants share a name"
    assert FILES and len(METRICS) > 20  # the collection found the module's names


def test_every_tune_metric_is_defined_once():
    rows = section("Tune metrics")
    assert_same(defined(rows), METRICS.values(), "imm_ray.metrics")
    assert all(len(cells) == 4 and all(cells) for cells in rows), \
        "every Tune metric row needs name | reported by | when | meaning"


def test_trial_files():
    assert_same(defined(section("Files a trial writes")), FILES.values(), "trial files")


@pytest.mark.parametrize("start, fields", [
    ("lambda-vs-n", CELL_FIELDS),
    ("LM", (*ROW_SETTINGS, *ROW_EPOCH, *ROW_FINAL)),
    ("RL grid", GRID_FIELDS),
    ("RL restricted view", VIEW_FIELDS),
], ids=["lambda_vs_n", "lm", "rl_grid", "rl_view"])
def test_row_columns(start, fields):
    assert_same(defined(section(start)), [*fields, LOADED], f"{start} rows")


def test_lm_row_columns_name_the_metric_they_hold():
    rows = {re.findall(r"`([^`]+)`", cells[0])[0]: cells[1] for cells in section("LM")}
    wrong = {col: key for col, key in {**ROW_EPOCH, **ROW_FINAL}.items()
             if col != key and f"`{key}`" not in rows[col]}
    assert not wrong, f"LM row columns whose description does not name their metric: {wrong}"


def _cell_rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    grid = itertools.product(["none", "imm"], [4, 8], [0.0, 0.5], range(3))
    return pd.DataFrame([dict(zip(CELL_FIELDS, [m, r, r / (1 - r), n, s, *rng.random(8)],
                                  strict=True)) for m, n, r, s in grid])


def _grid_rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    grid = itertools.product(["none", "imm_argmax"], [10, 20], range(3))
    return pd.DataFrame([dict(zip(GRID_FIELDS, [c, e, s, 0.1, 0.0, rng.random()],
                                  strict=True)) for c, e, s in grid])


def _view_rows() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    grid = itertools.product(["none", "imm:late"], [5, 10], range(3))
    return pd.DataFrame([dict(zip(VIEW_FIELDS, [c, c.split(":")[0], "late", it, s, 0.5, 0.0,
                                                *rng.random(2)], strict=True))
                         for c, it, s in grid])


def _lm_results() -> pd.DataFrame:
    return pd.DataFrame([{**dict.fromkeys(lm_report.KEY, "x"), "seed": s,
                          "test_ppl": 100.0 + s, "valid_ppl": 90.0 + s} for s in range(3)])


@pytest.mark.parametrize("start, columns", [
    ("`best_ratios.csv`", lambda: lambda_report.best_ratios(_cell_rows()).columns),
    ("`results.csv`", lambda: lm_report.CSV_COLUMNS),
    ("`summary.csv`", lambda: lm_report.summarize(_lm_results()).columns),
    ("`rl_gridworld_summary.csv`", lambda: grid_report.aggregate(_grid_rows()).columns),
    ("`lambda_search_table.csv`", lambda: grid_report.search_table(_grid_rows()).columns),
    ("`rl_restricted_view_summary.csv`", lambda: view_report.aggregate(_view_rows()).columns),
    ("`rl_restricted_view_paired.csv`", lambda: view_report.paired(_view_rows()).columns),
], ids=lambda v: v.strip("`") if isinstance(v, str) else "")
def test_summary_file_columns(start, columns):
    assert_same(defined(section(start)), list(columns()), start)


def test_summary_files_are_listed():
    listed = set(defined(section("Summary files")))
    named = {h.split("`")[1] for h in sections() if h.startswith("`")}
    assert named <= listed, f"summary files with a table but not listed: {named - listed}"


def test_no_python_blocks():
    assert "```python" not in PAGE.read_text(), "tests/test_docs.py would run them"
