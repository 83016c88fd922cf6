"""Wiring shared by every sweep script: flags, Ray start/join, Tuner build/restore.

A sweep script reads top to bottom (config, trainable, Tuner, analysis); the parts that
would otherwise be copied into each script live here:

- :func:`sweep_parser`: ``--address``, ``--storage-path``, ``--name``, ``--resume``,
  ``--quick``, ``--gpus-per-trial``, ``--cpus-per-trial``, ``--max-failures``,
  ``--max-concurrent``, ``--no-reuse-actors``.
- :func:`init_ray`: a local Ray (the embedded default) or a cluster via ``--address`` /
  ``RAY_ADDRESS``.
- :func:`run_tuner`: a new ``Tuner`` under ``<storage>/<name>``, or ``Tuner.restore`` of an
  interrupted sweep (finished trials are never re-run).
- :func:`trial_device`, :func:`report`, :func:`print_outputs` for trainables and endings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imm_ray import metrics as metric_names

DEFAULT_STORAGE = "results"
LOOPBACK = "127.0.0.1"  # the only address imm_ray listens on or talks to
RESULT_LINE_PREFIXES = ("results:", "plot:")


def sweep_parser(description: str, experiment: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every sweep shares; scripts add their own."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.set_defaults(experiment=experiment)
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster to join (also RAY_ADDRESS); unset: start Ray locally")
    p.add_argument("--storage-path", default=os.environ.get("IMM_RAY_STORAGE", DEFAULT_STORAGE),
                   help="local folder or cloud URI (s3://, gs://) for Tune results (also "
                        "IMM_RAY_STORAGE); checked before Ray starts")
    p.add_argument("--name", default=None,
                   help=f"experiment folder under the storage path (default: the sweep's "
                        f"prefix and the time, e.g. {experiment}_<time>; with --resume, the "
                        "newest folder with that prefix that Tune started in)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep (Tuner.restore); finished trials "
                        "are not re-run")
    p.add_argument("--quick", action="store_true", help="small preset, under a minute on CPU")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial (fractional allowed); 0 runs on CPU")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial")
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a failed trial (from its last checkpoint)")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="cap on trials running at once (default: as resources allow)")
    p.add_argument("--no-reuse-actors", dest="reuse_actors", action="store_false",
                   help="a fresh worker process per trial (4-6 s each on 2 cores): short "
                        "trials then spread over a cluster's nodes instead of queueing on "
                        "the first worker that is up")
    return p


def validate_common(args: argparse.Namespace) -> None:
    """Check the shared flags before Ray starts; raise ValueError naming the flag."""
    if not (args.gpus_per_trial >= 0 and math.isfinite(args.gpus_per_trial)):
        raise ValueError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if not (args.cpus_per_trial > 0 and math.isfinite(args.cpus_per_trial)):
        raise ValueError(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.max_failures < 0:
        raise ValueError(f"--max-failures must be >= 0, got {args.max_failures}")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ValueError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    args.storage_path = check_storage_path(args.storage_path)
    args.name = resolve_name(args)


RUNTIME_FLAGS = frozenset({"address", "storage_path", "name", "resume", "quick", "max_failures",
                           "max_concurrent", "reuse_actors", "gpus_per_trial",
                           "cpus_per_trial", "verbose"})
"""Flags a ``--resume`` may change: where and how trials run, not what they compute."""


def parse_sweep_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser.parse_args`` plus the shared checks; with ``--resume``, the original run's
    settings (from its ``sweep_args.json``) replace the defaults, and a flag given now that
    differs from the original is refused. Errors exit through ``parser.error``."""
    args = parser.parse_args(argv)
    try:
        validate_common(args)
        if args.resume:
            use_original_settings(parser, argv, args)
    except ValueError as e:
        parser.error(str(e))
    return args


def use_original_settings(parser, argv, args: argparse.Namespace) -> None:
    """Set ``args`` to the settings of the run being resumed; raise ValueError naming
    every flag given on this command line that conflicts with them."""
    path = Path(experiment_uri(args)) / "sweep_args.json"
    if is_uri(args.storage_path) or not path.is_file():
        print(f"notice: --resume found no {path.name} to check the flags against; "
              "resuming with the flags given")
        return
    saved = json.loads(path.read_text())
    given = explicit_dests(parser, argv)
    conflicts = []
    for key, value in saved.items():
        if key in RUNTIME_FLAGS or not hasattr(args, key):
            continue
        if _as_json(getattr(args, key)) == value:
            continue
        if key in given:
            conflicts.append(f"--{key.replace('_', '-')} {_as_json(getattr(args, key))!r} "
                             f"(original {value!r})")
        else:
            setattr(args, key, value)
    if conflicts:
        raise ValueError("--resume continues a sweep with its original settings, and these "
                         f"flags differ from them: {'; '.join(conflicts)}. Drop them, or start "
                         "a new sweep without --resume")
    print(f"resume: with the original settings of {path}")


