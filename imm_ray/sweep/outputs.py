"""Where a sweep's own outputs go, and the lines it ends with."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

from imm_ray.sweep.files import is_uri
from imm_ray.sweep.flags import DEFAULT_STORAGE


def print_outputs(results_csv: str | os.PathLike, plots: list[str | os.PathLike]) -> None:
    """The lines every sweep ends with: ``results: <csv>`` and one ``plot: <png>`` each.

    Ray is shut down first (quietly), so no Ray log line comes after them.
    """
    shutdown_ray_quietly()
    print(f"results: {results_csv}")
    for p in plots:
        print(f"plot: {p}")


def shutdown_ray_quietly() -> None:
    """``ray.shutdown()`` with whatever it prints at exit (deduplicated trial log lines)
    swallowed; a no-op when Ray is not running in this process."""
    import sys

    if "ray" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ray.shutdown()


def output_dir(args: argparse.Namespace) -> Path:
    """Local folder for a sweep's CSV and plots: the experiment folder when local, else
    ``./results/<name>`` (cloud storage keeps the Tune results; outputs stay here)."""
    base = Path(DEFAULT_STORAGE).resolve() if is_uri(args.storage_path) else Path(
        args.storage_path)
    out = base / args.name
    out.mkdir(parents=True, exist_ok=True)
    keep_matplotlib_out_of_home(out)
    return out


def keep_matplotlib_out_of_home(out: Path) -> None:
    """Matplotlib writes a font cache to ``~/.cache/matplotlib`` (and makes
    ``~/.config/matplotlib``) on first use. When the user has neither (and no
    ``MPLCONFIGDIR``), point it at ``<out>/.matplotlib`` instead, so a sweep creates
    nothing in the home folder; an existing matplotlib setup there is used as it is."""
    if "MPLCONFIGDIR" in os.environ:
        return
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"
    if not config.exists() and not cache.exists():
        os.environ["MPLCONFIGDIR"] = str(out / ".matplotlib")
