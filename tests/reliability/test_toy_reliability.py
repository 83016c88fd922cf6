"""Hostile input to the lambda-vs-n experiment (toy and tables): every bad value is
rejected where it enters, naming its flag, before Ray starts; numpy / 0-d tensor scalars
are accepted or their type is named; repeated grid values are refused; a resume keeps the
original settings; random shapes work as documented or raise ValueError."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imm_ray import core
from imm_ray.checks import as_float, as_int
from imm_ray.experiments.lambda_vs_n import cli
from imm_ray.experiments.lambda_vs_n.config import (
    CellConfig,
    LambdaSweepConfig,
    ToyConfig,
    cell_config,
)
from imm_ray.experiments.lambda_vs_n.trainable import cached_table
from imm_ray.restricted.frequency_table import FrequencyTableRestricted
from imm_ray.tabular.config import FitConfig, TabularConfig
from imm_ray.tabular.data import fingerprint, load_table


def parse_error(argv, tmp_path, capsys) -> str:
    """The argparse error of ``argv`` (exit status 2), checking Ray never started."""
    import ray

    with pytest.raises(SystemExit) as exc:
        cli.parse_args([*argv, "--storage-path", str(tmp_path)])
    assert exc.value.code == 2
    assert not ray.is_initialized()
    return capsys.readouterr().err


@pytest.fixture
def csv(tmp_path):
    g = np.random.default_rng(0)
    x = g.standard_normal(80)
    pd.DataFrame({"x": x, "z": x + g.standard_normal(80), "c": g.choice(["a", "b"], 80),
                  "y": (x > 0).astype(int)}).to_csv(tmp_path / "t.csv", index=False)
    return str(tmp_path / "t.csv")


@pytest.mark.parametrize("argv,message", [
    (["--tol", "inf"], r"--tol must be a finite number in \(0, 0.01\], got inf"),
    (["--tol", "nan"], r"--tol must be a finite number in \(0, 0.01\], got nan"),
    (["--tol", "0.5"], r"--tol must be a finite number in \(0, 0.01\]"),
    (["--tol", "0"], r"--tol must be a finite number in \(0, 0.01\]"),
    (["--l2", "nan"], r"--l2 must be a finite number in \[0, 100\]"),
    (["--l2=-inf"], r"--l2 must be a finite number in \[0, 100\]"),
    (["--max-iters", "0"], r"--max-iters must be an integer in \[1, 100000\]"),
    (["--max-pairs", "0"], "--max-pairs must be an integer"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--epochs", "0"], "--epochs must be an integer"),
    (["--hidden", "0"], "--hidden must be an integer"),
    (["--model", "forest"], r"--model: invalid choice: 'forest' \(choose from 'linear', 'mlp'\)"),
    (["--weights", "0", "nan", "1"], "--weights must be a finite number"),
    (["--weights", "1"], "--weights needs at least 3 numbers"),
    (["--rho", "nan"], r"--rho must be a finite number in \(-1, 1\)"),
    (["--label-noise", "inf"], r"--label-noise must be a finite number in \[0, 0.5\)"),
    (["--valid-size", "0"], "--valid-size must be an integer"),
    (["--num-bins", "0"], "--num-bins must be an integer"),
    (["--quadrature-nodes", "0"], "--quadrature-nodes must be an integer"),
    (["--ratios", "nan"], r"--ratios must be a finite number in \[0, 1\)"),
    (["--ratios", "0.5", "1"], r"--ratios must be a finite number in \[0, 1\), got 1.0"),
    (["--sizes", "1", "5"], r"--sizes must be an integer >= 2, got 1"),
    (["--seeds", "0"], r"--seeds must be an integer in \[1, 100000\]"),
    (["--methods", "imm", "dropout"], r"--methods: invalid choice: 'dropout'"),
    (["--search", "random"], "--search: invalid choice: 'random'"),
    (["--optuna-max-ratio", "1"], r"--optuna-max-ratio must be a finite number in \(0, 1\)"),
    (["--optuna-trials", "0"], "--optuna-trials must be an integer"),
])
def test_bad_toy_and_fit_values_stop_before_ray(argv, message, tmp_path, capsys):
    assert re.search(message, parse_error(argv, tmp_path, capsys))


@pytest.mark.parametrize("argv,message", [
    (["--sizes", "4", "4"], r"--sizes must not repeat a value; \[4\] repeated"),
    (["--ratios", "0.2", "0.2"], "--ratios must not repeat a value"),
    (["--ratios", "0.5", "0.50"], "--ratios must not repeat a value"),
    (["--methods", "none", "none"], "--methods must not repeat a value"),
])
def test_repeated_grid_values_are_refused(argv, message, tmp_path, capsys):
    assert re.search(message, parse_error(argv, tmp_path, capsys))


@pytest.mark.parametrize("extra,message", [
    (["--restricted", "x", "x"], "--restricted must not repeat a value"),
    (["--restricted", "x", "--drop-columns", "c", "c"], "--drop-columns must not repeat"),
    (["--restricted", "x", "--sizes", "70"], r"--sizes \[70\]: more training rows than"),
    (["--restricted", "x", "--sizes", "4", "--num-neighbours", "6"],
     "--num-neighbours 6 is more than the n = 4 training rows"),
    (["--restricted", "nope"], r"--restricted: \['nope'\] not among the columns"),
    (["--restricted", "y"], "--restricted: 'y' is the --target column"),
    (["--restricted", "x", "z", "c"], "covers every feature column"),
    (["--restricted", "x", "--restricted-kind", "frequency"],
     "--restricted-kind frequency needs discrete restricted columns"),
    (["--restricted", "x", "--induced", "groups"], "--induced groups needs discrete"),
    (["--restricted", "x", "--aux-fraction", "0.01"], "--aux-fraction 0.01 leaves 0 rows"),
    ([], "--dataset needs --restricted"),
])
def test_bad_table_flags_stop_before_ray(extra, message, csv, tmp_path, capsys):
    err = parse_error(["--dataset", csv, "--target", "y", *extra], tmp_path, capsys)
    assert re.search(message, err), err


def test_missing_and_changed_dataset_files_are_named(csv, tmp_path, capsys):
    err = parse_error(["--dataset", str(tmp_path / "gone.csv"), "--target", "y",
                       "--restricted", "x"], tmp_path, capsys)
    assert f"--dataset: no file at '{tmp_path / 'gone.csv'}'" in err
    cfg = TabularConfig(dataset=csv, target="y", restricted=("x",))
    sha = fingerprint(csv)
    table_json = json.dumps({k: list(v) if isinstance(v, tuple) else v
                             for k, v in vars(cfg).items()})
    assert cached_table(table_json, sha).values.shape == (80, 3)
    with open(csv, "a") as f:
        f.write("0.1,0.2,a,1\n")
    cached_table.cache_clear()
    with pytest.raises(ValueError, match="changed since the sweep started"):
        cached_table(table_json, sha)
    (tmp_path / "empty.csv").write_text("x,z,c,y\n")
    with pytest.raises(ValueError, match="has no rows"):
        load_table(tmp_path / "empty.csv", cfg)


@pytest.mark.parametrize("value", [np.float32(0.01), np.float64(0.01), torch.tensor(0.01),
                                   np.array(0.01), 0.01])
def test_numpy_and_0d_tensor_scalars_are_accepted(value):
    assert FitConfig(l2=value).l2 == pytest.approx(0.01)
    assert ToyConfig(rho=value).rho == pytest.approx(0.01)
    assert TabularConfig(aux_fraction=value).aux_fraction == pytest.approx(0.01)
    assert LambdaSweepConfig(ratios=(value, 0.5)).ratios[0] == pytest.approx(0.01)
    assert type(FitConfig(l2=value).l2) is float


def test_integer_scalars_are_accepted_and_wrong_types_named():
    cell = CellConfig("imm", np.int64(8), torch.tensor(3), (np.float32(0.5),), FitConfig(),
                      toy=ToyConfig())
    assert (cell.n, cell.seeds, type(cell.n)) == (8, 3, int)
    assert FitConfig(max_iters=np.int32(7)).max_iters == 7
    for call, message in [
        (lambda: FitConfig(l2="0.1"), "--l2 must be a finite number .* got str '0.1'"),
        (lambda: FitConfig(max_iters=2.5), "--max-iters must be an integer .* got float 2.5"),
        (lambda: FitConfig(tol=True), "--tol must be a finite number .* got bool True"),
        (lambda: FitConfig(max_iters=torch.tensor([3, 4])), "--max-iters must be an integer"),
        (lambda: ToyConfig(weights="0 1"), "--weights must be a list of numbers"),
        (lambda: LambdaSweepConfig(seeds=np.float64(2.5)), "--seeds must be an integer"),
        (lambda: TabularConfig(restricted=(3,)), "--restricted must be column names"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()


def test_a_trial_config_with_unknown_or_bad_keys_is_refused():
    base = {"method": "imm", "n": 8, "seeds": 2, "ratios": [0.5], "fit": {},
            "toy": {}, "table": None}
    assert cell_config(base).toy == ToyConfig()
    with pytest.raises(ValueError, match=r"unknown cell config keys \['lam'\]"):
        cell_config({**base, "lam": 1})
    with pytest.raises(ValueError, match=r"unknown FitConfig fields \['l3'\]"):
        cell_config({**base, "fit": {"l3": 1}})
    with pytest.raises(ValueError, match="exactly one of the toy or a table"):
        cell_config({**base, "toy": None})


def test_resume_keeps_the_original_settings_and_refuses_conflicting_flags(tmp_path, capsys):
    first, _ = cli.parse_args(["--quick", "--sizes", "8", "32", "--name", "lambda_vs_n_x",
                               "--storage-path", str(tmp_path)])
    record = {**vars(first)}
    (tmp_path / "lambda_vs_n_x").mkdir(exist_ok=True)
    (tmp_path / "lambda_vs_n_x" / "sweep_args.json").write_text(json.dumps(record))
    (tmp_path / "lambda_vs_n_x" / "tuner.pkl").write_text("")  # Tune started in it
    again, run = cli.parse_args(["--resume", "--name", "lambda_vs_n_x",
                                 "--storage-path", str(tmp_path)])
    assert run.sweep.sizes == (8, 32) and run.sweep.seeds == 10 and run.toy.test_size == 5000
    assert "resume: with the original settings" in capsys.readouterr().out
    err = parse_error(["--resume", "--name", "lambda_vs_n_x", "--seeds", "3"], tmp_path,
                      capsys)
    assert "--resume continues a sweep with its original settings" in err and "--seeds" in err


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                 st.text(max_size=3), st.booleans(), st.none()))
def test_scalar_checks_return_a_value_in_range_or_name_the_setting(value):
    try:
        out = as_float("--x", value, 0.0, 1.0, high_open=True)
    except ValueError as e:
        assert str(e).startswith("--x must be a finite number in [0, 1)")
    else:
        assert isinstance(out, float) and 0.0 <= out < 1.0
    try:
        k = as_int("--k", value, 1, 3)
    except ValueError as e:
        assert str(e).startswith("--k must be an integer in [1, 3]")
    else:
        assert isinstance(k, int) and 1 <= k <= 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=0, max_size=3), st.integers(1, 3))
def test_frequency_table_queries_of_any_shape_work_or_raise_value_error(shape, columns):
    g = torch.Generator().manual_seed(0)
    model = FrequencyTableRestricted(torch.randint(3, (20, columns), generator=g).double(),
                                     torch.randint(2, (20,), generator=g), 2)
    query = torch.randint(3, tuple(shape), generator=g).double()
    try:
        p = model.probs(query)
    except ValueError as e:
        assert "restricted_contexts" in str(e)
        assert len(shape) != 2 or shape[1] != columns
    else:
        assert len(shape) == 2 and shape[1] == columns and p.shape == (shape[0], 2)
        core.check_probs(p, "probs")
