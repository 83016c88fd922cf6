"""What a trial calls: :func:`report` (metrics, rows, resolved config) and
:func:`trial_device` (the torch device its resources mean)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imm_ray import metrics as metric_names


class NoGPUError(RuntimeError):
    """A trial was given a GPU that torch on its node cannot use."""


def trial_device(gpus_per_trial: float):
    """The torch device for a trial: CUDA when it was given a GPU (torch must see it),
    else CPU.

    Raises:
        NoGPUError: a GPU was asked for but torch on this node sees none (a CPU-only
            torch build, or no driver): the trial fails loudly instead of quietly
            training on CPU.
    """
    import torch

    if not gpus_per_trial > 0:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    raise NoGPUError(
        f"--gpus-per-trial {gpus_per_trial:g}: this trial was given a GPU "
        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}) but torch "
        f"{torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) sees no CUDA device "
        "on this node; install a CUDA torch there, or pass --gpus-per-trial 0 to run on CPU")


def report(metrics: Mapping[str, Any], checkpoint=None, *, rows=None, resolved=None) -> None:
    """``tune.report`` after checking every float metric is finite (never a silent NaN);
    adds ``node_id``, the Ray node the trial runs on (two nodes of one machine share
    Tune's ``node_ip`` and ``hostname``).

    Args:
        metrics: scalar metrics (names from :mod:`imm_ray.metrics`).
        checkpoint: a ``tune.Checkpoint`` made from a local directory, or None.
        rows: the trial's tidy rows (a DataFrame or a dict of equal-length lists; string
            columns such as ``method`` stay strings), written as ``rows.parquet`` into the
            checkpoint (a new one if ``checkpoint`` is None), so they are persisted to the
            storage path with it and read back by :func:`imm_ray.analysis.load_rows`.
        resolved: the trial's resolved config (a dataclass or a dict), written as
            ``resolved_config.json`` beside the rows.
    """
    import ray
    from ray import tune

    from imm_ray.core import NonFiniteLossError

    bad = {k: v for k, v in metrics.items()
           if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise NonFiniteLossError(f"non-finite metrics {bad}; stopping the trial")
    full = {metric_names.NODE_ID: ray.get_runtime_context().get_node_id(), **metrics}
    if rows is None and resolved is None:
        tune.report(full, checkpoint=checkpoint)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(checkpoint.path) if checkpoint is not None else Path(tmp)
        write_trial_files(folder, rows, resolved)
        tune.report(full, checkpoint=checkpoint or tune.Checkpoint.from_directory(tmp))


def write_trial_files(folder: Path, rows=None, resolved=None) -> None:
    """``rows.parquet`` and ``resolved_config.json`` into a (checkpoint) folder."""
    import dataclasses

    import pandas as pd

    if rows is not None:
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        frame.to_parquet(Path(folder) / metric_names.ROWS_FILE, index=False)
    if resolved is not None:
        record = dataclasses.asdict(resolved) if dataclasses.is_dataclass(resolved) \
            else dict(resolved)
        (Path(folder) / metric_names.RESOLVED_CONFIG_FILE).write_text(
            json.dumps(record, indent=2, default=str))
