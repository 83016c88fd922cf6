"""GLUE TSV reader (every task's layout, read back), bad folders / columns / labels, and
the metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from finetune_helpers import tokenizer_wp  # noqa: F401 (fixture)

from imm_ray.lm.hf import glue


def split(pair: bool, labels=(0, 1, 1, 0)) -> glue.TaskSplit:
    a = [f'sentence "{i}" one' for i in range(len(labels))]
    b = [f"other {i}" for i in range(len(labels))] if pair else None
    return glue.TaskSplit(a, b, np.asarray(labels))


@pytest.mark.parametrize("task", ["CoLA", "SST-2", "MRPC", "QNLI", "RTE"])
def test_every_task_round_trips(tmp_path, task):
    spec = glue.TASKS[glue.task_name(task)]
    data = split(len(spec.text_columns) == 2)
    for s in glue.SPLITS:
        glue.write_split(tmp_path / f"{s}.tsv", task, data)
    out = glue.read_task(tmp_path, task)
    assert out["train"].text_a == data.text_a and out["dev"].text_b == data.text_b
    assert out["dev"].labels.tolist() == data.labels.tolist()


def test_cola_has_no_header_and_glue_columns(tmp_path):
    (tmp_path / "train.tsv").write_text("gj04\t1\t\tThe sailors rode the breeze .\n"
                                        "gj04\t0\t*\tThe more we study .\n")
    (tmp_path / "dev.tsv").write_text("gj04\t1\t\tA \"quoted word .\n")
    out = glue.read_task(tmp_path, "cola")
    assert out["train"].labels.tolist() == [1, 0]
    assert out["dev"].text_a == ['A "quoted word .']


def test_missing_files_columns_and_bad_labels(tmp_path):
    glue.write_split(tmp_path / "train.tsv", "rte", split(True))
    with pytest.raises(ValueError, match="glue_dir.*missing.*dev.tsv"):
        glue.read_task(tmp_path, "rte")
    (tmp_path / "dev.tsv").write_text("index\tsentence1\tlabel\n0\ta\tentailment\n")
    with pytest.raises(ValueError, match=r"dev.tsv: columns \['sentence2'\] are missing"):
        glue.read_task(tmp_path, "rte")
    (tmp_path / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(ValueError, match="label 'maybe' is outside the task's label set"):
        glue.read_task(tmp_path, "rte")
    with pytest.raises(ValueError, match="task must be one of"):
        glue.read_task(tmp_path, "mnli")


def test_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    rng = np.random.default_rng(0)
    for _ in range(5):
        y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
        m = glue.task_metrics(p, y)
        assert m["mcc"] == pytest.approx(matthews_corrcoef(y, p))
        assert m["f1"] == pytest.approx(f1_score(y, p))
        assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert glue.task_metrics([1, 1], [0, 1])["mcc"] == 0.0  # constant prediction


def test_encode_pairs_with_token_types(tokenizer_wp):  # noqa: F811 (fixture)
    data = split(True)
    enc = glue.encode_split(data, tokenizer_wp, max_length=16)
    f = enc[0]
    assert f["input_ids"][0] == tokenizer_wp.cls_token_id and 1 in f["token_type_ids"]
    assert f["labels"] == 0 and len(enc) == 4
    with pytest.raises(ValueError, match="max_length"):
        glue.encode_split(data, tokenizer_wp, max_length=2)
