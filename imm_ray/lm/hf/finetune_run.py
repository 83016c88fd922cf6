"""One fine-tuning run from a JSON-able config, in this process or data-parallel on Ray
Train workers (the same path as the causal LM's :mod:`imm_ray.lm.hf.ray_train`).

``config``: ``model_path`` (folder or hub name), ``data_dir`` (GLUE task folder), ``task``
(GLUE name), ``seed``, ``max_length``, ``settings`` (:class:`FinetuneSettings` fields),
``training_args`` (``TrainingArguments`` fields). :func:`make_trainer` builds the
:class:`~imm_ray.lm.hf.finetune_trainer.FinetuneTrainer`; :func:`dev_metrics` scores the dev
split; :func:`fit_ray` runs :func:`train_loop_per_worker` on ``num_workers`` workers
(``prepare_trainer`` + ``RayTrainReportCallback``; ``Trainer`` wraps the model in DDP, and
the classifier, MLM and IMM windows are one DDP forward a step).
"""

from __future__ import annotations

import tempfile

import numpy as np


def make_trainer(config: dict, output_dir: str, callbacks=()):
    """(FinetuneTrainer, encoded dev split) for ``config`` (see the module doc)."""
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding, TrainingArguments

    from imm_ray.lm.hf import bigram, glue
    from imm_ray.lm.hf.finetune import load_shared
    from imm_ray.lm.hf.finetune_trainer import FinetuneTrainer

    torch.manual_seed(config["seed"])
    tok = AutoTokenizer.from_pretrained(config["model_path"])
    task = glue.task_name(config["task"])
    splits = glue.read_task(config["data_dir"], task)
    labels = len(glue.TASKS[task].labels)
    train, dev = (glue.encode_split(splits[s], tok, config["max_length"], labels)
                  for s in glue.SPLITS)
    s = config["settings"]
    model = load_shared(config["model_path"], labels, with_mlm=s["method"] != "finetune")
    kn = None
    if s["method"] == "mlm_imm":
        kn = bigram(np.concatenate([np.asarray(x) for x in train.sequences()]), len(tok))
    targs = dict(config["training_args"])
    epochs, world = targs.pop("epochs", None), targs.pop("world_size", 1)
    if epochs is not None:
        batch = targs["per_device_train_batch_size"] * world
        targs["max_steps"] = int(np.ceil(len(train) / batch) * epochs)
        targs["warmup_steps"] = max(targs["max_steps"] // 10, 1)
        targs["logging_steps"] = max(targs["max_steps"] // 5, 1)
    args = TrainingArguments(output_dir=output_dir, seed=config["seed"], report_to=[],
                             disable_tqdm=True, save_strategy="no", **targs)
    trainer = FinetuneTrainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                              processing_class=tok, data_collator=DataCollatorWithPadding(tok),
                              restricted=kn, callbacks=list(callbacks), **s)
    return trainer, dev


def dev_metrics(trainer, dev) -> dict:
    """``mcc``, ``f1``, ``accuracy`` on the dev split, and the optimizer steps taken."""
    from imm_ray.lm.hf import glue

    preds = trainer.predict(dev).predictions.argmax(-1)
    return {**glue.task_metrics(preds, [f["labels"] for f in dev]),
            "steps": trainer.state.global_step}


def run_in_process(config: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        trainer, dev = make_trainer(config, out)
        trainer.train()
        return dev_metrics(trainer, dev)


def train_loop_per_worker(config: dict) -> None:
    """One Ray Train worker: the FinetuneTrainer prepared for Ray, then the dev metrics."""
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    from imm_ray.lm.hf.ray_train import report_final

    with tempfile.TemporaryDirectory() as out:
        trainer, dev = make_trainer(config, out, [RayTrainReportCallback()])
        trainer = prepare_trainer(trainer)
        trainer.train()
        report_final(dev_metrics(trainer, dev))


def fit_ray(config: dict, num_workers: int, gpus_per_worker: float = 0.0,
            cpus_per_worker: float = 1.0, storage_path: str | None = None) -> dict:
    """``config`` on ``num_workers`` Ray Train workers; returns rank 0's dev metrics."""
    from imm_ray.lm.hf.ray_train import result_metrics, run_on_workers

    config = {**config, "training_args": {**config["training_args"], "world_size": num_workers}}
    return result_metrics(run_on_workers(train_loop_per_worker, config, num_workers,
                                         gpus_per_worker, cpus_per_worker, storage_path))
