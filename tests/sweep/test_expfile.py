"""``--config exp.yaml`` / ``.json`` on the shared sweep parser, and ``--track``'s checks:
all before Ray starts (no Ray here)."""

import argparse
import json
import re

import pytest

from imm_ray import sweep
from imm_ray.sweep import expfile, flags


def parser():
    p = sweep.sweep_parser("demo sweep. More text.", "demo")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--imm-lambdas", type=float, nargs="+", default=[0.5])
    return p


def parse(tmp_path, *argv):
    return sweep.parse_sweep_args(parser(), [*map(str, argv), "--storage-path", str(tmp_path)])


def test_a_yaml_file_sets_flags_and_flags_beside_it_win(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("seeds: 7\nimm-lambdas: [0.1, 0.2]\nmax_failures: 0\n")
    args = parse(tmp_path, "--config", cfg)
    assert (args.seeds, args.imm_lambdas, args.max_failures) == (7, [0.1, 0.2], 0)
    args = parse(tmp_path, "--config", cfg, "--seeds", "2")
    assert args.seeds == 2 and args.imm_lambdas == [0.1, 0.2]
    assert {"seeds", "imm_lambdas", "max_failures"} <= sweep.explicit_dests(
        parser(), ["--config", str(cfg)])


def test_a_json_file_works_the_same(tmp_path):
    cfg = tmp_path / "exp.json"
    cfg.write_text(json.dumps({"seeds": 5}))
    assert parse(tmp_path, "--config", cfg).seeds == 5


@pytest.mark.parametrize("text,message", [
    ("sedes: 4\n", r"unknown key 'sedes'; did you mean 'seeds' \(--seeds\)\?"),
    ("imm_lambda: [1]\n", r"did you mean 'imm_lambdas' \(--imm-lambdas\)"),
    ("- 1\n- 2\n", "must hold a mapping of flag: value, got list"),
    ("seeds: [1\n", "does not parse"),
])
def test_bad_files_are_one_line_errors_naming_the_key(tmp_path, capsys, text, message):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(text)
    with pytest.raises(SystemExit) as e:
        parse(tmp_path, "--config", cfg)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--config" in err and re.search(message, err), err


def test_a_missing_file_names_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse(tmp_path, "--config", tmp_path / "nope.yaml")
    err = capsys.readouterr().err
    assert "--config" in err and "nope.yaml': no such file" in err


def test_config_text_round_trips_through_the_parser(tmp_path):
    args = parse(tmp_path, "--seeds", "4", "--imm-lambdas", "0.3", "0.6")
    args.name = "demo_x"
    saved = tmp_path / "config.yaml"
    saved.write_text(expfile.config_text(args, "sweeps/demo.py"))
    assert "--config <this file>" in saved.read_text()
    again = parse(tmp_path, "--config", saved)
    for key in ("seeds", "imm_lambdas", "max_failures", "reuse_actors", "track"):
        assert getattr(again, key) == getattr(args, key), key


def test_track_needs_its_package_and_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(flags.TRACK_PACKAGES, "mlflow", "no_such_module_xyz")
    with pytest.raises(SystemExit):
        parse(tmp_path, "--track", "mlflow")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("--track mlflow needs the no_such_module_xyz package: "
                        "pip install -e '.[tracking]'")
    with pytest.raises(SystemExit):
        parse(tmp_path, "--track", "tensorflow")
    assert "invalid choice: 'tensorflow'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(tmp_path, "--track-uri", "http://127.0.0.1:5000")
    assert "pass --track mlflow with it" in capsys.readouterr().err


def test_help_shows_each_default_once_and_the_choices(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in out and "(default: as resources allow)" in out
    assert "--reuse-actors, --no-reuse-actors" in out and "default: True)" in out
    assert "tensorboard, mlflow, wandb" in out and "demo sweep. More text." in out


def test_help_names_flags_not_fields():
    p = argparse.ArgumentParser()
    p.add_argument("--token-budget", type=int, help="tokens")
    p.add_argument("--epochs", type=int, help="if token_budget is 0; see imm_lambda")
    flags.name_flags_in_help(p, {"imm_lambda": "--imm-lambdas"})
    assert p._actions[-1].help == "if --token-budget is 0; see --imm-lambdas"


def test_path_flags_take_home_and_relative_paths(tmp_path, monkeypatch):
    """Trials run in their own folders: a path flag is made absolute (and ~ expanded)
    before Ray starts; URIs and "" stay as they are."""
    import numpy as np
    import pandas as pd

    from imm_ray.experiments.lambda_vs_n.cli import parse_args

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sweep.local_path("~/a/b") == str(tmp_path / "a" / "b")
    assert sweep.local_path("rel") == str(tmp_path / "rel")
    assert sweep.local_path("s3://b/x") == "s3://b/x" and sweep.local_path("") == ""
    g = np.random.default_rng(0)
    x = g.normal(size=(400, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x.sum(1) > 0).astype(int)}).to_csv(
        tmp_path / "t.csv", index=False)
    for given in ("~/t.csv", "t.csv"):
        args, _ = parse_args(["--dataset", given, "--target", "y", "--restricted", "a",
                              "--quick", "--storage-path", str(tmp_path / "runs")])
        assert args.dataset == str(tmp_path / "t.csv")
