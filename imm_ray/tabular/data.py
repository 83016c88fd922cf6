"""A classification table for IMM: load (CSV / TSV / Parquet / pandas / scikit-learn's
bundled tables), check, clean, and keep its raw feature values with their encodings.

:func:`load_table` returns a :class:`Table`: every feature column's raw values as one
``[N, F]`` float64 tensor (numeric columns as numbers, categorical columns as integer codes
into their sorted categories) and the labels as class indices. How columns become model
inputs (standardised numbers, one-hot categories) is :mod:`imm_ray.tabular.encoding`;
which rows train what is :mod:`imm_ray.tabular.splits`.

Every problem is a ValueError naming the flag or column: a missing file (with its path),
an unknown column, the target among the restricted columns, a one-class target, restricted
columns that leave no feature for the full model, non-numeric data that cannot be one-hot
encoded, infinite values. Rows with a missing value in a used column are dropped with a
printed count (``missing="drop"``) or refused (``missing="error"``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from imm_ray.tabular.config import TabularConfig

BUNDLED = ("breast_cancer", "iris", "wine")
"""Tables shipped inside scikit-learn (no download): ``--dataset sklearn:<name>``."""
MAX_ABS_VALUE = 1e150
"""Largest magnitude of a numeric feature: its square (the standard deviation's sum of
squares, in float64) must stay finite."""
READERS = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"),
           ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    """'numeric' or 'categorical'."""
    categories: tuple = ()
    """Sorted values of a categorical column (its codes index this)."""
    discrete: bool = False
    """Categorical, or numeric with at most ``max_categories`` integer values."""


@dataclass
class Table:
    """A cleaned table: ``values [N, F]`` float64 (categorical columns as codes), ``y [N]``."""

    values: Tensor
    y: Tensor
    columns: tuple[Column, ...]
    classes: tuple
    """Target values, sorted; ``y`` indexes them."""
    target: str
    restricted: tuple[str, ...]
    """Restricted columns, in the order given (the restricted model's input order)."""
    source: str = "DataFrame"
    dropped_rows: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def restricted_index(self) -> list[int]:
        return [self.names.index(c) for c in self.restricted]

    @property
    def extra_index(self) -> list[int]:
        return [i for i, c in enumerate(self.names) if c not in self.restricted]

    def restricted_values(self, rows: Tensor) -> Tensor:
        """``[...]`` row indices -> ``[..., r]`` raw restricted values (the input of every
        restricted model, user-supplied ones included)."""
        return self.values[rows][..., self.restricted_index]


def read_frame(dataset) -> tuple[pd.DataFrame, str]:
    """``(DataFrame, source description)`` of a path, ``sklearn:<name>`` or a DataFrame."""
    if isinstance(dataset, pd.DataFrame):
        return dataset, "DataFrame"
    text = str(dataset)
    if text.startswith("sklearn:"):
        name = text.removeprefix("sklearn:")
        if name not in BUNDLED:
            raise ValueError(f"--dataset {text!r}: the bundled tables are "
                             f"{[f'sklearn:{b}' for b in BUNDLED]}")
        from sklearn import datasets  # bundled files only: nothing is downloaded

        return getattr(datasets, f"load_{name}")(as_frame=True).frame, text
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"--dataset: no file at {str(path.resolve())!r}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"--dataset {str(path)!r}: unsupported file type {path.suffix!r}; "
                         f"use one of {sorted(READERS)}")
    try:
        frame = reader(path)
        if path.suffix.lower() in (".csv", ".tsv"):
            check_header(path, "\t" if path.suffix.lower() == ".tsv" else ",")
    except ValueError as e:
        if str(e).startswith("--dataset"):
            raise
        raise ValueError(f"--dataset: cannot read {str(path)!r}: {e}") from e
    except Exception as e:  # parser errors of every kind: say which file
        raise ValueError(f"--dataset: cannot read {str(path)!r}: {e}") from e
    return frame, str(path.resolve())


def check_header(path: Path, sep: str) -> None:
    """Refuse repeated column names in a CSV/TSV header, read raw: pandas renames the second
    ``dose`` to ``dose.1``, which would then silently work as a column name."""
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str,
                         keep_default_na=False).iloc[0].tolist()
    seen: set = set()
    dup = sorted({h for h in header if h in seen or seen.add(h)})
    if dup:
        raise ValueError(f"--dataset {str(path)!r}: duplicate column names {dup} in the "
                         "header; rename them so each column has one name")


def fingerprint(dataset) -> str:
    """sha256 of a dataset file's bytes (of the DataFrame's values for the others): trials
    check it, so a file changed after the sweep started is refused, not silently used."""
    if not isinstance(dataset, pd.DataFrame) and not str(dataset).startswith("sklearn:"):
        return hashlib.sha256(Path(str(dataset)).expanduser().read_bytes()).hexdigest()
    frame, _ = read_frame(dataset)
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).values).hexdigest()


