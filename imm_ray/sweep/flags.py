"""The flags every sweep shares and their checks, all before Ray starts.

:func:`validate_common` is pure: it reads (does a storage folder exist and accept files,
does ``--resume`` find an experiment) but creates nothing; the experiment folder is
reserved by the run step (:func:`imm_ray.sweep.run.reserve_experiment`). Every error is
a ValueError that names the flag and the allowed values.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from imm_ray.checks import check_real
from imm_ray.sweep import files
from imm_ray.sweep.files import is_uri

DEFAULT_STORAGE = "results"
TUNER_FILE = "tuner.pkl"
"""What Tune writes into an experiment folder when a sweep starts (what makes it
restorable)."""


TRACKERS = ("tensorboard", "mlflow", "wandb")
"""``--track`` choices: Tune's logger callbacks (:mod:`imm_ray.sweep.tracking`)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` as a reader expects it: the script's docstring as written, each flag's
    default once (not when its text already gives one, nor ``None`` or an on/off flag's
    ``False``), and the allowed values of a flag with fixed choices."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.choices is not None and not all(str(c) in text for c in action.choices):
            text += f" (one of: {', '.join(map(str, action.choices))})"
        default = action.default
        flag_only = (argparse._StoreTrueAction, argparse._StoreFalseAction)
        quiet = (default is None or default is argparse.SUPPRESS or default is False
                 or default == "" or (isinstance(default, (list, tuple)) and not default)
                 or isinstance(action, flag_only))
        if "%(default)" in text or "default:" in text or quiet or not action.option_strings:
            return text
        if isinstance(default, (list, tuple)):  # as it is typed: --ratios 0.0 0.5
            shown = " ".join(map(str, default)).replace("%", "%%")
            return f"{text} (default: {shown})"
        return f"{text} (default: %(default)s)"


def sweep_parser(description: str, experiment: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every sweep shares; scripts add their own.

    ``description``: the script's docstring; ``--help`` shows its first paragraph whole."""
    summary = textwrap.fill(" ".join(description.strip().split("\n\n")[0].split()), 88)
    p = argparse.ArgumentParser(description=summary, formatter_class=HelpFormatter)
    p.set_defaults(experiment=experiment)
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a YAML or JSON file of settings, keyed by flag name without the "
                        "dashes (max-failures: 3); flags given beside it win. Every run saves its "
                        "resolved settings as config.yaml in its experiment folder, and "
                        "--config <that file> reruns it")
    p.add_argument("--track", nargs="+", choices=TRACKERS, default=[], metavar="TOOL",
                   help=f"log every trial (config and metrics) to one or more of "
                        f"{', '.join(TRACKERS)} through Tune's callbacks (needs pip install "
                        "-e '.[tracking]'); files go under the storage path, W&B runs "
                        "offline unless you are logged in")
    p.add_argument("--track-uri", default=None, metavar="URI",
                   help="MLflow tracking URI, e.g. http://host:5000 or file:/path/mlruns "
                        "(default: a local store, sqlite:///<storage-path>/mlflow.db)")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster to join, host:port, ray://host:port or auto (also "
                        "RAY_ADDRESS); unset: start a loopback-only Ray on this machine")
    p.add_argument("--storage-path", default=os.environ.get("IMM_RAY_STORAGE", DEFAULT_STORAGE),
                   help="local folder or cloud URI (s3://, gs://) for Tune results (also "
                        "IMM_RAY_STORAGE); checked before Ray starts")
    p.add_argument("--name", default=None,
                   help=f"experiment folder under the storage path, one folder name (default: "
                        f"the sweep's prefix and the time, e.g. {experiment}_<time>; with "
                        "--resume, the newest folder with that prefix that Tune started in)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep with its original settings "
                        "(Tuner.restore); finished trials are not re-run")
    p.add_argument("--quick", action="store_true", help="small preset, under a minute on CPU")
    p.add_argument("--verbose", action="store_true",
                   help="Tune's full console output (trial tables, Ray and trial logs) "
                        "instead of one progress line")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial (fractional allowed); 0 runs on CPU")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial")
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a failed trial (from its last checkpoint)")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="cap on trials running at once (default: as resources allow)")
    p.add_argument("--reuse-actors", default=True, action=argparse.BooleanOptionalAction,
                   help="reuse a trial's worker process for the next trial; "
                        "--no-reuse-actors starts a fresh one per trial (4-6 s each on 2 "
                        "cores), so short trials spread over a cluster's nodes instead of "
                        "queueing on the first worker that is up")
    return p


