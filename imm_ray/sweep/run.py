"""Run a sweep: reserve its folder, fit a new Tuner or restore ``--resume``'s, and end
cleanly when trials failed or the sweep was interrupted.

:func:`run_tuner` returns the ``ResultGrid`` only when there is something to summarise:

- errors before fitting (no node can run a trial, ...): ``error: ...`` on stderr, exit 2;
- every trial failed: each trial's error as one clean line (:func:`trial_errors`), exit 1;
- a trial failed with a non-finite value (``NonFiniteLossError``): its error, exit 1, and
  no summary (a table without that trial would look plausible and be wrong);
- interrupted (Ctrl-C: Tune stops gracefully and ``fit()`` returns): what finished, that
  the results are partial, and the exact command that resumes it; exit 130. No script
  goes on to print a partial CSV as ``results:``.

When some trials failed, their errors are printed and the grid is returned; scripts
summarise the rest and exit non-zero.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imm_ray.sweep import files
from imm_ray.sweep.console import (
    INTERRUPTED,
    UNFINISHED_AT_INTERRUPT,
    quiet_console,
    tune_verbosity,
)
from imm_ray.sweep.expfile import save_config
from imm_ray.sweep.flags import experiment_uri
from imm_ray.sweep.resources import trial_resources
from imm_ray.sweep.resume import ARGS_FILE, RESUME_ARGS_FILE, resume_command, sweep_record

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
NON_FINITE = "NonFiniteLossError"
"""The exception (:class:`imm_ray.core.NonFiniteLossError`) of a trial that met a NaN/inf."""
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def trial_dirname(trial) -> str:
    """``<trainable>_<trial id>``: Tune's default appends the whole config (over 150
    characters for a grid of dicts); the config is in each trial's ``params.json``."""
    return f"{trial.trainable_name}_{trial.trial_id}"


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
    """Fit a new sweep under ``<storage>/<name>``, or restore ``--resume``'s (finished
    trials are never re-run); returns the ``ResultGrid`` (see the module doc for exits).

    Every result gets ``node_id`` (:class:`imm_ray.sweep.callbacks.NodeIdCallback`);
    ``callbacks`` adds Tune callbacks to a new sweep (a restored one keeps its own).

    Actors are reused between trials: on a 2-core machine starting a worker per trial
    costs ~3.6 s, reuse makes 100 trivial trials take ~9 s instead of ~180 s. Tune then
    hands a waiting trial to a worker that is already up rather than wait for a new one,
    so sub-second trials all run on the first node whose worker started;
    ``--no-reuse-actors`` spreads them over the cluster.
    """
    from ray import tune

    try:
        resources = trial_resources(args)
        reserve_experiment(args, resources)
        if not args.resume:
            save_config(args)
    except ValueError as e:
        fail(str(e))
    path = experiment_uri(args)
    trainable = tune.with_resources(trainable, resources)
    if args.resume:
        print(f"resuming {path}")
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True,
                                   resume_errored=True, param_space=dict(param_space))
    else:
        tuner = tune.Tuner(trainable, param_space=dict(param_space), tune_config=tune.TuneConfig(
            metric=metric, mode=mode, search_alg=search_alg, scheduler=scheduler,
            num_samples=num_samples, max_concurrent_trials=args.max_concurrent,
            reuse_actors=getattr(args, "reuse_actors", True),
            trial_dirname_creator=trial_dirname),
            run_config=run_config(args, checkpoint_config, callbacks))
    print(f"experiment: {path}", flush=True)
    INTERRUPTED.clear()
    UNFINISHED_AT_INTERRUPT.clear()
    try:
        with quiet_console(getattr(args, "verbose", False)):
            grid = tuner.fit()
        check_finished(grid, args)
    except KeyboardInterrupt:  # a second Ctrl-C: Tune restored Python's handler
        interrupted_again(args)
    return grid


