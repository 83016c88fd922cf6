"""One trial: fine-tune a classifier with one method (finetune, mlm, mlm_imm) and one seed,
report the task's dev metrics once at the end (rows :data:`ROW_FIELDS`, resolved config)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from imm_ray.config import check_number, from_dict
from imm_ray.lm.hf.finetune_settings import METHODS, FinetuneSettings, check_settings

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
    """GPU for the trial (the sweep's --gpus-per-trial), or per Ray Train worker."""
    num_workers: int = 0
    """Ray Train workers (data-parallel DDP); 0 runs the Trainer inside the Tune trial."""
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
        check_number(self, "num_workers", low=0, integer=True)

    def task_name(self) -> str:
        from imm_ray.lm.hf.glue import task_name

        return "cola" if self.task == "ptb-acceptability" else task_name(self.task)

    def settings(self) -> dict:
        names = FinetuneSettings.__dataclass_fields__
        return {k: getattr(self, k) for k in names}

    def run_config(self) -> dict:
        """The dict :mod:`imm_ray.lm.hf.finetune_run` takes."""
        workers = max(self.num_workers, 1)
        if self.batch_size % workers:
            raise ValueError(f"--batch-size {self.batch_size} must be a multiple of "
                             f"--num-workers {self.num_workers}")
        return dict(model_path=self.model_path, data_dir=self.data_dir, task=self.task_name(),
                    seed=self.seed, max_length=self.max_length, settings=self.settings(),
                    training_args=dict(per_device_train_batch_size=self.batch_size // workers,
                                       per_device_eval_batch_size=64, learning_rate=self.lr,
                                       lr_scheduler_type="linear", epochs=self.epochs,
                                       use_cpu=self.gpus == 0, dataloader_num_workers=0))


def train_lm_finetune(config: dict) -> None:
    """Tune trainable: ``config`` holds :class:`FinetuneTrialConfig` fields."""
    import torch

    from imm_ray import sweep
    from imm_ray.lm.hf import finetune_run

    cfg = from_dict(FinetuneTrialConfig, config)
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    run = cfg.run_config()
    metrics = (finetune_run.fit_ray(run, cfg.num_workers, cfg.gpus) if cfg.num_workers
               else finetune_run.run_in_process(run))
    imm = cfg.method == "mlm_imm"
    row = {"method": cfg.method, "task": cfg.task, "seed": cfg.seed,
           **{m: metrics[m] for m in ("mcc", "f1", "accuracy")},
           "imm_lambda": cfg.imm_lambda if imm else 0.0,
           "k": cfg.k if imm and cfg.induced == "sampled" else 0,
           "mlm_weight": cfg.mlm_weight if cfg.method != "finetune" else 0.0,
           "induced": cfg.induced if imm else "-", "steps": metrics["steps"],
           "train_seconds": time.perf_counter() - start}
    sweep.report({k: float(v) for k, v in row.items() if not isinstance(v, str)},
                 rows={k: [row[k]] for k in ROW_FIELDS}, resolved=cfg)


__all__ = ["METHODS", "ROW_FIELDS", "FinetuneTrialConfig", "train_lm_finetune"]
