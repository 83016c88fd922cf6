"""Helpers of the sweep-script tests: import a script from sweeps/ as a module, and check
that bad arguments stop it at parse time, before Ray starts."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def load_script(name: str):
    """``sweeps/<name>.py`` as a module (registered in sys.modules: dataclasses look
    their module up there)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", SWEEPS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def assert_rejected_before_ray(script, argv, message, tmp_path, capsys):
    """``script.parse_args(argv)`` exits 2 with an argparse error matching ``message``
    and Ray is not running."""
    import ray

    with pytest.raises(SystemExit) as exc:
        script.parse_args([*argv, "--storage-path", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and re.search(message, err), err
    assert not ray.is_initialized()
