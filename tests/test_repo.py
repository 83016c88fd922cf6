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


def test_readme_own_loop_example_runs_and_learns():
    """The README's plain-loop example, then the same loop with the serialized gradient
    substituted for the imm lines, as the README tells a user to do."""
    loop, serialized = python_blocks()[:2]
    ns: dict = {}
    exec(compile(loop, "README-loop", "exec"), ns)
    assert ns["imm"].item() < 0.6 and ns["main"].item() < 0.6  # ln 2 = 0.69 untrained
    head = loop.split("    imm = core.imm_loss")[0]
    body = "".join("    " + line + "\n" for line in serialized.splitlines())
    ns2: dict = {}
    exec(compile(head + body, "README-serialized", "exec"), ns2)
    model = ns2["model"]
    assert all(p.isfinite().all() for p in model.parameters())
    assert ns2["main"].item() < 0.6
