"""The sweep's report from tidy rows: selection on validation, schedules that
core.make_schedule loads, paired degradation intervals, the regenerating CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from imm_ray import analysis, core
from imm_ray.experiments.lambda_vs_n import report
from imm_ray.experiments.lambda_vs_n.config import table_sizes
from imm_ray.schedules import MAX_RATIO


def synthetic_rows(seeds=8):
    """imm's best ratio falls with n (0.9 at n = 4, 0.5 at n = 64); test = valid + noise."""
    g = np.random.default_rng(0)
    out = []
    for n, best in ((4, 0.9), (16, 0.8), (64, 0.5)):
        out += [{"method": "none", "ratio": 0.0, "n": n, "seed": s, "valid_log_loss": 1.0,
                 "test_log_loss": 1.0 + 0.01 * g.standard_normal(), "test_accuracy": 0.7}
                for s in range(seeds)]
        for r in (0.0, 0.5, 0.8, 0.9):
            for s in range(seeds):
                v = 0.5 + (r - best) ** 2
                out.append({"method": "imm", "ratio": r, "n": n, "seed": s,
                            "valid_log_loss": v, "test_log_loss": v + 0.001 * s,
                            "test_accuracy": 0.8})
    return pd.DataFrame(out)


def test_best_ratios_schedules_and_comparison():
    rows = synthetic_rows()
    tables = report.summarise(rows)
    best = tables["best"]
    imm = best[best.method == "imm"].set_index("n")
    assert imm.ratio.to_dict() == {4: 0.9, 16: 0.8, 64: 0.5}
    assert imm.loc[4, "test_log_loss_mean"] == pytest.approx(0.5 + 0.001 * 3.5)
    specs = report.schedule_specs(tables["schedules"])
    schedule = core.make_schedule(json.loads(json.dumps(specs))["imm"])
    assert schedule.max_ratio == MAX_RATIO and schedule.ratio(4) > schedule.ratio(64)
    # one cap: the README's analysis.fit_schedule gives the schedules.json schedule
    fitted, _ = analysis.fit_schedule(best[best.method == "imm"], x="n", y="ratio")
    assert fitted == schedule
    assert tables["compare"].separated.all() and (tables["compare"].gain > 0.4).all()
    text = report.best_markdown(best, [4, 16, 64])
    assert "| 4 | 1.00" in text and "r=0.9: 0.504" in text


def test_degradation_is_a_paired_difference_per_target_ratio():
    rows = synthetic_rows()
    deg = report.degradation(rows, methods=("imm",), n_min=60)
    assert deg.to_ratio.tolist() == [0.9]  # 0.9 is also the largest ratio swept
    rec = deg.iloc[0]
    assert rec.best_ratio == 0.5 and rec.increase == pytest.approx(0.16)
    assert rec.increase_ci_low == pytest.approx(0.16) == rec.increase_ci_high  # paired: exact


def test_report_cli_redraws_from_a_csv(tmp_path):
    rows = synthetic_rows()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(SystemExit):
        report.main([str(tmp_path / "missing.csv"), "--out", str(tmp_path)])
    report.main([str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out")])
    made = {p.name for p in (tmp_path / "out").iterdir()}
    assert made == {"best_ratios.csv", "schedules.json", "schedule_fits.json",
                    "loss_vs_n.png", "best_ratio_vs_n.png", "loss_vs_ratio.png"}


def test_sizes_and_table_sizes():
    assert report.show_sizes(range(2, 51)) == [2, 3, 4, 6, 8, 10, 16, 20, 32, 50]
    assert report.show_sizes([4, 8]) == [4, 8]
    assert table_sizes(171) == (4, 7, 12, 20, 34, 58, 100, 171)
    assert table_sizes(3) == (3,) and table_sizes(10, 3) == (4, 6, 10)


def test_console_says_which_sizes_and_ratios_its_tables_hold(capsys):
    """A grid without r = 0.9 says so instead of silently dropping the rows its header
    promised; a table that shows some of the sizes says how many."""
    rows = synthetic_rows()
    rows = rows[rows.ratio != 0.9]
    many = pd.concat([rows.assign(n=rows.n * k) for k in (1, 2, 3, 5, 7)], ignore_index=True)
    tables = report.summarise(many)
    tables["show"] = tables["show"][:4]
    report.print_summary(tables, many)
    out = capsys.readouterr().out
    assert "(4 of 15 sizes shown; every size: best_ratios.csv)" in out
    assert "r = 0.9 is not in the ratio grid, so it has no rows" in out
    assert "to r = 0.8 (the largest swept)" in out


def test_loss_vs_ratio_figure_is_readable_at_normal_size(tmp_path):
    from PIL import Image

    from imm_ray.experiments.lambda_vs_n import plots

    rows = synthetic_rows()
    many = pd.concat([rows.assign(n=rows.n * k) for k in (1, 2)], ignore_index=True)
    path = plots.plot_loss_vs_ratio(many, [4, 8, 16, 32, 64], tmp_path / "r.png")
    width, height = Image.open(path).size
    assert width <= 1500 and width / height < 2.2, (width, height)  # was 2310 x 440
