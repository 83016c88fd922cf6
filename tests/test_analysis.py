"""imm_ray.analysis on synthetic result tables (no Ray needed)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imm_ray import analysis


def test_explode_lists_gives_one_row_per_element():
    df = pd.DataFrame({"config/method": ["imm", "none"], "config/n": [4, 8],
                       "rows/seed": [[0, 1, 2], [0, 1, 2]],
                       "rows/loss": [[0.5, 0.6, 0.7], [0.9, 0.8, 0.7]], "time": [1.0, 2.0]})
    out = analysis.explode_lists(df)
    assert list(out.columns) == ["method", "n", "seed", "loss"]
    assert len(out) == 6 and out["loss"].dtype == float
    assert out[(out.method == "none") & (out.seed == 1)]["loss"].item() == 0.8
    with pytest.raises(ValueError, match="no columns start with 'per/'"):
        analysis.explode_lists(df, prefix="per/")


def test_aggregate_matches_t_interval():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": np.repeat(["a", "b"], 30), "v": rng.normal(size=60)})
    agg = analysis.aggregate(df, by=["g"], metric="v")
    a = df[df.g == "a"].v
    lo, hi = stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    row = agg[agg.g == "a"].iloc[0]
    assert row["count"] == 30
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    one = analysis.aggregate(df.head(1), by=["g"], metric="v").iloc[0]
    assert one["ci_low"] == one["ci_high"] == one["mean"]


def test_best_per_group_and_fit_schedule_recover_a_known_line():
    ns = np.array([2, 4, 8, 16, 32, 50])
    true_ratio = np.round(0.9 - 0.15 * np.log(ns), 1)
    rows = []
    for n, r_best in zip(ns, true_ratio, strict=True):
        for r in np.round(np.arange(0, 1, 0.1), 1):
            rows.append({"method": "imm", "n": n, "ratio": r, "mean": (r - r_best) ** 2})
    best = analysis.best_per_group(pd.DataFrame(rows), group=["method", "n"], choose="ratio")
    assert np.allclose(best.sort_values("n").ratio, true_ratio)
    sched, rep = analysis.fit_schedule(best, x="n", y="ratio")
    assert rep["basis"] == "log_n" and rep["slope"] == pytest.approx(-0.15, abs=0.02)
    assert rep["rmse"] < 0.05 and rep["points"] == 6
    assert all(abs(sched.ratio(n) - r) < 0.06 for n, r in zip(ns, true_ratio, strict=True))
    with pytest.raises(ValueError, match=">= 2 dataset sizes"):
        analysis.fit_schedule(best.head(1))


def test_plot_with_ci_writes_a_png(tmp_path):
    agg = pd.DataFrame({"n": [1, 2, 1, 2], "method": ["a", "a", "b", "b"],
                        "mean": [1.0, 0.5, 1.2, 0.9], "ci_low": [0.9, 0.4, 1.1, 0.8],
                        "ci_high": [1.1, 0.6, 1.3, 1.0]})
    path = analysis.plot_with_ci(agg, "n", "method", tmp_path / "p.png", ylabel="loss")
    assert (tmp_path / "p.png").stat().st_size > 1000 and path == tmp_path / "p.png"


def test_load_experiment_missing_folder_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Tune experiment folder at"):
        analysis.load_experiment(tmp_path / "nope")


def test_experiment_path_accepts_relative_home_and_pathlib(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    want = str(tmp_path / "exp")
    for source in ("exp", "./exp", "~/exp", Path("exp"), f"file://{want}"):
        assert analysis.experiment_path(source) == want
    assert analysis.experiment_path("s3://bucket/exp") == "s3://bucket/exp"
    with pytest.raises(FileNotFoundError, match="'~/nope'"):
        analysis.experiment_path("~/nope")


def module_example(path) -> str:
    """The code of imm_ray.analysis's docstring example, pointed at ``path``."""
    doc = analysis.__doc__
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    code = "\n".join(line[4:] for line in block.splitlines())
    assert 'load_rows("results/lambda_vs_n_' in code
    return code.replace(code.split('load_rows("', 1)[1].split('"', 1)[0], str(path))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_module_docstring_example_runs_on_rows_written_through_tune(tmp_path, monkeypatch):
    """A toy-shaped experiment through Tune (rows.parquet per trial, string ``method``):
    the docstring's example reads it and recovers the best-ratio line it was built with."""
    from ray import tune

    from imm_ray import sweep

    def trial(config):  # by value: workers cannot import tests
        import numpy as np

        n, method = config["n"], config["method"]
        best = 0.9 - 0.15 * np.log(n) if method == "imm" else 0.1
        ratios = np.round(np.arange(0, 1, 0.1), 1)
        rows = {"method": [], "ratio": [], "n": [], "seed": [], "test_log_loss": []}
        for seed in range(3):
            for r in ratios:
                for key, value in zip(rows, (method, r, n, seed,
                                             (r - best) ** 2 + 0.001 * seed), strict=True):
                    rows[key].append(value)
        sweep.report({"rows": float(len(rows["seed"]))}, rows=rows)

    sweep.start_local_ray(num_cpus=1, logging_level="ERROR", log_to_driver=False)
    try:
        space = {"method": tune.grid_search(["imm", "none"]),
                 "n": tune.grid_search([2, 4, 8, 16, 32])}
        tune.Tuner(trial, param_space=space, run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="lambda_vs_n_x", verbose=0)).fit()
    finally:
        sweep.shutdown_ray_quietly()
    scope = {}
    exec(module_example(tmp_path / "lambda_vs_n_x"), scope)
    rows, best, fit = scope["rows"], scope["best"], scope["fit"]
    assert pd.api.types.is_string_dtype(rows["method"]) and set(rows.method) == {"imm", "none"}
    assert len(rows) == 2 * 5 * 3 * 10 and rows["trial_id"].nunique() == 10
    imm = best[best.method == "imm"].sort_values("n")
    assert np.allclose(imm.ratio, np.round(0.9 - 0.15 * np.log(imm.n), 1))
    assert fit["basis"] == "log_n" and fit["slope"] == pytest.approx(-0.15, abs=0.03)
    # the README's form: a relative path (pyarrow alone refuses it), ~ and a pathlib.Path
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for source in ("lambda_vs_n_x", "./lambda_vs_n_x", "~/lambda_vs_n_x",
                   Path("lambda_vs_n_x")):
        assert len(analysis.load_rows(source)) == len(rows)
    assert len(analysis.load_experiment("~/lambda_vs_n_x")) == 10


