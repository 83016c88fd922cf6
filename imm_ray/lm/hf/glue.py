"""GLUE-style classification tasks from local TSV files, and each task's metric.

``read_task(folder, "cola")`` reads ``train.tsv`` and ``dev.tsv`` in the GLUE layout (the
files the GLUE download script writes; ``test.tsv`` has no labels and is not read):

========  =====================================  ============  =================  ========
task      text columns                           label column  labels             metric
========  =====================================  ============  =================  ========
cola      4th column (no header)                 2nd column    0, 1               mcc
sst2      ``sentence``                           ``label``     0, 1               accuracy
mrpc      ``#1 String``, ``#2 String``           ``Quality``   0, 1               f1
qnli      ``question``, ``sentence``             ``label``     entailment, not_.. accuracy
rte       ``sentence1``, ``sentence2``           ``label``     entailment, not_.. accuracy
========  =====================================  ============  =================  ========

Every task also gets accuracy (and, being binary, MCC and F1 of label 1); :data:`TASKS`
names the headline one. Names are matched case-insensitively without dashes (``SST-2``).
Files are read with ``csv.QUOTE_NONE`` (GLUE text holds unbalanced quotes).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "dev")


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's text and label live in its TSV, its label set and its metric."""

    text_columns: tuple[str, ...]
    label_column: str
    labels: tuple[str, ...]
    metric: str
    header: tuple[str, ...] | None = None
    """Column names of a file without a header row (CoLA); None: the first row names them."""


TASKS = {
    "cola": TaskSpec(("sentence",), "label", ("0", "1"), "mcc",
                     header=("source", "label", "original_label", "sentence")),
    "sst2": TaskSpec(("sentence",), "label", ("0", "1"), "accuracy"),
    "mrpc": TaskSpec(("#1 String", "#2 String"), "Quality", ("0", "1"), "f1"),
    "qnli": TaskSpec(("question", "sentence"), "label", ("entailment", "not_entailment"),
                     "accuracy"),
    "rte": TaskSpec(("sentence1", "sentence2"), "label", ("entailment", "not_entailment"),
                    "accuracy"),
}
METRICS = ("mcc", "f1", "accuracy")


@dataclass
class TaskSplit:
    """One split: ``text_a`` (and ``text_b`` for pairs) and ``[n]`` int labels (indices
    into the task's label set)."""

    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.text_a)


def task_name(task: str) -> str:
    """``"SST-2"`` -> ``"sst2"``; ValueError naming ``task`` when unknown."""
    name = str(task).lower().replace("-", "").replace("_", "")
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)} (GLUE names), got {task!r}")
    return name


def read_task(folder: str | os.PathLike, task: str) -> dict[str, TaskSplit]:
    """``{"train": TaskSplit, "dev": TaskSplit}`` of a GLUE task folder."""
    spec = TASKS[task_name(task)]
    root = Path(folder).expanduser()
    missing = [f"{s}.tsv" for s in SPLITS if not (root / f"{s}.tsv").is_file()]
    if missing:
        raise ValueError(f"glue_dir {str(root)!r} must hold the task's GLUE TSV files "
                         f"{[f'{s}.tsv' for s in SPLITS]}; missing {missing}")
    return {s: read_split(root / f"{s}.tsv", spec) for s in SPLITS}


def read_split(path: Path, spec: TaskSpec) -> TaskSplit:
    """One TSV file; ValueError naming the file for a missing column or a bad label."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = list(spec.header) if spec.header is not None else (rows.pop(0) if rows else [])
    need = [*spec.text_columns, spec.label_column]
    absent = [c for c in need if c not in header]
    if absent:
        raise ValueError(f"{path}: columns {absent} are missing (the GLUE layout has "
                         f"{need}; found {header})")
    cols = [header.index(c) for c in need]
    width = max(cols) + 1
    texts: list[list[str]] = [[] for _ in spec.text_columns]
    labels = []
    index = {label: i for i, label in enumerate(spec.labels)}
    for line, row in enumerate(rows, start=1 if spec.header is not None else 2):
        if len(row) < width:
            raise ValueError(f"{path}, line {line}: {len(row)} columns, expected at least "
                             f"{width}")
        label = row[cols[-1]].strip()
        if label not in index:
            raise ValueError(f"{path}, line {line}: label {label!r} is outside the task's "
                             f"label set {list(spec.labels)}")
        labels.append(index[label])
        for t, c in zip(texts, cols[:-1], strict=False):
            t.append(row[c])
    if not labels:
        raise ValueError(f"{path}: no examples")
    return TaskSplit(texts[0], texts[1] if len(texts) > 1 else None,
                     np.asarray(labels, dtype=np.int64))


def write_split(path: str | os.PathLike, task: str, split: TaskSplit) -> None:
    """Write a split in the task's GLUE layout (what :func:`read_split` reads)."""
    spec = TASKS[task_name(task)]
    header = list(spec.header) if spec.header is not None else \
        [*spec.text_columns, spec.label_column]
    rows = []
    for i, label in enumerate(split.labels):
        values = {spec.label_column: spec.labels[int(label)], spec.text_columns[0]:
                  split.text_a[i]}
        if split.text_b is not None:
            values[spec.text_columns[1]] = split.text_b[i]
        rows.append([values.get(c, "") for c in header])
    lines = ([] if spec.header is not None else [header]) + rows
    clean = ["\t".join(" ".join(str(v).split()) for v in line) for line in lines]
    Path(path).write_text("".join(f"{line}\n" for line in clean), encoding="utf-8")


# --------------------------------------------------------------------------- metrics


def task_metrics(preds, labels) -> dict[str, float]:
    """``accuracy``, ``mcc`` (Matthews) and ``f1`` (of label 1) of ``[n]`` predictions."""
    p, y = np.asarray(preds).astype(np.int64), np.asarray(labels).astype(np.int64)
    if p.shape != y.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"preds and labels must be equal-length non-empty [n], got "
                         f"{p.shape} and {y.shape}")
    tp = float(np.sum((p == 1) & (y == 1)))
    tn = float(np.sum((p == 0) & (y == 0)))
    fp = float(np.sum((p == 1) & (y == 0)))
    fn = float(np.sum((p == 0) & (y == 1)))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / denom if denom > 0 else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
    return {"accuracy": float(np.mean(p == y)), "mcc": mcc, "f1": f1}


# --------------------------------------------------------------------------- encoding


class EncodedSplit:
    """A split tokenised for a sequence classifier: a list-like of
    ``{"input_ids", "attention_mask", ["token_type_ids"], "labels"}`` (unpadded; pad with
    ``transformers.DataCollatorWithPadding``)."""

    def __init__(self, features: list[dict], num_labels: int):
        self.features, self.num_labels = features, num_labels

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]

    def sequences(self) -> list[list[int]]:
        """Every example's token ids (special tokens included)."""
        return [f["input_ids"] for f in self.features]


def encode_split(split: TaskSplit, tokenizer, max_length: int, num_labels: int = 2
                 ) -> EncodedSplit:
    """Tokenise ``split`` (pairs as the tokenizer's pair template), truncating to
    ``max_length`` tokens."""
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 4:
        raise ValueError(f"max_length must be an integer >= 4, got {max_length!r}")
    enc = tokenizer(split.text_a, split.text_b, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    features = [{**{k: enc[k][i] for k in keys}, "labels": int(split.labels[i])}
                for i in range(len(split))]
    return EncodedSplit(features, num_labels)
