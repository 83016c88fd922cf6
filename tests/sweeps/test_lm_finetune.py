"""sweeps/lm_finetune.py: bad flags rejected before Ray (naming the flag), the report on
synthetic rows, the stand-in task's split (no sentence shared), and the --quick sweep end
to end in a subprocess (slow: Ray start-up plus 6 tiny trials)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imm_ray.experiments.lm_finetune import report as ft_report
from imm_ray.experiments.lm_finetune.data import ptb_acceptability
from imm_ray.experiments.lm_finetune.trainable import ROW_FIELDS
from imm_ray.lm.hf import glue

SCRIPT = Path(__file__).resolve().parents[2] / "sweeps" / "lm_finetune.py"


def run(args, tmp_path, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--storage-path", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lm_finetune_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args,message", [
    (["--methods", "finetune", "dpo"], "--methods must be a non-empty list"),
    (["--mask-rate", "1.0"], "mask_rate must be in (0, 1)"),
    (["--k", "0"], "k must be"),
    (["--task", "mnli"], "task must be one of"),
    (["--seeds", "0"], "--seeds must be an integer >= 1"),
])
def test_bad_flags_fail_before_ray(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        load_script().parse_args(["--storage-path", str(tmp_path), *args])
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_missing_glue_dir_and_model_without_mlm_head(tmp_path):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from imm_ray.experiments.lm_finetune import prepare

    with pytest.raises(ValueError, match="glue_dir .*missing"):
        prepare.task_folder("rte", str(tmp_path / "nope"), "", tmp_path, 10, 10)
    with pytest.raises(ValueError, match="--glue-dir: the GLUE task 'rte' needs its folder"):
        prepare.task_folder("rte", "", "", tmp_path, 10, 10)
    GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=8, n_head=2)).save_pretrained(
        tmp_path / "gpt2")
    with pytest.raises(ValueError, match="--model .* has no masked-LM head"):
        prepare.check_model(str(tmp_path / "gpt2"), ("finetune", "mlm"), 32)
    with pytest.raises(ValueError, match="--max-length 2000 is above --model"):
        prepare.check_model(str(tmp_path / "gpt2"), ("finetune",), 2000)


def test_stand_in_splits_share_no_sentence(tmp_path):
    from imm_ray.lm.data import default_data_dir

    if not (default_data_dir() / "ptb.valid.txt").is_file():
        pytest.skip("PTB not found")
    folder = ptb_acceptability(default_data_dir(), tmp_path, 300, 300)
    task = glue.read_task(folder, "cola")
    assert len(task["train"]) == 300 and abs(task["train"].labels.mean() - 0.5) < 0.01
    real_train = {s for s, y in zip(task["train"].text_a, task["train"].labels, strict=True) if y}
    assert not real_train & set(task["dev"].text_a)


def test_report_table_has_three_rows_and_paired_difference(tmp_path):
    rng = np.random.default_rng(0)
    rows = pd.DataFrame([{"method": m, "task": "ptb-acceptability", "seed": s,
                          "mcc": rng.random(), "f1": 0.5, "accuracy": 0.5,
                          "imm_lambda": 0.5 if m == "mlm_imm" else 0.0,
                          "k": 5 if m == "mlm_imm" else 0, "mlm_weight": 1.0,
                          "induced": "sampled", "steps": 10, "train_seconds": 1.0}
                         for m in ("finetune", "mlm", "mlm_imm") for s in range(5)])
    csv, figs, text = ft_report.write_outputs(rows[list(ROW_FIELDS)], "mcc", tmp_path)
    assert "finetune+mlm+imm" in text and "| 5 |" in text and Path(figs[0]).is_file()
    assert list(pd.read_csv(csv).columns) == list(ROW_FIELDS)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_sweep_end_to_end(tmp_path):
    out = run(["--quick"], tmp_path, timeout=880)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    results = [ln for ln in lines if ln.startswith("results: ")]
    assert results and any(ln.startswith("plot: ") for ln in lines)
    rows = pd.read_csv(results[0].split(": ", 1)[1])
    assert set(rows.method) == {"finetune", "mlm", "mlm_imm"} and len(rows) == 6
    assert rows[rows.method == "mlm_imm"].k.eq(2).all()
