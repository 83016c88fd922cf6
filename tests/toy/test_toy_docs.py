"""Every ```python block of the lambda-vs-n docs pages runs as-is in a fresh process from
the repository root; blocks that start a Tune sweep are marked slow."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("docs/lambda_vs_n.md", "docs/tabular.md")


def blocks():
    out = []
    for page in PAGES:
        text = (ROOT / page).read_text()
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
            slow = "sweeps/lambda_vs_n.py" in code
            out.append(pytest.param(code, id=f"{page}#{i}",
                                    marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("code", blocks())
def test_docs_python_block_runs(code):
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_docs_plots_and_schedules_are_committed():
    for page in PAGES:
        for name in re.findall(r"\]\(([\w.]+\.png)\)", (ROOT / page).read_text()):
            assert (ROOT / "docs" / name).stat().st_size > 10_000, name
    assert (ROOT / "docs" / "lambda_vs_n_schedules.json").is_file()
