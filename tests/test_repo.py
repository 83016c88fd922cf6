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
