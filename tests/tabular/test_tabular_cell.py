"""A table's cells end to end: rows, the restricted and induced models each seed uses,
held-out rows that never train anything, a user's own restricted model, the in-process
runner."""

import numpy as np
import pandas as pd
import pytest
import torch

from imm_ray.experiments.lambda_vs_n import local
from imm_ray.restricted.frequency_table import FrequencyTableRestricted
from imm_ray.restricted.logistic import LogisticRestricted
from imm_ray.tabular.cell import cell_data, check_grid, restricted_kind, train_table_cell
from imm_ray.tabular.config import FitConfig, TabularConfig
from imm_ray.tabular.data import load_table
from imm_ray.tabular.splits import split_rows, split_sizes
from imm_ray.tabular.trainer import ROW_FIELDS

FIT = FitConfig(l2=0.01)


def frame(rows=120, seed=0, classes=3):
    g = np.random.default_rng(seed)
    x = g.standard_normal(rows)
    colour = g.choice(["red", "green", "blue"], rows)
    z = 2 * x + (colour == "red") + g.standard_normal(rows)
    label = np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1]))
    return pd.DataFrame({"x": x, "x2": x + 0.5 * g.standard_normal(rows), "colour": colour,
                         "level": (x > 0).astype(int), "y": label})


def cfg(**kw):
    return TabularConfig(**{"dataset": "t.csv", "target": "y", "restricted": ("x",), **kw})


def test_a_cell_has_every_row_and_the_restricted_model_of_each_seed():
    c = cfg()
    table = load_table(frame(), c)
    rows, stats = train_table_cell(table, c, FIT, "none", 12, range(3), [0.0, 0.5, 0.9])
    df = pd.DataFrame(rows)
    assert list(df.columns) == list(ROW_FIELDS)
    assert df.groupby("method").size().to_dict() == {"none": 3, "interpolate": 9,
                                                     "restricted": 3}
    assert stats["models"] == 3 and stats["all_converged"]
    assert df[["test_log_loss", "valid_log_loss", "test_accuracy"]].notna().all().all()
    imm, _ = train_table_cell(table, c, FIT, "imm", 12, range(3), [0.0, 0.5, 0.9])
    imm = pd.DataFrame(imm)
    assert imm.seed.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and imm.converged.all()
    # ratio 0 of every method is the baseline fit
    assert np.allclose(imm[imm.ratio == 0].test_log_loss, df[df.method == "none"].test_log_loss)
    assert "3 classes; restricted model logistic on ['x'] (aux rows); induced model " \
           "neighbours" in check_grid(table, c, [12])


def test_held_out_rows_never_train_the_full_or_the_restricted_model():
    c = cfg()
    df = frame()
    sp = split_rows(split_sizes(len(df), c), 0)
    poisoned = df.copy()
    held = np.r_[sp.test.numpy(), sp.valid.numpy()]
    poisoned.loc[held, ["x", "x2"]] *= 100.0
    poisoned.loc[held, "y"] = 2 - poisoned.loc[held, "y"]
    for method in ("imm", "noising", "reverse_kd"):
        a = pd.DataFrame(train_table_cell(load_table(df, c), c, FIT, method, 16, [0],
                                          [0.5])[0])
        b = pd.DataFrame(train_table_cell(load_table(poisoned, c), c, FIT, method, 16, [0],
                                          [0.5])[0])
        assert a.train_objective.tolist() == pytest.approx(b.train_objective.tolist(), abs=1e-12)
        assert a.test_log_loss.tolist() != pytest.approx(b.test_log_loss.tolist(), abs=1e-3)