def test_intervals_respect_the_metrics_range_and_say_so():
    """A log-loss's 95% CI never goes below 0 (iris --quick once printed
    0.368 [-0.057, 0.792]); an accuracy's stays in [0, 1]; other metrics are untouched."""
    df = pd.DataFrame({"g": ["a"] * 3, "test_log_loss": [0.01, 0.05, 1.05],
                       "test_accuracy": [1.0, 1.0, 0.5], "reward": [-5.0, 0.0, 5.0]})
    ll = analysis.aggregate(df, ["g"], "test_log_loss").iloc[0]
    assert ll["ci_low"] == 0.0 and bool(ll["ci_clipped"]) and ll["ci_high"] > ll["mean"]
    acc = analysis.aggregate(df, ["g"], "test_accuracy").iloc[0]
    assert acc["ci_high"] == 1.0 and bool(acc["ci_clipped"])
    rew = analysis.aggregate(df, ["g"], "reward").iloc[0]
    assert rew["ci_low"] < -5 and not rew["ci_clipped"]
    assert analysis.metric_range("eval/valid_ppl") == (1.0, None)
    best = analysis.best_table(df.assign(r=0.5), ["g"], "r", select="test_log_loss",
                               report=["test_log_loss"])
    assert bool(best["test_log_loss_ci_clipped"].iloc[0])


def test_every_figure_draws_a_method_in_its_one_style(tmp_path):
    """The same method gets the same colour and marker in every figure, whatever else is
    drawn beside it (it used to follow the order of the lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imm_ray.plotting import style

    seen = {}
    for methods in (["imm", "none"], ["interpolate", "imm", "noising", "reverse_kd"],
                    ["imm_argmax", "imm", "none", "interpolate"]):
        agg = pd.DataFrame([{"x": x, "method": m, "mean": 1.0, "ci_low": 0.9, "ci_high": 1.1}
                            for m in methods for x in (1, 2)])
        fig, ax = plt.subplots()
        analysis.plot_with_ci(agg, "x", "method", None, ylabel="y", ax=ax)
        for line in ax.get_lines():
            look = (matplotlib.colors.to_hex(line.get_color()), line.get_marker())
            assert seen.setdefault(line.get_label(), look) == look, line.get_label()
        plt.close(fig)
    assert style("imm")["color"] != style("none")["color"] != style("interpolate")["color"]
    assert style("imm_argmax")["color"] == style("imm")["color"]  # a variant of imm
    assert style("imm_argmax")["marker"] != style("imm")["marker"]