def _as_json(value):
    return json.loads(json.dumps(value, default=str))


def explicit_dests(parser: argparse.ArgumentParser, argv=None) -> set[str]:
    """The ``dest`` of every option given on the command line (not left at its default)."""
    actions = [(a, a.default) for a in parser._actions]
    defaults = dict(parser._defaults)
    try:
        for a, _ in actions:
            a.default = argparse.SUPPRESS
        parser._defaults.clear()
        given, _ = parser.parse_known_args(argv)
    finally:
        for a, d in actions:
            a.default = d
        parser._defaults.update(defaults)
    return set(vars(given))


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def check_storage_path(path: str) -> str:
    """Return a usable storage path, or raise ValueError before any trial starts.

    Local folders are made absolute, created and probed for writing. Cloud URIs need
    credentials on this machine and a writable bucket (:mod:`imm_ray.storage`).
    """
    if is_uri(path):
        from imm_ray.storage import check_cloud_uri

        return check_cloud_uri(path)
    local = Path(path.removeprefix("file://")).expanduser().resolve()
    try:
        local.mkdir(parents=True, exist_ok=True)
        probe = local / f".imm_ray_write_probe_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"--storage-path {str(local)!r} is not writable: {e}") from e
    return str(local)


def init_ray(args: argparse.Namespace, **kwargs) -> None:
    """Join ``--address`` / ``RAY_ADDRESS`` if given, else start Ray on this machine."""
    import ray

    if ray.is_initialized():
        return
    if args.address:
        ray.init(address=args.address, **kwargs)
    else:
        start_local_ray(**kwargs)


def start_local_ray(**kwargs) -> None:
    """``ray.init(**kwargs)`` of a Ray on this machine that listens on loopback only (no
    dashboard unless asked for)."""
    import ray

    local_ray_on_loopback()
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("_node_ip_address", LOOPBACK)
    ray.init(**kwargs)


