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
from imm_ray.experiments.lm_finetune.data import (
    corrupt_n,
    pretrain_bert,
    ptb_acceptability,
    step_line,
)
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
    (["--edits", "0"], "--edits must be an integer in [1, 5]"),
    (["--edits", "1000000000"], "--edits must be an integer in [1, 5]"),
    (["--pretrain-shape", "bert-base"], "--pretrain-shape must be bert-tiny or bert-mini"),
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
    folder = ptb_acceptability(default_data_dir(), tmp_path, 300, 300, edits=3)
    task = glue.read_task(folder, "cola")
    assert folder != ptb_acceptability(default_data_dir(), tmp_path, 300, 300, edits=1)
    with pytest.raises(ValueError, match=r"--n-dev \(PTB test\) must be at most 2976 "):
        ptb_acceptability(default_data_dir(), tmp_path, 300, 10**9)
    assert len(task["train"]) == 300 and abs(task["train"].labels.mean() - 0.5) < 0.01
    real_train = {s for s, y in zip(task["train"].text_a, task["train"].labels, strict=True) if y}
    assert not real_train & set(task["dev"].text_a)


@pytest.mark.parametrize("edits", [1, 3])
def test_corrupted_sentence_differs_by_at_most_its_edits(edits):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(50)]
    for _ in range(200):
        words = list(rng.choice(vocab[:8], size=int(rng.integers(2, 12))))
        out = corrupt_n(words, rng, vocab, edits)
        changed = sum(a != b for a, b in zip(words, out, strict=True))
        assert len(out) == len(words) and 1 <= changed <= 2 * edits


def test_truncated_counts_examples_over_max_length(tmp_path):
    from imm_ray.experiments.lm_finetune import prepare
    from imm_ray.lm.hf.encoders import train_wordpiece

    text = ["a b", "a b c d e f g", "a b c", "a b c d e f g h i"]
    for split in glue.SPLITS:
        glue.write_split(tmp_path / f"{split}.tsv", "cola",
                         glue.TaskSplit(text, None, np.array([0, 1, 0, 1])))
    (tmp_path / "corpus.txt").write_text("\n".join(text))
    tok = train_wordpiece([tmp_path / "corpus.txt"], 40, tmp_path / "tok")
    lengths = [len(tok(t)["input_ids"]) for t in text]   # [CLS] words [SEP]
    assert lengths == [4, 9, 5, 11]
    assert prepare.truncated(str(tmp_path / "tok"), str(tmp_path), "cola", 5) == (2, 4)
    assert prepare.truncated(str(tmp_path / "tok"), str(tmp_path), "cola", 11) == (0, 4)


def test_step_line_says_step_loss_and_eta():
    assert step_line(2000, 20000, 5.99, 150.0) == (
        "pretraining step 2,000/20,000 (10%), MLM loss 5.990, 2m30s elapsed, ETA 22m30s")


def test_pretrained_folder_loads_and_is_reused(tmp_path, capsys, monkeypatch):
    import json

    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep the suite's threads
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the {w} sat on the mat near {w} ." for w in
                                 ("cat", "dog", "bird", "fox", "cow", "hen") * 10))
    path = pretrain_bert(corpus, tmp_path / "cache", model="bert-tiny", vocab_size=60,
                         max_length=16, steps=4, batch_size=4, threads=1)
    out = capsys.readouterr().out
    assert "pretraining step 4/4 (100%)" in out and f"-> {path}" in out
    info = json.loads((Path(path) / "pretrained.json").read_text())
    assert info["steps"] == 4 and np.isfinite(info["final_loss"])
    tok, mlm = AutoTokenizer.from_pretrained(path), AutoModelForMaskedLM.from_pretrained(path)
    assert mlm.config.max_position_embeddings == 16 and len(tok) <= mlm.config.vocab_size
    assert pretrain_bert(corpus, tmp_path / "cache", model="bert-tiny", vocab_size=60,
                         max_length=16, steps=4, batch_size=4, threads=1) == path
    assert "pretraining" not in capsys.readouterr().out      # cached: not trained again


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
