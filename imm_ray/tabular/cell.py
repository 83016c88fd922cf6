"""A table's lambda-vs-n cell: splits, encodings, restricted and induced models per seed,
handed to the shared batched trainer (:func:`imm_ray.tabular.trainer.train_cell`).

For each seed (:mod:`imm_ray.tabular.splits`): the ``n`` training rows are encoded with
statistics of those rows only (:mod:`imm_ray.tabular.encoding`), the restricted model is
fitted on its rows (auxiliary or training, restricted columns only) or supplied by the
user, the induced model is built over the training pool (:mod:`imm_ray.tabular.induced`),
and the seed's own validation and test rows score every model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from imm_ray import core
from imm_ray.protocols import check_restricted_model
from imm_ray.restricted.frequency_table import FrequencyTableRestricted
from imm_ray.restricted.logistic import LogisticRestricted
from imm_ray.tabular import induced as induced_models
from imm_ray.tabular.config import FitConfig, TabularConfig
from imm_ray.tabular.data import Table
from imm_ray.tabular.encoding import design, fit_stats, width
from imm_ray.tabular.splits import check_sizes, split_rows, split_sizes
from imm_ray.tabular.trainer import CellData, EvalSet, TrainSet, train_cell


def restricted_kind(table: Table, cfg: TabularConfig) -> str:
    """'frequency' or 'logistic' (``auto``: frequency iff every restricted column is discrete)."""
    continuous = [table.columns[i].name for i in table.restricted_index
                  if not table.columns[i].discrete]
    if cfg.restricted_kind == "frequency" and continuous:
        raise ValueError(f"--restricted-kind frequency needs discrete restricted columns; "
                         f"{continuous} are continuous (use --restricted-kind logistic)")
    if cfg.restricted_kind != "auto":
        return cfg.restricted_kind
    return "logistic" if continuous else "frequency"


def check_grid(table: Table, cfg: TabularConfig, sizes: Sequence[int]) -> str:
    """Validate every training size against the table's splits and models (ValueError
    naming the flag); returns a one-line description of the protocol."""
    split = split_sizes(len(table.y), cfg)
    check_sizes(sizes, split, cfg)
    kind, induced = restricted_kind(table, cfg), induced_models.choose(table, cfg)
    if induced == "neighbours":
        for n in sizes:
            induced_models.num_neighbours(cfg, n)
    return (f"{table.source}: {split.describe()}; {table.num_classes} classes; restricted "
            f"model {kind} on {list(table.restricted)} ({cfg.restricted_source} rows); "
            f"induced model {induced}")


def restricted_models(table: Table, cfg: TabularConfig, rows: Tensor, user_model=None) -> list:
    """One restricted model per seed, fitted on ``rows [S, m]`` (or the user's, shared)."""
    if user_model is not None:
        check_restricted_model(user_model, table.num_classes, "user-supplied restricted")
        return [user_model] * len(rows)
    values, y = table.restricted_values(rows), table.y[rows]
    if restricted_kind(table, cfg) == "frequency":
        return [FrequencyTableRestricted(values[s], y[s], table.num_classes, cfg.smoothing)
                for s in range(len(rows))]
    cols = [table.columns[i] for i in table.restricted_index]
    return LogisticRestricted.fit_batch(values, y, cols, table.num_classes, cfg.restricted_l2)


def restricted_probs(models: list, table: Table, rows: Tensor) -> Tensor:
    """``Pbar`` of each seed's model at its rows ``[S, m]`` -> ``[S, m, C]``, checked."""
    out = []
    for model, r in zip(models, rows, strict=True):
        p = model.probs(table.restricted_values(r))
        if not torch.is_tensor(p) or tuple(p.shape) != (len(r), table.num_classes):
            raise ValueError(f"restricted model probs must be [N={len(r)}, C="
                             f"{table.num_classes}], got "
                             f"{tuple(p.shape) if torch.is_tensor(p) else type(p).__name__}")
        core.check_probs(p, "restricted model probs")
        out.append(p.to(torch.float64))
    return torch.stack(out)


def cell_data(table: Table, cfg: TabularConfig, n: int, seeds: Sequence[int],
              restricted_model=None) -> CellData:
    """Everything :func:`imm_ray.tabular.trainer.train_cell` needs for ``seeds`` at size ``n``."""
    sizes = split_sizes(len(table.y), cfg)
    check_sizes([n], sizes, cfg)
    splits = [split_rows(sizes, int(s)) for s in seeds]
    rows = {"train": torch.stack([sp.train(n) for sp in splits]),
            "valid": torch.stack([sp.valid for sp in splits]),
            "test": torch.stack([sp.test for sp in splits])}
    order = table.restricted_index + table.extra_index
    cols = [table.columns[i] for i in order]
    raw = table.values[:, order]
    mean, std = fit_stats(raw[rows["train"]], cols)  # training rows only
    feats = {k: design(raw[r], cols, mean, std) for k, r in rows.items()}
    fitted_on = torch.stack([sp.restricted_rows(n, cfg) for sp in splits])
    models = restricted_models(table, cfg, fitted_on, restricted_model)
    pbar = {k: restricted_probs(models, table, r) for k, r in rows.items()}
    r_width = 1 + sum(width(c) for c in cols[:len(table.restricted)])
    kind = induced_models.choose(table, cfg)
    induced = induced_models.build(kind, table.restricted_values(rows["train"]),
                                   feats["train"][..., :r_width], cfg, seeds)
    train = TrainSet(feats["train"], table.y[rows["train"]], pbar["train"], induced,
                     tuple(int(s) for s in seeds))
    held = {k: EvalSet(feats[k], table.y[rows[k]], pbar[k]) for k in ("valid", "test")}
    return CellData(train, held["valid"], held["test"], table.num_classes, r_width)


def train_table_cell(table: Table, cfg: TabularConfig, fit: FitConfig, method: str, n: int,
                     seeds: Sequence[int], ratios: Sequence[float], *, interpolate: bool = True,
                     restricted_model=None) -> tuple[dict, dict]:
    """One (method, n) cell of a table; ``none`` adds ``interpolate`` and ``restricted`` rows."""
    data = cell_data(table, cfg, n, seeds, restricted_model)
    return train_cell(data, method, ratios, fit, interpolate=interpolate, restricted_rows=True)
