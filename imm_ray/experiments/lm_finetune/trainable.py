"""One trial: fine-tune a classifier with one method (finetune, mlm, mlm_imm) and one seed,
report the task's dev metrics once at the end (rows :data:`ROW_FIELDS`, resolved config)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

from imm_ray.config import check_number, from_dict
from imm_ray.lm.hf.finetune import METHODS, FinetuneSettings, check_settings

ROW_FIELDS = ("method", "task", "seed", "mcc", "f1", "accuracy", "imm_lambda", "k",
              "mlm_weight", "induced", "steps", "train_seconds")
"""The CSV's columns, one row per trial (every task gets mcc, f1 and accuracy)."""


@dataclass
class FinetuneTrialConfig(FinetuneSettings):
    """One fine-tuning run (the settings of :class:`FinetuneSettings` plus these)."""

    model: str = "ptb-bert"
    """ptb-bert (a small BERT pretrained on PTB here, cached), a built-in tiny encoder
    (bert-tiny, bert-mini, roberta-tiny, distilbert-tiny: random weights), a local HF
    folder or a hub name."""
    task: str = "ptb-acceptability"
    """ptb-acceptability, or a GLUE task (cola, sst2, mrpc, qnli, rte) with --glue-dir."""
    glue_dir: str = ""
    """The GLUE task's folder (train.tsv, dev.tsv)."""
    seed: int = 0
    """Seed of the classifier head, data order and masking / IMM draws."""
    epochs: float = 3.0
    """Passes over the training split."""
    batch_size: int = 16
    """Examples per optimizer step."""
    lr: float = 1e-3
    """AdamW peak learning rate (linear decay, 10% warmup)."""
    max_length: int = 64
    """Tokens per example (truncated)."""
    threads: int = 1
    """torch threads in the trial."""
    gpus: float = 0.0
    """GPU for the trial (the sweep's --gpus-per-trial)."""
    model_path: str = ""
    """Resolved by the sweep: the folder (or hub name) the trial loads."""
    data_dir: str = ""
    """Resolved by the sweep: the task folder the trial reads."""

    def __post_init__(self):
        check_settings(self)
        check_number(self, "epochs", low=0.0, low_open=True)
        check_number(self, "batch_size", low=1, integer=True)
        check_number(self, "lr", low=0.0, low_open=True)
        check_number(self, "max_length", low=8, integer=True)
        check_number(self, "threads", low=1, integer=True)

    def task_name(self) -> str:
        from imm_ray.lm.hf.glue import task_name

        return "cola" if self.task == "ptb-acceptability" else task_name(self.task)

    def settings(self) -> dict:
        names = FinetuneSettings.__dataclass_fields__
        return {k: getattr(self, k) for k in names}


def fit(cfg: FinetuneTrialConfig, out: str):
    """(trainer, encoded dev split) after training."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding, TrainingArguments

    from imm_ray.lm.hf import bigram, glue
    from imm_ray.lm.hf.finetune import load_shared
    from imm_ray.lm.hf.finetune_trainer import FinetuneTrainer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(cfg.model_path)
    task = cfg.task_name()
    splits = glue.read_task(cfg.data_dir, task)
    labels = len(glue.TASKS[task].labels)
    train, dev = (glue.encode_split(splits[s], tok, cfg.max_length, labels) for s in glue.SPLITS)
    model = load_shared(cfg.model_path, labels, with_mlm=cfg.method != "finetune")
    kn = None
    if cfg.method == "mlm_imm":
        kn = bigram(np.concatenate([np.asarray(s) for s in train.sequences()]), len(tok))
    steps = int(np.ceil(len(train) / cfg.batch_size) * cfg.epochs)
    args = TrainingArguments(output_dir=out, seed=cfg.seed, max_steps=steps,
                             per_device_train_batch_size=cfg.batch_size,
                             per_device_eval_batch_size=64, learning_rate=cfg.lr,
                             warmup_steps=max(steps // 10, 1), lr_scheduler_type="linear",
                             logging_steps=max(steps // 5, 1), save_strategy="no",
                             report_to=[], disable_tqdm=True, use_cpu=cfg.gpus == 0,
                             dataloader_num_workers=0)
    trainer = FinetuneTrainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                              processing_class=tok, data_collator=DataCollatorWithPadding(tok),
                              restricted=kn, **cfg.settings())
    trainer.train()
    return trainer, dev


def train_lm_finetune(config: dict) -> None:
    """Tune trainable: ``config`` holds :class:`FinetuneTrialConfig` fields."""
    from imm_ray import sweep
    from imm_ray.lm.hf import glue

    cfg = from_dict(FinetuneTrialConfig, config)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer, dev = fit(cfg, out)
        preds = trainer.predict(dev).predictions.argmax(-1)
    metrics = glue.task_metrics(preds, [f["labels"] for f in dev])
    row = {"method": cfg.method, "task": cfg.task, "seed": cfg.seed, **metrics,
           "imm_lambda": cfg.imm_lambda if cfg.method == "mlm_imm" else 0.0,
           "k": cfg.k if cfg.method == "mlm_imm" and cfg.induced == "sampled" else 0,
           "mlm_weight": cfg.mlm_weight if cfg.method != "finetune" else 0.0,
           "induced": cfg.induced if cfg.method == "mlm_imm" else "-",
           "steps": trainer.state.global_step, "train_seconds": time.perf_counter() - start}
    sweep.report({k: float(v) for k, v in row.items() if not isinstance(v, str)},
                 rows={k: [row[k]] for k in ROW_FIELDS}, resolved=cfg)


__all__ = ["METHODS", "ROW_FIELDS", "FinetuneTrialConfig", "train_lm_finetune"]
