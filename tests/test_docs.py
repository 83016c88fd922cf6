"""The docs are true: every ```python block of README.md and docs/*.md runs as-is in a fresh
process from the repository root, and every file, image or link they name exists.

A block whose first line is ``# fragment: ...`` is part of the block before it (the README's
serialized-gradient lines); tests/test_repo.py runs it spliced into that block. Blocks that
start Ray (a Tune sweep, an RLlib algorithm, a script run) are marked slow.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SLOW_HINTS = ("sweeps/", "Tuner", "build_algo", "subprocess", "ray.init", "run_sweep",
              "local.run")
PATH_RE = re.compile(r"`((?:imm_ray|envs|sweeps|benchmarks|tests|docs)/[\w./-]+\.(?:py|md|png"
                     r"|json|yaml))`")


def python_blocks():
    out = []
    for page in PAGES:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
        for i, code in enumerate(blocks):
            if code.startswith("# fragment:"):
                continue
            slow = any(h in code for h in SLOW_HINTS)
            out.append(pytest.param(code, id=f"{page.relative_to(ROOT)}#{i}",
                                    marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("code", python_blocks())
def test_python_block_runs(code):
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_and_links_exist(page):
    text = page.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):  # markdown links/images
        if "://" not in target and not (page.parent / target).exists():
            missing.append(target)
    for path in PATH_RE.findall(text):  # `imm_ray/x.py`-style names in the text
        if not (ROOT / path).exists() and "<" not in path:
            missing.append(path)
    assert not missing, f"{page.name} names files that do not exist: {sorted(set(missing))}"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in PAGES[1:] if f"docs/{p.name}" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"