def local_path(value: str) -> str:
    """A path flag's value as trials can use it: ``~`` expanded and made absolute (Tune
    runs each trial in its own folder, where a relative path means something else);
    ``""`` and URIs (``s3://...``) unchanged."""
    if not value or is_uri(str(value)):
        return value
    return os.path.abspath(os.path.expanduser(str(value).removeprefix("file://")))


def name_flags_in_help(parser: argparse.ArgumentParser, aliases: dict | None = None) -> None:
    """Help texts written from field docstrings name fields (``token_budget``); rewrite
    each that is a flag of this parser as the flag (``--token-budget``). ``aliases`` maps
    other names to a flag (``{"imm_lambda": "--imm-lambdas"}``)."""
    import re

    names = {a.dest: a.option_strings[0] for a in parser._actions
             if a.option_strings and "_" in a.dest and a.option_strings[0].startswith("--")}
    names.update(aliases or {})
    pattern = re.compile(r"(?<![\w\-/.])(" + "|".join(map(re.escape, sorted(
        names, key=len, reverse=True))) + r")(?![\w/])") if names else None
    for action in parser._actions:
        if pattern and action.help and action.help is not argparse.SUPPRESS:
            action.help = pattern.sub(lambda m: names[m.group(1)], action.help)


def validate_common(args: argparse.Namespace) -> None:
    """Check the shared flags before Ray starts; raise ValueError naming the flag.

    Normalises ``args`` in place (absolute storage path, the experiment name, the
    address) and creates nothing.
    """
    check_real(args.gpus_per_trial, "--gpus-per-trial", low=0.0)
    check_real(args.cpus_per_trial, "--cpus-per-trial", low=0.0, low_open=True)
    check_real(args.max_failures, "--max-failures", low=0, integer=True)
    if args.max_concurrent is not None:
        check_real(args.max_concurrent, "--max-concurrent", low=1, integer=True)
    args.address = check_address(getattr(args, "address", None))
    args.storage_path = check_storage_path(args.storage_path)
    given = getattr(args, "_name_given", args.name is not None)
    if args.name is not None:
        check_name(args.name)
    args.name = resolve_name(args)
    args._name_given = given  # the run step may add a suffix to a generated name only
    check_experiment_folder(args)
    check_trackers(args)


TRACK_EXTRA = "pip install -e '.[tracking]'"
TRACK_PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
"""The module each tracker needs (all in the ``tracking`` extra)."""


def check_trackers(args: argparse.Namespace) -> None:
    """Raise ValueError naming ``--track``, the missing package and the extra; checks
    ``--track-uri`` is only given with mlflow. Nothing is imported."""
    for tool in getattr(args, "track", None) or []:
        module = TRACK_PACKAGES[tool]
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"--track {tool} needs the {module} package: {TRACK_EXTRA}")
    if getattr(args, "track_uri", None) and "mlflow" not in (args.track or []):
        raise ValueError("--track-uri is MLflow's tracking URI: pass --track mlflow with it")


def check_name(name: str) -> str:
    """``--name`` must be one folder name: it is created under the storage path, so
    ``../x``, ``a/b``, ``.``, ``..`` and the empty name are refused."""
    bad = (not isinstance(name, str) or not name.strip() or name in (".", "..")
           or any(sep in name for sep in ("/", "\\", "\0")))
    if bad:
        raise ValueError(f"--name {name!r} must be a single folder name (no '/', '\\' or NUL; "
                         "not '.', '..' or empty): it is created under --storage-path")
    return name


