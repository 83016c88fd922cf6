"""The wiring every sweep script shares; ``from imm_ray import sweep`` is its one face.

A sweep script reads top to bottom (config, trainable, Tuner, report); what would
otherwise be copied into each script is imported from here:

- :func:`sweep_parser` / :func:`parse_sweep_args`: ``--address``, ``--storage-path``,
  ``--name``, ``--resume``, ``--quick``, ``--verbose``, ``--gpus-per-trial``,
  ``--cpus-per-trial``, ``--max-failures``, ``--max-concurrent``, ``--no-reuse-actors``;
  pure checks before Ray starts; ``--resume`` with the original run's settings.
- :func:`init_ray`: a loopback-only local Ray (the default; it goes away with the driver,
  even after ``kill -9``) or a cluster via ``--address`` / ``RAY_ADDRESS`` (checked within
  seconds).
- :func:`run_tuner`: a new ``Tuner`` under ``<storage>/<name>``, or ``Tuner.restore`` of
  an interrupted sweep (finished trials are never re-run), with the quiet console; it
  exits non-zero with clean messages when nothing can be summarised.
- :func:`report` (in trials), :func:`trial_errors`, :func:`print_outputs` (the last lines).

One idea per module:

- :mod:`~imm_ray.sweep.flags`: the shared flags and their pure checks (nothing is created).
- :mod:`~imm_ray.sweep.resume`: ``--resume`` with the original run's settings.
- :mod:`~imm_ray.sweep.files`: experiment files on a local folder or a cloud URI (pyarrow.fs).
- :mod:`~imm_ray.sweep.ray_start`: a loopback-only local Ray, or joining ``--address``.
- :mod:`~imm_ray.sweep.reaper`: the local Ray goes away when its driver is SIGKILLed.
- :mod:`~imm_ray.sweep.resources`: per-trial resources some node can actually provide.
- :mod:`~imm_ray.sweep.run`: the Tuner (new or restored), interruption and failed trials.
- :mod:`~imm_ray.sweep.console`: the quiet console (one progress line) and ``--verbose``.
- :mod:`~imm_ray.sweep.trial`: what a trial calls (report, rows, its torch device).
- :mod:`~imm_ray.sweep.progress_board`: a trial's progress inside itself, on the progress line.
- :mod:`~imm_ray.sweep.outputs`: where results go and the lines a sweep ends with.
- :mod:`~imm_ray.sweep.callbacks`: the Tune callbacks (progress line, node ids, Ctrl-C).
"""

from imm_ray.sweep.files import is_uri
from imm_ray.sweep.flags import (
    DEFAULT_STORAGE,
    check_address,
    check_name,
    check_storage_path,
    experiment_uri,
    local_path,
    resolve_name,
    sweep_parser,
    validate_common,
)
from imm_ray.sweep.outputs import output_dir, print_outputs, shutdown_ray_quietly
from imm_ray.sweep.progress_board import progress
from imm_ray.sweep.ray_start import (
    LOOPBACK,
    init_ray,
    local_ray_on_loopback,
    probe_address,
    start_local_ray,
)
from imm_ray.sweep.resources import check_feasible, trial_resources
from imm_ray.sweep.resume import (
    RUNTIME_FLAGS,
    explicit_dests,
    parse_sweep_args,
    resume_command,
    use_original_settings,
)
from imm_ray.sweep.run import (
    describe_error,
    fail,
    finished_rows,
    reserve_experiment,
    run_tuner,
    save_sweep_args,
    trial_errors,
)
from imm_ray.sweep.trial import NoGPUError, report, trial_device, write_trial_files

__all__ = [
    "DEFAULT_STORAGE", "LOOPBACK", "RUNTIME_FLAGS", "NoGPUError", "check_address",
    "check_feasible", "check_name", "check_storage_path", "describe_error",
    "experiment_uri", "explicit_dests", "fail", "local_path", "init_ray", "is_uri",
    "local_ray_on_loopback",
    "output_dir", "parse_sweep_args", "print_outputs", "probe_address", "progress", "report",
    "reserve_experiment", "resolve_name", "resume_command", "run_tuner", "save_sweep_args",
    "shutdown_ray_quietly", "start_local_ray", "sweep_parser", "trial_device",
    "finished_rows", "trial_errors", "trial_resources", "use_original_settings", "validate_common",
    "write_trial_files",
]