def test_frequency_table_user_model_and_train_source():
    c = cfg(restricted=("level",))
    table = load_table(frame(), c)
    assert restricted_kind(table, c) == "frequency"
    data = cell_data(table, c, 10, range(2))
    aux = split_rows(split_sizes(len(table.y), c), 1).aux
    fitted = FrequencyTableRestricted(table.restricted_values(aux), table.y[aux], 3)
    test = split_rows(split_sizes(len(table.y), c), 1).test
    assert torch.allclose(data.test.restricted_probs[1],
                          fitted.probs(table.restricted_values(test)))
    assert restricted_kind(table, cfg(restricted=("level",), restricted_kind="logistic")) == \
        "logistic"
    with pytest.raises(ValueError, match="--restricted-kind frequency needs discrete"):
        restricted_kind(load_table(frame(), cfg()), cfg(restricted_kind="frequency"))

    class Uniform:
        num_classes = 3

        def probs(self, values):
            return torch.full((len(values), 3), 1 / 3, dtype=torch.float64)

    own = cell_data(table, c, 10, range(2), restricted_model=Uniform())
    assert torch.allclose(own.train.restricted_probs, torch.full((2, 10, 3), 1 / 3,
                                                                 dtype=torch.float64))
    same = cfg(restricted=("x",), restricted_source="train")
    t2 = load_table(frame(), same)
    rows = split_rows(split_sizes(len(t2.y), same), 0).train(10)
    (expected,) = LogisticRestricted.fit_batch(t2.restricted_values(rows).unsqueeze(0),
                                               t2.y[rows].unsqueeze(0), [t2.columns[0]], 3,
                                               same.restricted_l2)
    got = cell_data(t2, same, 10, [0]).train.restricted_probs[0]
    assert torch.allclose(got, expected.probs(t2.restricted_values(rows)), atol=1e-12)


def test_a_bad_user_restricted_model_is_named():
    c = cfg()
    table = load_table(frame(), c)

    class TwoClasses:
        num_classes = 2

        def probs(self, values):
            return torch.full((len(values), 2), 0.5)

    class BadRows:
        num_classes = 3

        def probs(self, values):
            return torch.full((len(values), 3), 0.5, dtype=torch.float64)

    with pytest.raises(ValueError, match="user-supplied restricted model has num_classes=2"):
        cell_data(table, c, 10, [0], restricted_model=TwoClasses())
    with pytest.raises(ValueError, match="restricted model probs must sum to 1"):
        cell_data(table, c, 10, [0], restricted_model=BadRows())
    with pytest.raises(ValueError, match="must have `num_classes` and `probs"):
        cell_data(table, c, 10, [0], restricted_model=object())


def test_in_process_runner_on_a_dataframe_with_a_categorical_column(capsys):
    rows = local.run_table(frame(), cfg(restricted=("x", "colour")), sizes=(6, 20),
                           ratios=(0.0, 0.9), methods=("imm", "none"), seeds=3,
                           fit=FIT, progress=False)
    keys = set(zip(rows.method, rows.ratio, rows.n, rows.seed, strict=True))
    assert len(keys) == len(rows) == 2 * 2 * 3 + 2 * 3 + 2 * 2 * 3 + 2 * 3
    assert set(rows.method) == {"imm", "none", "interpolate", "restricted"}
    with pytest.raises(ValueError, match=r"--sizes \[500\]: more training rows than the 36"):
        local.run_table(frame(), cfg(), sizes=(500,), progress=False)


def test_the_mlp_runs_every_method_on_a_table():
    fit = FitConfig(model="mlp", hidden=4, epochs=40, lr=0.05, l2=0.01)
    rows = local.run_table(frame(), cfg(restricted=("x", "colour")), sizes=(10,),
                           ratios=(0.0, 0.9), seeds=2, fit=fit, progress=False)
    assert set(rows.method) == {"none", "imm", "reverse_kd", "noising", "interpolate",
                                "restricted"}
    assert rows.test_log_loss.notna().all() and (rows[rows.method == "imm"].iterations == 40).all()
    imm = rows[(rows.method == "imm") & (rows.ratio == 0.0)].test_log_loss.to_numpy()
    none = rows[rows.method == "none"].test_log_loss.to_numpy()
    assert np.allclose(imm, none, atol=1e-6)  # same start per seed, same objective at r = 0
