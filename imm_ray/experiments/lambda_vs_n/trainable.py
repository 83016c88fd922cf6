"""The Tune trainable of the lambda-vs-n sweep: one (method, n) cell per trial.

``train_lambda_cell(config)`` resolves its config into a
:class:`imm_ray.experiments.lambda_vs_n.config.CellConfig`, fits every seed x ratio of the cell in
one
batch (the toy, or a table read from the path in its config and checked against the
sha256 the driver recorded), and reports once: the cell's scalar summary, its tidy rows
(``rows.parquet``, string ``method`` column) and the resolved config, in a checkpoint.
A cell restored after an interruption finds that checkpoint and returns at once, so
``--resume`` never trains a finished cell twice.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict

import pandas as pd

from imm_ray import metrics, sweep
from imm_ray.experiments.lambda_vs_n.config import CellConfig, cell_config
from imm_ray.experiments.lambda_vs_n.toy.trainer import train_cell as train_toy_cell
from imm_ray.tabular.cell import train_table_cell
from imm_ray.tabular.config import TabularConfig
from imm_ray.tabular.data import Table, fingerprint, load_table
from imm_ray.tabular.trainer import reporting_fits


def train_lambda_cell(config: dict) -> None:
    """Tune function trainable: one cell, one report."""
    from ray import tune

    if tune.get_checkpoint() is not None:
        return  # finished (and reported) before the sweep was interrupted
    cell = cell_config(config)
    start = time.process_time()
    with reporting_fits(lambda fitted, total: sweep.progress(fitted, total, "fits")):
        rows, stats = run_cell(cell)
    stats["cpu_seconds"] = time.process_time() - start
    sweep.report(cell_summary(rows, stats, cell.method), rows=rows, resolved=cell)


def run_cell(cell: CellConfig, restricted_model=None, table: Table | None = None):
    """``(rows, stats)`` of a cell (:func:`imm_ray.tabular.trainer.train_cell`)."""
    seeds = range(cell.seeds)
    if cell.toy is not None:
        return train_toy_cell(cell.toy, cell.fit, cell.method, cell.n, seeds, cell.ratios)
    if table is None:
        table = cached_table(json.dumps(asdict(cell.table)), cell.dataset_sha256)
    return train_table_cell(table, cell.table, cell.fit, cell.method, cell.n, seeds,
                            cell.ratios, restricted_model=restricted_model)


@functools.lru_cache(maxsize=2)
def cached_table(table_json: str, sha256: str) -> Table:
    """The table of a trial (cached per worker process: Tune reuses workers)."""
    cfg = TabularConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in json.loads(table_json).items()})
    if sha256 and fingerprint(cfg.dataset) != sha256:
        raise ValueError(f"--dataset {cfg.dataset!r} changed since the sweep started (its "
                         f"sha256 is no longer {sha256[:12]}...); start a new sweep")
    return load_table(cfg.dataset, cfg, verbose=False)


def cell_summary(rows: dict, stats: dict, method: str) -> dict:
    """Scalar metrics of a cell: its own method at the ratio best on validation."""
    own = pd.DataFrame(rows).query("method == @method")
    by = own.groupby("ratio")[["valid_log_loss", "test_log_loss", "test_accuracy"]].mean()
    r = by["valid_log_loss"].idxmin()
    return {metrics.EVAL_VALID_LOG_LOSS: float(by.loc[r, "valid_log_loss"]),
            metrics.EVAL_TEST_LOG_LOSS: float(by.loc[r, "test_log_loss"]),
            metrics.EVAL_TEST_ACCURACY: float(by.loc[r, "test_accuracy"]),
            metrics.EVAL_BEST_RATIO: float(r),
            metrics.FIT_MODELS: stats["models"],
            metrics.FIT_SECONDS: float(stats["fit_seconds"]),
            metrics.FIT_MODELS_PER_SECOND: stats["models"] / max(stats["fit_seconds"], 1e-9),
            metrics.FIT_MAX_ITERATIONS: stats["max_iterations"],
            metrics.FIT_ALL_CONVERGED: stats["all_converged"],
            **({metrics.FIT_CPU_SECONDS: float(stats["cpu_seconds"])}
               if "cpu_seconds" in stats else {})}