def check_address(address: str | None) -> str | None:
    """``--address``: None (start Ray here), ``auto``, ``host:port`` or
    ``ray://host:port``; returns it stripped (``local`` and ``""`` mean None)."""
    if address is None or not str(address).strip() or str(address).strip() == "local":
        return None
    address = str(address).strip()
    if address == "auto":
        return address
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"--address {address!r} must be host:port (e.g. 127.0.0.1:6379), "
                         "ray://host:port or auto")
    return address


def check_storage_path(path: str) -> str:
    """Return a usable storage path, or raise ValueError before any trial starts.

    Local folders are made absolute; the folder, or its nearest existing parent, must be
    a writable folder (nothing is created here). Cloud URIs need credentials on this
    machine and a writable bucket (:mod:`imm_ray.storage` writes and deletes a probe).
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"--storage-path must be a folder or a storage URI, got {path!r} "
                         "(an empty path would write the experiment into the current folder)")
    if is_uri(path):
        from imm_ray.storage import check_cloud_uri

        return check_cloud_uri(path)
    local = Path(path.removeprefix("file://")).expanduser().resolve()
    probe = local
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"--storage-path {str(local)!r} is not writable: {probe} is a file, "
                         "not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--storage-path {str(local)!r} is not writable: no write permission "
                         f"on {probe}")
    try:  # access() says yes for root everywhere, also in /proc or a read-only mount
        tempfile.TemporaryDirectory(dir=probe, prefix=".imm_ray_probe_").cleanup()
    except OSError as e:
        raise ValueError(f"--storage-path {str(local)!r} is not writable: cannot create a "
                         f"folder in {probe} ({e.strerror or e})") from None
    return str(local)


def resolve_name(args: argparse.Namespace) -> str:
    """The experiment folder name: ``--name``, a new ``<experiment>_<time>``, or (with
    ``--resume``) the newest ``<experiment>_*`` under the storage path that Tune started
    in (local or cloud)."""
    if args.name:
        return args.name
    if not args.resume:
        return f"{args.experiment}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    # Only folders Tune has written its Tuner to: a sweep that died before Tuner.fit leaves
    # a reserved folder, which must not hide the older interrupted one.
    found = [n for n in files.subfolders(args.storage_path, f"{args.experiment}_")
             if files.is_file(files.join(args.storage_path, n, TUNER_FILE))]
    if not found:
        raise ValueError(f"--resume: no restorable {args.experiment}_* experiment under "
                         f"{args.storage_path}; pass --name")
    return found[-1]  # names end in a sortable time (and a fixed-width _NN suffix)


def check_experiment_folder(args: argparse.Namespace) -> None:
    """``--resume`` needs an experiment Tune started; a new sweep with an explicit
    ``--name`` must not write into one (its trials would mix with the old ones)."""
    path = experiment_uri(args)
    started = files.is_file(files.join(path, TUNER_FILE))
    if args.resume and not started:
        raise ValueError(f"--resume: nothing to restore at {path} (no {TUNER_FILE}: Tune never "
                         "started there)")
    if not args.resume and args._name_given and started:
        raise ValueError(f"--name {args.name}: {path} already holds an experiment; pass "
                         "--resume to continue it, or choose another --name")


def experiment_uri(args: argparse.Namespace) -> str:
    """``<storage>/<name>``: where Tune keeps this sweep (after :func:`validate_common`)."""
    return files.join(args.storage_path, args.name)


def check_no_repeats(parser: argparse.ArgumentParser, argv=None) -> None:
    """Raise ValueError naming a flag given more than once (argparse would keep the last
    silently). Aliases of one flag count together; ``append`` / ``count`` flags, which
    exist to repeat, and anything after ``--`` are not counted."""
    seen: dict[str, list[str]] = {}
    for token in sys.argv[1:] if argv is None else argv:
        if token == "--":
            break
        action = parser._option_string_actions.get(token.split("=", 1)[0])
        if action is None or isinstance(action, (argparse._AppendAction,
                                                 argparse._CountAction)):
            continue
        seen.setdefault(action.dest, []).append(token.split("=", 1)[0])
    for flags in seen.values():
        if len(flags) > 1:
            raise ValueError(f"{flags[0]} is given {len(flags)} times ({' '.join(flags)}); "
                             "give each flag once")
