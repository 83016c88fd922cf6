"""``--resume``: continue a sweep with the settings it was started with.

A new sweep records its resolved flags as ``sweep_args.json`` in its experiment folder
(local or cloud, :mod:`imm_ray.sweep.files`). :func:`parse_sweep_args` reads it back on
``--resume``: every setting that decides what trials compute is taken from it, and a
flag given on the resuming command line that differs from it is refused. Only the
:data:`RUNTIME_FLAGS` (where and how trials run) may change.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from imm_ray.sweep import files
from imm_ray.sweep.expfile import apply_config, config_values
from imm_ray.sweep.flags import (
    check_no_repeats,
    experiment_uri,
    name_flags_in_help,
    validate_common,
)

ARGS_FILE = "sweep_args.json"
RESUME_ARGS_FILE = "sweep_args_resume.json"
RUNTIME_FLAGS = frozenset({"address", "storage_path", "name", "resume", "quick", "max_failures",
                           "max_concurrent", "reuse_actors", "gpus_per_trial",
                           "cpus_per_trial", "verbose", "config"})
"""Flags a ``--resume`` may change: where and how trials run, not what they compute."""


def parse_sweep_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser.parse_args`` plus the shared checks; with ``--resume``, the original run's
    settings (from its ``sweep_args.json``) replace the defaults, and a flag given now that
    differs from the original is refused; a flag given twice is refused. Errors exit
    through ``parser.error``."""
    name_flags_in_help(parser, getattr(parser, "flag_aliases", None))
    try:
        check_no_repeats(parser, argv)
        apply_config(parser, argv)  # the --config file's values become the defaults
    except ValueError as e:
        parser.error(str(e))
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
    path = files.join(experiment_uri(args), ARGS_FILE)
    text = files.read_text(path)
    if text is None:
        print(f"notice: --resume found no {ARGS_FILE} at {path} to check the flags "
              "against; resuming with the flags given")
        return
    saved = json.loads(text)
    given = explicit_dests(parser, argv)
    conflicts = []
    for key, value in saved.items():
        if key in RUNTIME_FLAGS or key.startswith("_") or not hasattr(args, key):
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
    """The ``dest`` of every option given on the command line (not left at its default),
    and every key of its ``--config`` file (set as explicitly as a flag)."""
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
    return set(vars(given)) | set(config_values(parser, argv))


def sweep_record(args: argparse.Namespace, resources: dict) -> str:
    """``sweep_args.json``'s text: every flag (private ``_`` keys left out) and the
    resources each trial asked for."""
    record = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    return json.dumps({**record, "resources_per_trial": resources}, indent=2, default=str)


_DROP = {"--resume": 0, "--name": 1, "--storage-path": 1}


def resume_command(args: argparse.Namespace, argv: list[str] | None = None,
                   script: str | None = None) -> str:
    """The exact command that continues this sweep: the original command line with
    ``--storage-path``, ``--name`` and ``--resume`` set to this experiment's."""
    argv = list(sys.argv[1:] if argv is None else argv)
    kept, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        flag = a.split("=", 1)[0]
        if flag in _DROP:
            skip = 0 if "=" in a else _DROP[flag]
            continue
        kept.append(a)
    script = sys.argv[0] if script is None else script
    return shlex.join(["python", script, *kept, "--storage-path", args.storage_path,
                       "--name", args.name, "--resume"])
