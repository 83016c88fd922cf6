"""The lambda-vs-n experiment in this process, without Ray: for a pandas DataFrame (or a
file) and a user's own restricted model, or for the toy.

    import pandas as pd
    from imm_ray.experiments.lambda_vs_n import local, report
    from imm_ray.tabular.config import TabularConfig

    rows = local.run_table(pd.read_csv("my.csv"), TabularConfig(target="y", restricted=("age",)),
                           sizes=(8, 16, 32), seeds=20)
    tables = report.summarise(rows)
    report.print_summary(tables, rows)

The cells are those of the Tune sweep (``sweeps/lambda_vs_n.py``): the same function fits
them (:func:`imm_ray.experiments.lambda_vs_n.trainable.run_cell`), so the rows are identical; only
the scheduling differs (one cell after another here, trials on a Ray cluster there).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from imm_ray.experiments.lambda_vs_n.config import (
    DEFAULT_RATIOS,
    TOY_SIZES,
    CellConfig,
    ToyConfig,
    check_grid,
    table_sizes,
)
from imm_ray.experiments.lambda_vs_n.trainable import run_cell
from imm_ray.tabular.cell import check_grid as check_table_grid
from imm_ray.tabular.config import FitConfig, TabularConfig
from imm_ray.tabular.data import load_table
from imm_ray.tabular.splits import split_sizes
from imm_ray.tabular.trainer import ROW_FIELDS

METHODS = ("imm", "noising", "reverse_kd", "none")


def run_table(data, cfg: TabularConfig, *, sizes: Sequence[int] = (),
              ratios: Sequence[float] = DEFAULT_RATIOS, methods: Sequence[str] = METHODS,
              seeds: int = 20, fit: FitConfig | None = None, restricted_model=None,
              progress: bool = True) -> pd.DataFrame:
    """Every cell of a table's sweep; one row per (method, ratio, n, seed).

    Args:
        data: a DataFrame, a CSV/TSV/Parquet path or ``"sklearn:<name>"``.
        cfg: columns and protocol (``target``, ``restricted``, splits, restricted and
            induced models); ``cfg.dataset`` is ignored.
        sizes: training sizes (default: 8 sizes from 4 to the training pool).
        restricted_model: your own ``Pbar``: any object with ``num_classes`` and
            ``probs(values [N, r]) -> [N, C]`` over the raw restricted columns (in
            ``cfg.restricted`` order; categorical columns as codes into their sorted
            values), used for every seed instead of a fitted one.
    """
    cfg.check_table_flags()
    table = load_table(data, cfg, verbose=progress)
    sizes = tuple(sizes) or table_sizes(split_sizes(len(table.y), cfg).max_n(cfg))
    check_grid(sizes, ratios, methods, seeds)
    line = check_table_grid(table, cfg, sizes)
    if progress:
        print(line)
    cells = [CellConfig(m, n, seeds, tuple(ratios), fit or FitConfig(), table=cfg)
             for m in methods for n in sizes]
    return _run(cells, progress, restricted_model=restricted_model, table=table)


def run_toy(cfg: ToyConfig | None = None, *, sizes: Sequence[int] = TOY_SIZES,
            ratios: Sequence[float] = DEFAULT_RATIOS, methods: Sequence[str] = METHODS,
            seeds: int = 100, fit: FitConfig | None = None,
            progress: bool = True) -> pd.DataFrame:
    """Every cell of a toy sweep; one row per (method, ratio, n, seed)."""
    check_grid(sizes, ratios, methods, seeds)
    cells = [CellConfig(m, n, seeds, tuple(ratios), fit or FitConfig(), toy=cfg or ToyConfig())
             for m in methods for n in sizes]
    return _run(cells, progress)


def _run(cells: list[CellConfig], progress: bool, **kw) -> pd.DataFrame:
    from tqdm import tqdm

    frames = []
    for cell in tqdm(cells, desc="cells", disable=not progress):
        rows, _ = run_cell(cell, **kw)
        frames.append(pd.DataFrame(rows))
    rows = pd.concat(frames, ignore_index=True)[list(ROW_FIELDS)]
    return rows.sort_values(["method", "n", "ratio", "seed"], ignore_index=True)