def load_table(dataset, cfg: TabularConfig, *, verbose: bool = True) -> Table:
    """Read, check and clean ``dataset`` (a path, ``sklearn:<name>`` or a DataFrame) with
    the column settings of ``cfg`` (``target``, ``restricted``, ``drop_columns``,
    ``missing``, ``max_categories``); prints the count of dropped rows when ``verbose``."""
    cfg.check_table_flags()
    frame, source = read_frame(dataset)
    frame = frame.rename(columns=str)
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValueError(f"--dataset {source}: duplicate column names {dup}")
    if len(frame) == 0:
        raise ValueError(f"--dataset {source} has no rows")
    features = feature_columns(frame, cfg, source)
    frame, dropped = drop_missing(frame[[*features, cfg.target]], cfg.missing, verbose)
    y, classes = encode_target(frame[cfg.target], cfg.max_categories)
    columns, values = zip(*(encode_column(frame[c], cfg.max_categories) for c in features),
                          strict=True)
    return Table(torch.as_tensor(np.stack(values, 1), dtype=torch.float64), y, columns,
                 classes, cfg.target, cfg.restricted, source, dropped)


def feature_columns(frame: pd.DataFrame, cfg: TabularConfig, source: str) -> list[str]:
    """Every column except the target and the dropped ones; checks the named columns."""
    known = list(frame.columns)
    shown = known if len(known) <= 40 else [*known[:40], "..."]
    for flag, names in (("--target", (cfg.target,)), ("--restricted", cfg.restricted),
                        ("--drop-columns", cfg.drop_columns)):
        unknown = [c for c in names if c not in known]
        if unknown:
            raise ValueError(f"{flag}: {unknown} not among the columns of {source}: {shown}")
    features = [c for c in known if c != cfg.target and c not in cfg.drop_columns]
    if not [c for c in features if c not in cfg.restricted]:
        raise ValueError(f"--restricted {list(cfg.restricted)} covers every feature column: "
                         "nothing is left for the full model beyond the restricted one "
                         "(the full model sees the restricted columns plus the others)")
    return features


def drop_missing(frame: pd.DataFrame, missing: str, verbose: bool) -> tuple[pd.DataFrame, int]:
    """Drop (or refuse, ``missing="error"``) rows with a missing value; says how many."""
    holes = frame.isna()
    bad = holes.any(axis=1)
    count = int(bad.sum())
    if count == 0:
        return frame.reset_index(drop=True), 0
    per_column = {c: int(v) for c, v in holes.sum().items() if v}
    if missing == "error":
        raise ValueError(f"--missing error: {count} of {len(frame)} rows have missing values "
                         f"(per column: {per_column}); use --missing drop to drop them")
    if count == len(frame):
        raise ValueError(f"every row has a missing value (per column: {per_column})")
    if verbose:
        print(f"dropped {count} of {len(frame)} rows with missing values "
              f"(per column: {per_column})")
    return frame[~bad].reset_index(drop=True), count


def encode_target(col: pd.Series, max_classes: int) -> tuple[Tensor, tuple]:
    """Labels as indices into the sorted distinct values; 2..``max_classes`` classes."""
    classes = _sorted_values(col)
    if len(classes) < 2:
        raise ValueError(f"--target {col.name!r} has a single class {list(classes)}: there is "
                         "nothing to classify")
    if len(classes) > max_classes:
        raise ValueError(f"--target {col.name!r} has {len(classes)} distinct values, more than "
                         f"--max-categories {max_classes}: lambda_vs_n needs a classification "
                         "target (raise --max-categories if these really are classes)")
    codes = pd.Categorical(col, categories=list(classes)).codes
    return torch.as_tensor(codes.astype(np.int64)), classes


def encode_column(col: pd.Series, max_categories: int) -> tuple[Column, np.ndarray]:
    """``(Column, raw float64 values)``: numbers as they are, categories as codes."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.float64)
        inf = int(np.isinf(values).sum())
        if inf:
            raise ValueError(f"column {col.name!r} has infinite values in {inf} rows")
        big = float(np.abs(values).max(initial=0.0))
        if big > MAX_ABS_VALUE:
            raise ValueError(f"column {col.name!r} has a value of magnitude {big:.3g}: "
                             f"standardising it (squares in float64) would overflow; values "
                             f"must be within +-{MAX_ABS_VALUE:g} (rescale the column)")
        distinct = np.unique(values)
        discrete = len(distinct) <= max_categories and bool(np.all(distinct == np.round(distinct)))
        return Column(col.name, "numeric", discrete=discrete), values
    categories = _sorted_values(col)
    if len(categories) > max_categories:
        raise ValueError(f"column {col.name!r} is non-numeric ({col.dtype}) with "
                         f"{len(categories)} distinct values, more than --max-categories "
                         f"{max_categories}: it cannot be one-hot encoded. Drop it with "
                         "--drop-columns or raise --max-categories")
    codes = pd.Categorical(col, categories=list(categories)).codes.astype(np.float64)
    return Column(col.name, "categorical", categories, discrete=True), codes


def _sorted_values(col: pd.Series) -> tuple:
    values = list(pd.unique(col.dropna()))
    try:
        return tuple(sorted(values))
    except TypeError:  # mixed types (e.g. 1 and "a"): order by their text
        return tuple(sorted(values, key=str))
