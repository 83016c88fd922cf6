"""The repository's promises: CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_ci_runs_exactly_the_readme_test_command():
    ci_last = (ROOT / ".ci/run").read_text().strip().splitlines()[-1].strip()
    test_cmds = [c for c in readme_commands() if "pytest" in c]
    assert test_cmds, "README has no test command"
    assert test_cmds[0].split("&&")[-1].strip() == ci_last
    assert "pip install torch==2.13.0" in test_cmds[0]


def test_ci_installs_the_cpu_torch_before_the_project():
    ci = (ROOT / ".ci/run").read_text()
    assert ci.index("torch==2.13.0") < ci.index("-e '.[dev]'")


def python_blocks():
    return re.findall(r"```python\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_own_loop_example_runs_learns_and_says_so(capsys):
    """The README's plain-loop example prints the losses it shows (main falling below
    ln 2), and the serialized-gradient block runs pasted after it, as the README says."""
    loop, serialized = python_blocks()[:2]
    assert serialized.startswith("# fragment: paste after the loop above")
    ns: dict = {}
    exec(compile(loop, "README-loop", "exec"), ns)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("step   1: main loss 0.") and len(printed) == 5
    assert ns["imm"].item() < 0.6 and ns["main"].item() < 0.6  # ln 2 = 0.69 untrained
    exec(compile(serialized, "README-serialized", "exec"), ns)
    assert capsys.readouterr().out.startswith("serialized: main loss 0.")
    assert all(p.isfinite().all() for p in ns["model"].parameters())
    assert ns["main"].item() < 0.6