def interrupted_again(args: argparse.Namespace):
    """The second Ctrl-C: no traceback, exit 130 with the command that continues."""
    from imm_ray.sweep.callbacks import close_bars

    close_bars()
    print(f"\ninterrupted again: Tune's final save was skipped; the trials and checkpoints "
          f"already written are in {experiment_uri(args)} and these results are PARTIAL. "
          f"Continue the sweep with:\n  {resume_command(args)}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_INTERRUPTED)


def run_config(args, checkpoint_config=None, callbacks=None):
    from ray import tune

    from imm_ray.sweep.callbacks import InterruptCallback, NodeIdCallback, ProgressCallback
    from imm_ray.sweep.tracking import tracking_callbacks

    return tune.RunConfig(
        name=args.name, storage_path=args.storage_path,
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=checkpoint_config,
        verbose=tune_verbosity(getattr(args, "verbose", False)),
        callbacks=[NodeIdCallback(), ProgressCallback(), InterruptCallback(), *(callbacks or []),
                   *tracking_callbacks(args)])


def fail(message: str, code: int = EXIT_USAGE):
    """Print ``error: <message>`` on stderr and exit (2: a setting no trial can run with)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def reserve_experiment(args: argparse.Namespace, resources: dict) -> str:
    """Create the experiment folder by writing its ``sweep_args.json`` (the resolved flags);
    returns the name. A generated name taken by a sweep started in the same second gets a
    fixed-width suffix (``..._01``; atomic on local storage), which ``args.name`` then
    holds; a resume writes ``sweep_args_resume.json`` and keeps the original record."""
    if args.resume or getattr(args, "_name_given", True):
        save_sweep_args(args, experiment_uri(args), resources)
        return args.name
    base = args.name
    for i in range(100):
        args.name = base if i == 0 else f"{base}_{i:02d}"
        target = files.join(experiment_uri(args), ARGS_FILE)
        if files.create_exclusive(target, sweep_record(args, resources)):
            return args.name
    raise ValueError(f"--name: 100 sweeps named {base}* under {args.storage_path}; pass --name")


def save_sweep_args(args: argparse.Namespace, path: str, resources: dict) -> None:
    """Write the resolved command-line config beside the results (local or cloud):
    ``sweep_args.json`` for a new sweep; a resume writes ``sweep_args_resume.json`` so the
    record of what the results came from is kept."""
    name = RESUME_ARGS_FILE if args.resume else ARGS_FILE
    files.write_text(files.join(path, name), sweep_record(args, resources))


def check_finished(grid, args: argparse.Namespace) -> None:
    """Exit 130 if the sweep was interrupted, 1 if every trial failed; print the errors."""
    total, errors, finished = len(grid), grid.num_errors, finished_count(grid)
    unfinished = total - finished - errors
    if errors:
        print(f"{errors} of {total} trial(s) failed:", file=sys.stderr)
        for line in trial_errors(grid):
            print(f"  {line}", file=sys.stderr)
        print(f"  (full tracebacks: error.txt in each trial's folder under "
              f"{experiment_uri(args)})", file=sys.stderr)
    if INTERRUPTED.is_set() or unfinished:
        print(f"interrupted: {finished} of {total} trial(s) finished, {errors} failed, "
              f"{unfinished} stopped or not started (trials the search had not created "
              f"yet are not counted). Nothing is lost (trials and checkpoints are in "
              f"{experiment_uri(args)}), but these results are PARTIAL, so no summary was "
              f"written. Continue the sweep with:\n  {resume_command(args)}",
              file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if total and errors == total:
        fail("every trial failed; nothing to summarise", EXIT_FAILED)
    non_finite = [r for r in grid if r.error is not None and is_non_finite(r.error)]
    if non_finite:
        fail(f"{len(non_finite)} trial(s) produced a non-finite value (NaN or inf in a "
             "loss, return or metric); no summary, schedule or reference points are "
             "printed from this sweep, since they would silently leave those trials out. "
             "Fix the setting named above and run it again", EXIT_FAILED)


def finished_count(grid) -> int:
    """Trials that finished: Tune's TERMINATED count, less the trials a Ctrl-C stopped
    (Tune marks them TERMINATED too; they were unfinished when it came and their last
    result is not ``done``)."""
    stopped = sum(r.error is None and not (r.metrics or {}).get("done")
                  and (r.metrics or {}).get("trial_id") in UNFINISHED_AT_INTERRUPT
                  for r in grid)
    return max(0, grid.num_terminated - stopped)


def finished_rows(result_grid, args: argparse.Namespace, columns, sort_by):
    """Every finished trial's rows (:func:`imm_ray.analysis.load_rows`) as a DataFrame of
    ``columns`` sorted by ``sort_by``; a failed trial is first named in one warning line.
    No trial has rows yet: exits with the command that continues the sweep."""
    from imm_ray import analysis

    for line in trial_errors(result_grid):
        print(f"warning: trial failed: {line}")
    try:
        rows = analysis.load_rows(result_grid)
    except ValueError as e:
        raise SystemExit(f"no results yet ({e}); continue with: {resume_command(args)}") from e
    return rows[list(columns)].sort_values(list(sort_by), ignore_index=True)


def is_non_finite(error: BaseException) -> bool:
    """Whether a trial's error (Ray's wrapper or the original) is a NaN/inf stop."""
    cause = getattr(error, "cause", None)
    from imm_ray.core import NonFiniteLossError

    return isinstance(error, NonFiniteLossError) or isinstance(cause, NonFiniteLossError) \
        or NON_FINITE in _ANSI.sub("", str(error))


def trial_errors(result_grid) -> list[str]:
    """One line per failed trial: ``<trial folder>: <ExceptionType>: <message>``, the
    original exception from inside the trial (not Ray's wrapper), ANSI colours stripped."""
    lines = []
    for result in result_grid:
        if result.error is not None:
            where = Path(result.path).name if result.path else "trial"
            lines.append(f"{where}: {describe_error(result.error)}")
    return lines


def describe_error(error: BaseException, limit: int = 500) -> str:
    """``"ValueError: lr must be > 0"`` for the exception a trial raised; Ray wraps it in a
    ``RayTaskError(ValueError)`` whose text is a coloured traceback."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        text = f"{type(cause).__name__}: {cause}"
    else:  # no original exception object: the traceback's last line names it
        lines = [ln.strip() for ln in _ANSI.sub("", str(error)).splitlines() if ln.strip()]
        text = lines[-1] if lines else type(error).__name__
        if ":" not in text:
            text = f"{type(error).__name__}: {text}"
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
