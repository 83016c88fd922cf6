"""The house rules, read from the import statements (ast, imports inside functions too):
no import cycle in ``imm_ray`` or ``envs``; nothing outside ``imm_ray/experiments/`` imports
an experiment, and no experiment imports another; ``imm_ray/core.py`` imports only torch,
the standard library and its ground floor (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("imm_ray", "envs")
EXPERIMENTS = "imm_ray.experiments"
CORE_MAY_IMPORT = {"imm_ray.checks", "imm_ray.schedules"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}


def imported_names(path: Path, name: str) -> set[str]:
    """Every module an ``import`` / ``from ... import`` in ``path`` names (absolute form;
    ``from pkg import sub`` names ``pkg.sub``, ``from mod import attr`` names ``mod``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports. ``from pkg import sub`` counts as an edge to
    ``pkg.sub`` only, and a package's ``__init__`` re-exporting its own children is no edge
    (the issue's rule); every other edge to a package is an edge to its ``__init__``."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        names = imported_names(path, name)
        edges = {n for n in names if n in modules}
        # ``from pkg import sub``: keep pkg.sub, drop pkg when only submodules were named
        for n in list(edges):
            children = {m for m in names if m.startswith(n + ".") and m in modules}
            attrs = {m for m in names if m.startswith(n + ".") and m not in modules
                     and m.count(".") == n.count(".") + 1}
            if children and not attrs and n not in _plain_imports(path):
                edges.discard(n)
        if path.name == "__init__.py":
            edges = {e for e in edges if not e.startswith(name + ".")}
        graph[name] = edges - {name}
    return graph


def _plain_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
            for a in node.names}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None (iterative DFS)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                path.append(nxt)
    return None


def experiment_of(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:3]) if module.startswith(EXPERIMENTS + ".") and len(parts) > 2 \
        else None


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, edges in graph.items():
        for dep in edges:
            if not dep.startswith(EXPERIMENTS):
                continue
            if not mod.startswith(EXPERIMENTS):
                bad.append(f"library module {mod} imports experiment module {dep}")
            elif experiment_of(dep) not in (None, experiment_of(mod)):
                bad.append(f"experiment module {mod} imports another experiment's {dep}")
    return bad


GRAPH = import_graph(project_modules())


def test_there_is_no_import_cycle():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_library_never_imports_an_experiment_and_experiments_never_import_each_other():
    assert layering_violations(GRAPH) == []


def test_core_imports_only_torch_the_standard_library_and_its_ground_floor():
    names = imported_names(ROOT / "imm_ray" / "core.py", "imm_ray.core")
    top = {n.split(".")[0] for n in names}
    third_party = {t for t in top if t not in sys.stdlib_module_names and t != "imm_ray"}
    assert third_party <= {"torch"}, third_party
    project = {n for n in names if n.startswith("imm_ray")} - {"imm_ray"}
    assert {n for n in project if n in project_modules()} <= CORE_MAY_IMPORT


def test_every_experiment_is_a_folder_with_its_own_parts():
    root = ROOT / "imm_ray" / "experiments"
    folders = sorted(p.name for p in root.iterdir() if (p / "__init__.py").exists())
    assert {"lambda_vs_n", "lm_ptb", "rl_gridworld", "rl_restricted_view"} <= set(folders)
    for name in folders:
        files = {p.stem for p in (root / name).glob("*.py")}
        assert "report" in files and ("trainable" in files), (name, sorted(files))


def test_sweep_scripts_are_thin():
    """Scripts are top-to-bottom drivers; their logic lives in the package."""
    for script in (ROOT / "sweeps").glob("*.py"):
        assert len(script.read_text().splitlines()) < 250, script.name


# ------------------------------------------------------------- the checker checks itself


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return {module_name(root / rel, root): root / rel for rel in files}


def test_the_checker_finds_a_lazy_cycle_and_an_upward_import(tmp_path):
    mods = _write(tmp_path, {
        "imm_ray/__init__.py": "",
        "imm_ray/a.py": "def f():\n    from imm_ray import b\n",
        "imm_ray/b.py": "from imm_ray.a import f\n",
        "imm_ray/experiments/__init__.py": "",
        "imm_ray/experiments/x/__init__.py": "",
        "imm_ray/experiments/x/report.py": "from imm_ray.experiments.y import trainable\n",
        "imm_ray/experiments/y/__init__.py": "",
        "imm_ray/experiments/y/trainable.py": "",
        "imm_ray/c.py": "import imm_ray.experiments.y.trainable\n",
    })
    graph = import_graph(mods)
    assert find_cycle(graph) in (["imm_ray.a", "imm_ray.b", "imm_ray.a"],
                                 ["imm_ray.b", "imm_ray.a", "imm_ray.b"])
    bad = layering_violations(graph)
    assert any("library module imm_ray.c" in b for b in bad)
    assert any("another experiment" in b for b in bad)


@pytest.mark.parametrize("init", ["from imm_ray.p import child\n",
                                  "from imm_ray.p.child import thing\n", "from . import child\n"])
def test_a_package_re_exporting_its_children_is_no_cycle(tmp_path, init):
    mods = _write(tmp_path, {
        "imm_ray/__init__.py": "",
        "imm_ray/p/__init__.py": init,
        "imm_ray/p/child.py": "from imm_ray.p import other\nthing = 1\n",
        "imm_ray/p/other.py": "",
    })
    assert find_cycle(import_graph(mods)) is None


def test_every_module_imports_on_its_own():
    """The ast rules miss one hazard: a package ``__init__`` that imports a child which
    imports back a name the ``__init__`` has not defined yet. Import each module first, in a
    fresh interpreter where only third-party modules stay loaded between tries."""
    import subprocess

    names = sorted(n for n in project_modules() if n.split(".")[0] in PACKAGES)
    code = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        f"failed = []\nfor name in {names!r}:\n"
        "    for m in [m for m in sys.modules if m.split('.')[0] in ('imm_ray', 'envs')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except Exception as e:\n        failed.append(f'{name}: {e!r}')\n"
        "print('\\n'.join(failed))\nsys.exit(1 if failed else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
