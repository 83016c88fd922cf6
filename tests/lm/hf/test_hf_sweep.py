"""sweeps/lm_transformers.py: --quick on a small corpus writes the CSV contract and resumes
without re-running; bad flags stop before data is prepared or Ray starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "sweeps" / "lm_transformers.py"
COLUMNS = ["method", "estimator", "imm_lambda", "k", "train_fraction", "seed", "valid_ppl",
           "test_ppl"]


def run(args, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IMM_RAY_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_quick_writes_the_csv_and_resume_reruns_nothing(text_dir, tmp_path):
    flags = ["--quick", "--corpus", str(text_dir), "--tokenizer", "train-wordlevel:64",
             "--block-size", "16", "--max-steps", "4", "--storage-path", str(tmp_path),
             "--name", "q"]
    first = run(flags, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    csv = next(ln.split(": ", 1)[1] for ln in first.stdout.splitlines()
               if ln.startswith("results: "))
    assert any(ln.startswith("plot: ") for ln in first.stdout.splitlines())
    rows = pd.read_csv(csv)
    assert list(rows.columns[:len(COLUMNS)]) == COLUMNS
    assert sorted(rows.method) == ["imm", "none"] and (rows.steps == 4).all()
    assert set(rows.estimator) == {"in_batch", "-"} and rows.test_ppl.notna().all()
    results = sorted((tmp_path / "q").glob("*/result.json"))
    before = [p.read_text() for p in results]
    again = run(flags[:-2] + ["--name", "q", "--resume"], tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in again.stdout
    assert [p.read_text() for p in results] == before  # no trial ran again
    assert len(pd.read_csv(csv)) == 2


@pytest.mark.parametrize("flags, match", [
    (["--tokenizer", "train-bpe:many"], "--tokenizer 'train-bpe:many'"),
    (["--methods", "distill"], "--methods must be a non-empty list"),
    (["--estimators", "exact"], "--estimators must be a non-empty list"),
    (["--k", "0"], "k"),
    (["--train-fractions", "0"], "train_fraction"),
    (["--num-workers", "2", "--batch-size", "3"], "must be a multiple of --num-workers 2"),
    (["--corpus", "EMPTY"], "has no text files"),
])
def test_bad_flags_stop_before_any_work(text_dir, tmp_path, flags, match, capsys):
    from imm_ray.experiments.lm_transformers.cli import parse_args

    (tmp_path / "empty").mkdir()
    flags = [str(tmp_path / "empty") if f == "EMPTY" else f for f in flags]
    base = {"--corpus": str(text_dir), "--tokenizer": "train-wordlevel:64",
            "--storage-path": str(tmp_path)}
    base = [x for flag, value in base.items() if flag not in flags for x in (flag, value)]
    with pytest.raises(SystemExit):  # each flag once: a repeated one is its own error
        parse_args("test", base + flags)
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("flags, seeds", [([], [0, 1, 2]), (["--seeds", "2"], [0, 1]),
                                          (["--seed-values", "5", "7"], [5, 7])])
def test_seeds_is_a_count_and_seed_values_lists_them(text_dir, tmp_path, flags, seeds):
    """One meaning of --seeds in every sweep (issue 23): a count; explicit values have
    their own flag."""
    from imm_ray.experiments.lm_transformers.cli import parse_args

    base = ["--corpus", str(text_dir), "--tokenizer", "train-wordlevel:64", "--methods",
            "none", "--train-fractions", "0.5", "--storage-path", str(tmp_path)]
    _, trials = parse_args("test", base + flags)
    assert [t.seed for t in trials] == seeds


@pytest.mark.parametrize("flags, match", [
    (["--seeds", "0"], "--seeds must be an integer >= 1"),
    (["--seeds", "2", "--seed-values", "1", "2"], "not both"),
    (["--seed-values", "1", "1"], "--seed-values must not repeat"),
])
def test_bad_seed_flags_are_named(text_dir, tmp_path, flags, match, capsys):
    from imm_ray.experiments.lm_transformers.cli import parse_args

    base = {"--corpus": str(text_dir), "--tokenizer": "train-wordlevel:64",
            "--storage-path": str(tmp_path)}
    base = [x for flag, value in base.items() if flag not in flags for x in (flag, value)]
    with pytest.raises(SystemExit):  # each flag once: a repeated one is its own error
        parse_args("test", base + flags)
    assert match in capsys.readouterr().err


def test_docs_metrics_lists_exactly_the_csv_columns():
    import re

    from imm_ray.experiments.lm_transformers.trainable import ROW_FIELDS

    text = (ROOT / "docs" / "metrics.md").read_text()
    part = text.split("### Hugging Face LM", 1)[1].split("\n#", 1)[0]
    names = re.findall(r"^\| `([^`]+)` \|", part, flags=re.M)
    assert names == list(ROW_FIELDS)


def test_a_built_in_configs_own_tokenizer_is_trained_bpe_and_said(text_dir, tmp_path, capsys):
    from imm_ray.experiments.lm_transformers.cli import parse_args

    args, _ = parse_args("test", ["--corpus", str(text_dir), "--model", "gpt2-tiny",
                                  "--storage-path", str(tmp_path)])
    assert args.tokenizer == "train-bpe:8000"
    assert "tokenizer: train-bpe:8000 (the built-in config gpt2-tiny's own" in \
        capsys.readouterr().out


def test_the_table_gives_an_interval_only_where_there_are_seeds_for_one():
    from imm_ray.experiments.lm_transformers import report

    base = {"method": "none", "estimator": "-", "imm_lambda": 0.0, "train_fraction": 1.0}
    rows = pd.DataFrame([{**base, "seed": s, "test_ppl": p, "valid_ppl": p + 1}
                         for s, p in ((0, 6.0), (1, 7.0))]
                        + [{**base, "method": "imm", "estimator": "sampled", "imm_lambda": 0.5,
                            "seed": 0, "test_ppl": 6.5, "valid_ppl": 7.5}])
    text = report.markdown(rows, {"test": 19.9, "valid": 20.1})
    assert "| 1 | imm | sampled | 0.5 | 1 | 6.50 (1 seed: no CI) | 7.50 |" in text
    # two seeds 6 and 7: mean 6.5 +- t(0.975, 1) * sd / sqrt(2) = 6.35, clipped at ppl 1
    assert "| 1 | none | - | 0 | 2 | 6.50 [1.00, 12.85] | 7.50 |" in text
