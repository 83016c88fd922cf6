"""configs/: one experiment file per README headline run. Each parses with its sweep's
own checks (every trial's config validated, no Ray), and names the command that runs it."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def sweep_module(name: str):
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", REPO / "sweeps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def parse(script: str, path: Path, tmp_path):
    argv = ["--config", str(path), "--storage-path", str(tmp_path / "runs")]
    if script == "lambda_vs_n":
        from imm_ray.experiments.lambda_vs_n.cli import parse_args

        return parse_args(argv)[0]
    if script == "lm_ptb":
        from imm_ray.experiments.lm_ptb.sweep_args import parse_args

        data = tmp_path / "data"
        data.mkdir()
        for split in ("train", "valid", "test"):
            (data / f"ptb.{split}.txt").write_text(" a b c \n b c a \n")
        return parse_args("lm", [*argv, "--data-dir", str(data)])[0]
    if script == "lm_transformers":
        from imm_ray.experiments.lm_transformers.cli import build_parser, parse_args
        from imm_ray.sweep.expfile import config_values

        config_values(build_parser("lm"), argv)  # every key is a flag, without transformers
        pytest.importorskip("transformers")
        from imm_ray.lm.data import default_data_dir

        if not (default_data_dir() / "ptb.train.txt").is_file():
            pytest.skip("no PTB corpus on this machine")
        return parse_args("lm", argv)[0]
    return sweep_module(script).parse_args(argv)[0]


def test_every_headline_run_has_a_file_and_the_readme_names_the_folder():
    names = {p.stem for p in CONFIGS}
    assert {"lambda_vs_n", "tabular_breast_cancer", "rl_gridworld", "rl_restricted_view",
            "lm_ptb_cpu_same", "lm_ptb_cpu_full", "lm_transformers"} <= names
    assert "configs/" in (REPO / "README.md").read_text()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_file_parses_with_its_sweep(path, tmp_path):
    command = re.search(r"python sweeps/(\w+)\.py --config configs/" + re.escape(path.name),
                        path.read_text())
    assert command, f"{path.name} names no command"
    args = parse(command.group(1), path, tmp_path)
    from imm_ray.sweep.expfile import read_config_file

    for key, value in read_config_file(str(path)).items():
        got = getattr(args, key)
        assert list(got) == value if isinstance(value, list) else got == value, key
