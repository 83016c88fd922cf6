"""Tables: loading and cleaning, every bad input named, encodings fitted on training rows
only, splits that never overlap, and the induced models against brute force."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from imm_ray.tabular import induced
from imm_ray.tabular.config import TabularConfig
from imm_ray.tabular.data import Column, load_table
from imm_ray.tabular.encoding import design, fit_stats
from imm_ray.tabular.splits import split_rows, split_sizes


def frame(rows=60, seed=0):
    g = np.random.default_rng(seed)
    x = g.standard_normal(rows)
    return pd.DataFrame({
        "age": x, "income": 2 * x + g.standard_normal(rows),  # depends on age
        "colour": g.choice(["red", "green", "blue"], rows),
        "count": g.integers(0, 4, rows),
        "label": np.where(x + g.standard_normal(rows) > 0, "yes", "no")})


def cfg(**kw):
    return TabularConfig(**{"dataset": "x.csv", "target": "label", "restricted": ("age",), **kw})


def test_csv_tsv_parquet_and_dataframe_load_alike(tmp_path):
    df = frame()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    df.to_parquet(tmp_path / "t.parquet", index=False)
    tables = [load_table(src, cfg()) for src in
              (df, tmp_path / "t.csv", str(tmp_path / "t.tsv"), tmp_path / "t.parquet")]
    for t in tables[1:]:
        assert torch.allclose(t.values, tables[0].values) and torch.equal(t.y, tables[0].y)
    t = tables[0]
    assert t.classes == ("no", "yes") and t.num_classes == 2
    assert t.names == ["age", "income", "colour", "count"]
    colour = t.columns[2]
    assert colour.kind == "categorical" and colour.categories == ("blue", "green", "red")
    assert t.values[:, 2].tolist() == [colour.categories.index(v) for v in df.colour]
    assert t.columns[3].discrete and not t.columns[0].discrete
    assert t.restricted_index == [0] and t.extra_index == [1, 2, 3]


def test_missing_rows_are_dropped_with_a_count_or_refused(capsys):
    df = frame()
    df.loc[[3, 7], "income"] = np.nan
    df.loc[7, "colour"] = None
    df.loc[9, "label"] = np.nan
    t = load_table(df, cfg())
    assert len(t.y) == 57 and t.dropped_rows == 3
    assert "dropped 3 of 60 rows with missing values" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--missing error: 3 of 60 rows have missing values"):
        load_table(df, cfg(missing="error"))
    assert not torch.isnan(t.values).any()


def test_bundled_tables_need_no_download():
    t = load_table("sklearn:breast_cancer", TabularConfig(
        dataset="sklearn:breast_cancer", target="target", restricted=("worst perimeter",)))
    assert t.values.shape == (569, 30) and t.num_classes == 2
    w = load_table("sklearn:wine", TabularConfig(dataset="sklearn:wine", target="target",
                                                 restricted=("alcohol",)))
    assert w.num_classes == 3


@pytest.mark.parametrize("change,message", [
    (dict(target="nope"), r"--target: \['nope'\] not among the columns"),
    (dict(restricted=("age", "height")), r"--restricted: \['height'\] not among the columns"),
    (dict(drop_columns=("zip",)), r"--drop-columns: \['zip'\] not among"),
    (dict(restricted=("age", "income", "colour", "count")),
     "covers every feature column: nothing is left"),
    (dict(restricted=("age",), drop_columns=("income", "colour", "count")),
     "covers every feature column"),
])
def test_bad_columns_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        load_table(frame(), cfg(**change))


@pytest.mark.parametrize("edit,message", [
    (lambda df: df.assign(label="yes"), r"--target 'label' has a single class \['yes'\]"),
    (lambda df: df.assign(label=np.arange(len(df)) * 0.5),
     "--target 'label' has 60 distinct values, more than --max-categories 20"),
    (lambda df: df.assign(colour=[f"c{i}" for i in range(len(df))]),
     r"column 'colour' is non-numeric \(\w+\) with 60 distinct values.*cannot be one-hot"),
    (lambda df: df.assign(income=df.income.where(df.index != 4, np.inf)),
     "column 'income' has infinite values in 1 rows"),
    (lambda df: df.assign(income=np.nan), "every row has a missing value"),
])
def test_bad_values_are_named(edit, message):
    with pytest.raises(ValueError, match=message):
        load_table(edit(frame()), cfg())


def test_bad_files_are_named(tmp_path):
    missing = tmp_path / "nothere.csv"
    with pytest.raises(ValueError, match=f"--dataset: no file at '{missing}'"):
        load_table(missing, cfg())
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type '.xlsx'"):
        load_table(tmp_path / "t.xlsx", cfg())
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="--dataset: cannot read"):
        load_table(tmp_path / "bad.parquet", cfg())
    with pytest.raises(ValueError, match="the bundled tables are"):
        load_table("sklearn:digits_online", cfg())


@pytest.mark.parametrize("kw,message", [
    (dict(target=""), "--dataset needs --target"),
    (dict(restricted=()), "--dataset needs --restricted"),
    (dict(restricted=("label",)), "--restricted: 'label' is the --target column"),
    (dict(restricted=("age", "age")), "--restricted must not repeat a value"),
    (dict(drop_columns=("label",)), "--drop-columns: 'label' is the --target column"),
    (dict(test_fraction=0.6, valid_fraction=0.35), "must be < 0.9"),
    (dict(aux_fraction=1.0), r"--aux-fraction must be a finite number in \[0, 0.9\]"),
    (dict(induced="knn"), "--induced must be one of"),
    (dict(smoothing=0), r"--smoothing must be a finite number in \(0"),
    (dict(num_neighbours=-1), "--num-neighbours must be an integer >= 0"),
])
def test_bad_table_settings_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        cfg(**kw)


def test_numeric_columns_are_standardised_on_the_fitting_rows_only():
    cols = [Column("a", "numeric"), Column("b", "categorical", ("x", "y", "z")),
            Column("c", "numeric")]
    values = torch.tensor([[[1.0, 0, 5], [3.0, 2, 5], [5.0, 1, 5]]], dtype=torch.float64)
    mean, std = fit_stats(values, cols)
    d = design(values, cols, mean, std)[0]
    assert d.shape == (3, 1 + 1 + 3 + 1)
    assert torch.allclose(d[:, 0], torch.ones(3, dtype=torch.float64))
    expected = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) * math.sqrt(1.5)
    assert torch.allclose(d[:, 1], expected, atol=1e-12)
    assert d[:, 2:5].tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert d[:, 5].tolist() == [0.0, 0.0, 0.0]  # constant column: centred, scale 1
    other = torch.tensor([[[100.0, 1, 7]]], dtype=torch.float64)  # a held-out row
    assert design(other, cols, mean, std)[0, 0, 1].item() == pytest.approx(97 / math.sqrt(8 / 3))


@pytest.mark.parametrize("source,aux", [("aux", 0.5), ("aux", 0.0), ("train", 0.5)])
def test_splits_never_overlap_and_training_sets_are_nested(source, aux):
    c = cfg(restricted_source=source, aux_fraction=aux)
    sizes = split_sizes(100, c)
    assert (sizes.test, sizes.valid) == (25, 15)
    assert sizes.aux == (30 if source == "aux" and aux else 0)
    for seed in range(5):
        sp = split_rows(sizes, seed)
        parts = [set(sp.test.tolist()), set(sp.valid.tolist()), set(sp.aux.tolist()),
                 set(sp.pool.tolist())]
        assert sum(map(len, parts)) == 100 and set().union(*parts) == set(range(100))
        for n in (2, 10, sizes.max_n(c)):
            train, fitted_on = set(sp.train(n).tolist()), set(sp.restricted_rows(n, c).tolist())
            assert train <= parts[3] and not fitted_on & (parts[0] | parts[1])
            assert fitted_on == train if source == "train" else not fitted_on & train
            assert sp.train(n).tolist() == sp.pool[:n].tolist()
        assert torch.equal(split_rows(sizes, seed).pool, sp.pool)  # a pure function of seed
    assert not torch.equal(split_rows(sizes, 0).test, split_rows(sizes, 1).test)


def test_groups_and_neighbours_against_brute_force():
    values = torch.tensor([[[0.0], [1.0], [0.0], [2.0], [1.0]]], dtype=torch.float64)
    w = induced.groups(values).weights[0]
    for i in range(5):
        same = [j for j in range(5) if values[0, j, 0] == values[0, i, 0]]
        assert w[i].tolist() == [1 / len(same) if j in same else 0.0 for j in range(5)]
    pts = torch.randn(2, 9, 3, dtype=torch.float64)
    idx = induced.neighbours(pts, 4).index
    for s in range(2):
        for i in range(9):
            d = [(float((pts[s, i] - pts[s, j]).norm()), j) for j in range(9)]
            assert idx[s, i].tolist() == [j for _, j in sorted(d)[:4]]
            assert idx[s, i, 0] == i


def test_auto_induced_model_follows_the_data():
    df = frame(200)
    df["noise"] = np.random.default_rng(5).standard_normal(200)
    table = lambda **kw: load_table(df, cfg(**kw))
    assert induced.choose(table(restricted=("age",)), cfg()) == "neighbours"  # income ~ age
    only_noise = cfg(restricted=("noise",), drop_columns=("income", "age"))
    assert induced.max_correlation(load_table(df, only_noise)) < 0.3
    assert induced.choose(load_table(df, only_noise), only_noise) == "pool"
    df["level"] = (df.age > 0).astype(int)  # discrete, correlated with age and income
    grouped = cfg(restricted=("level",))
    assert induced.choose(load_table(df, grouped), grouped) == "groups"
    with pytest.raises(ValueError, match="--induced groups needs discrete restricted columns"):
        induced.choose(table(), cfg(induced="groups"))
    assert [induced.num_neighbours(cfg(), n) for n in (2, 10, 12, 40, 41)] == [2, 10, 10, 20, 21]
    with pytest.raises(ValueError, match="--num-neighbours 12 is more than the n = 10"):
        induced.num_neighbours(cfg(num_neighbours=12), 10)


def test_large_neighbourhoods_are_subsampled_per_seed():
    pts = torch.randn(2, 40, 1, dtype=torch.float64)
    raw = pts.clone()
    design_r = torch.cat([torch.ones(2, 40, 1, dtype=torch.float64), pts], -1)
    full = induced.build("neighbours", raw, design_r, cfg(induced_samples=0), [0, 1])
    assert full.index.shape == (2, 40, 20)  # k = max(ceil(40 / 2), min(40, 10))
    some = induced.build("neighbours", raw, design_r, cfg(induced_samples=8), [0, 1])
    assert some.index.shape == (2, 40, 8) and some.weights is None
    for s in range(2):
        for i in range(40):
            picked = some.index[s, i].tolist()
            assert len(set(picked)) == 8 and set(picked) <= set(full.index[s, i].tolist())
    again = induced.build("neighbours", raw, design_r, cfg(induced_samples=8), [0, 1])
    other = induced.build("neighbours", raw, design_r, cfg(induced_samples=8), [5, 1])
    assert torch.equal(again.index, some.index) and not torch.equal(other.index[0], some.index[0])
    pool = induced.build("pool", raw, design_r, cfg(induced_samples=8), [0, 1])
    assert pool.index.shape == (2, 40, 8)
    assert induced.build("pool", raw[:, :8], design_r[:, :8], cfg(induced_samples=8),
                         [0, 1]).index is None  # 8 rows: the exact pool
