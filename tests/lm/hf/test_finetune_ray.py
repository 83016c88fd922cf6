"""Fine-tuning through Ray Train: 2 gloo workers (DDP) run mlm_imm to the end and report
the dev metrics; the in-process run of the same config reports the same fields."""

from __future__ import annotations

import math

import pytest
from finetune_helpers import tokenizer_wp, toy_split  # noqa: F401

from imm_ray.lm.hf import glue


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    yield ray
    ray.shutdown()


def folders(tmp_path, text_dir, tok):
    from transformers import AutoModelForMaskedLM

    from imm_ray.lm.hf.encoders import tiny_encoder_config

    data = tmp_path / "task"
    data.mkdir()
    glue.write_split(data / "train.tsv", "cola", toy_split(text_dir, 32))
    glue.write_split(data / "dev.tsv", "cola", toy_split(text_dir, 16, seed=1))
    model = tmp_path / "model"
    AutoModelForMaskedLM.from_config(tiny_encoder_config("bert-tiny", len(tok), 32)
                                     ).save_pretrained(model)
    tok.save_pretrained(model)
    return str(data), str(model)


def config(data, model):
    return dict(model_path=model, data_dir=data, task="cola", seed=0, max_length=32,
                settings=dict(method="mlm_imm", induced="sampled", k=2, imm_positions=4,
                              imm_length=8),
                training_args=dict(per_device_train_batch_size=8, learning_rate=1e-3,
                                   epochs=1.0, use_cpu=True, dataloader_num_workers=0))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ray_train_two_workers(local_ray, tmp_path, text_dir,
        tokenizer_wp):  # noqa: F811
    from imm_ray.lm.hf import finetune_run

    data, model = folders(tmp_path, text_dir, tokenizer_wp)
    cfg = config(data, model)
    here = finetune_run.run_in_process(cfg)
    cfg["training_args"]["per_device_train_batch_size"] = 4  # 2 workers x 4 = the same 8
    ray_metrics = finetune_run.fit_ray(cfg, num_workers=2, storage_path=str(tmp_path / "rt"))
    assert here["steps"] == ray_metrics["steps"] == 4
    assert set(ray_metrics) == set(here) and all(math.isfinite(v) for v in ray_metrics.values())