def local_ray_on_loopback() -> None:
    """Make a Ray started by this process use 127.0.0.1 only.

    Ray treats a node IP of 127.0.0.1 as "find the outward address" (it opens a socket
    towards a public IP to learn it) and then binds its servers to 0.0.0.0, unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its switch for single-machine Ray. Ray's
    processes inherit the variable; this process read it when ``ray`` was imported, so its
    constant is set too.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def trial_resources(args: argparse.Namespace) -> dict[str, float]:
    """Tune resources per trial; GPUs are dropped (with a notice) when Ray has none."""
    import ray

    gpus = args.gpus_per_trial
    if gpus > 0 and ray.cluster_resources().get("GPU", 0) == 0:
        print(f"notice: --gpus-per-trial={gpus} but the Ray cluster has no GPUs; running on CPU")
        gpus = 0.0
    return {"cpu": args.cpus_per_trial, "gpu": gpus}


def resolve_name(args: argparse.Namespace) -> str:
    """The experiment folder name: ``--name``, a new ``<experiment>_<time>``, or (with
    ``--resume``) the newest ``<experiment>_*`` under the storage path."""
    if args.name:
        return args.name
    if not args.resume:
        return new_name(args.experiment, args.storage_path)
    if is_uri(args.storage_path):
        raise ValueError("--resume with a cloud --storage-path needs --name")
    # Only folders Tune has written its Tuner to: a sweep that died before Tuner.fit leaves
    # an empty reserved folder, which must not hide the older interrupted one.
    found = sorted(p for p in Path(args.storage_path).glob(f"{args.experiment}_*")
                   if (p / "tuner.pkl").is_file())
    if not found:
        raise ValueError(f"--resume: no restorable {args.experiment}_* experiment under "
                         f"{args.storage_path}; pass --name")
    return found[-1].name


def new_name(experiment: str, storage_path: str) -> str:
    """``<experiment>_<YYYY-mm-dd_HH-MM-SS>``, reserved by creating the folder so that two
    sweeps started in the same second get different ones (``..._01``, ``..._02``: the
    fixed-width suffix keeps the newest last in name order, which ``--resume`` relies on).
    """
    base = f"{experiment}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    if is_uri(storage_path):  # object stores have no atomic mkdir; seconds must do
        return base
    for i in range(100):
        name = base if i == 0 else f"{base}_{i:02d}"
        try:
            (Path(storage_path) / name).mkdir(parents=True)
            return name
        except FileExistsError:
            continue
    raise ValueError(f"--name: 100 {experiment} sweeps started in one second under "
                     f"{storage_path}; pass --name")


def experiment_uri(args: argparse.Namespace) -> str:
    """``<storage>/<name>``: where Tune keeps this sweep (after :func:`validate_common`)."""
    return f"{args.storage_path.rstrip('/')}/{args.name}"


def run_tuner(
    trainable: Callable,
    param_space: Mapping[str, Any],
    args: argparse.Namespace,
    *,
    metric: str | None = None,
    mode: str | None = None,
    search_alg=None,
    scheduler=None,
    num_samples: int = 1,
    checkpoint_config=None,
    callbacks: list | None = None,
):
    """Fit a new sweep, or restore ``--resume``'s; returns the ``ResultGrid``.

    Every result gets ``node_id`` (:class:`imm_ray.tune_callbacks.NodeIdCallback`);
    ``callbacks`` adds Tune callbacks to a new sweep (a restored one keeps its own).

    Actors are reused between trials: on a 2-core machine starting a worker per trial
    costs ~3.6 s, reuse makes 100 trivial trials take ~9 s instead of ~180 s. Tune then
    hands a waiting trial to a worker that is already up rather than wait for a new one,
    so sub-second trials all run on the first node whose worker started;
    ``--no-reuse-actors`` spreads them over the cluster.
    """
    from ray import tune

    from imm_ray.tune_callbacks import NodeIdCallback

    path = experiment_uri(args)
    resources = trial_resources(args)
    trainable = tune.with_resources(trainable, resources)
    if args.resume:
        if not tune.Tuner.can_restore(path):
            raise ValueError(f"--resume: nothing to restore at {path}")
        print(f"resuming {path}")
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True,
                                   resume_errored=True, param_space=dict(param_space))
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=dict(param_space),
            tune_config=tune.TuneConfig(
                metric=metric, mode=mode, search_alg=search_alg, scheduler=scheduler,
                num_samples=num_samples, max_concurrent_trials=args.max_concurrent,
                reuse_actors=getattr(args, "reuse_actors", True)),
            run_config=tune.RunConfig(
                name=args.name, storage_path=args.storage_path,
                failure_config=tune.FailureConfig(max_failures=args.max_failures),
                checkpoint_config=checkpoint_config,
                callbacks=[NodeIdCallback(), *(callbacks or [])]),
        )
    print(f"experiment: {path}")
    save_sweep_args(args, path, resources)
    return tuner.fit()


def save_sweep_args(args: argparse.Namespace, path: str, resources: dict) -> None:
    """Write the resolved command-line config beside the results (local storage only):
    ``sweep_args.json`` for a new sweep; a resume writes ``sweep_args_resume.json`` so the
    record of what the results came from is kept."""
    if is_uri(path):
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    record = {**vars(args), "resources_per_trial": resources}
    name = "sweep_args_resume.json" if args.resume else "sweep_args.json"
    Path(path, name).write_text(json.dumps(record, indent=2, default=str))


def trial_device(gpus_per_trial: float):
    """The torch device for a trial: CUDA when it was given a GPU and one is visible; a
    one-line notice when a GPU was asked for but torch sees none."""
    import torch

    if gpus_per_trial > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    if gpus_per_trial > 0:
        print(f"notice: {gpus_per_trial} GPU(s) per trial requested but torch sees no CUDA "
              f"device (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); "
              "running on CPU")
    return torch.device("cpu")


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
        frame.to_parquet(folder / metric_names.ROWS_FILE, index=False)
    if resolved is not None:
        record = dataclasses.asdict(resolved) if dataclasses.is_dataclass(resolved) \
            else dict(resolved)
        (folder / metric_names.RESOLVED_CONFIG_FILE).write_text(
            json.dumps(record, indent=2, default=str))


def print_outputs(results_csv: str | os.PathLike, plots: list[str | os.PathLike]) -> None:
    """The lines every sweep ends with: ``results: <csv>`` and one ``plot: <png>`` each."""
    print(f"results: {results_csv}")
    for p in plots:
        print(f"plot: {p}")


def output_dir(args: argparse.Namespace) -> Path:
    """Local folder for a sweep's CSV and plots: the experiment folder when local, else
    ``./results/<name>`` (cloud storage keeps the Tune results; outputs stay here)."""
    base = Path(DEFAULT_STORAGE).resolve() if is_uri(args.storage_path) else Path(
        args.storage_path)
    out = base / args.name
    out.mkdir(parents=True, exist_ok=True)
    return out
