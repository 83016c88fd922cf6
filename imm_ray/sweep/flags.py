"""The flags every sweep shares and their checks, all before Ray starts.

:func:`validate_common` is pure: it reads (does a storage folder exist and accept files,
does ``--resume`` find an experiment) but creates nothing; the experiment folder is
reserved by the run step (:func:`imm_ray.sweep.run.reserve_experiment`). Every error is
a ValueError that names the flag and the allowed values.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from imm_ray.checks import check_real
from imm_ray.sweep import files
from imm_ray.sweep.files import is_uri

DEFAULT_STORAGE = "results"
TUNER_FILE = "tuner.pkl"
"""What Tune writes into an experiment folder when a sweep starts (what makes it
restorable)."""


def sweep_parser(description: str, experiment: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every sweep shares; scripts add their own."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.set_defaults(experiment=experiment)
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
    p.add_argument("--no-reuse-actors", dest="reuse_actors", action="store_false",
                   help="a fresh worker process per trial (4-6 s each on 2 cores): short "
                        "trials then spread over a cluster's nodes instead of queueing on "
                        "the first worker that is up")
    return p


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
