"""The Tune trainable: one :class:`~imm_ray.lm.hf.IMMTrainer` run per trial, in the trial
process (``num_workers`` 0) or data-parallel through Ray Train (``num_workers`` >= 1).

It reports once, at the end, with the trial's row (:data:`ROW_FIELDS`) and its resolved
config in the checkpoint (:func:`imm_ray.sweep.report`).
"""

from __future__ import annotations

import math
import tempfile
import time

from imm_ray import metrics as M
from imm_ray.config import from_dict
from imm_ray.experiments.lm_transformers.config import TrialConfig

ROW_FIELDS = ("method", "estimator", "imm_lambda", "k", "train_fraction", "seed", "valid_ppl",
              "test_ppl", "n_train_tokens", "steps", "train_seconds", "num_workers")
"""The CSV's columns, one row per trial."""


def run_in_process(cfg: TrialConfig, n_positions: int) -> dict:
    """The trial's Trainer here, without Ray Train."""
    import torch

    from imm_ray.lm.hf.ray_train import final_metrics, make_trainer

    torch.set_num_threads(cfg.threads)
    with tempfile.TemporaryDirectory() as out:
        trainer, corpus = make_trainer(cfg.run_config(n_positions), out, [progress_callback()])
        result = trainer.train()
        means = log_means(trainer.state.log_history)
        return {**final_metrics(trainer, corpus), **means, "steps": trainer.state.global_step,
                "train_loss": result.training_loss,
                M.N_TRAIN_TOKENS: float(len(trainer.train_dataset) * corpus.block_size)}


def progress_callback():
    """A ``TrainerCallback`` publishing ``steps done/max`` on the sweep's progress line
    (:func:`imm_ray.sweep.progress`; a no-op outside a sweep)."""
    from transformers import TrainerCallback

    from imm_ray import sweep

    class StepProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            sweep.progress(state.global_step, state.max_steps, "steps")

    return StepProgress()


def log_means(history: list[dict]) -> dict:
    """Means of ``loss/main``, ``loss/imm``, ``loss/kd`` over the Trainer's training logs."""
    out = {}
    for name in (M.LOSS_MAIN, M.LOSS_IMM, M.LOSS_KD):
        vals = [h[name] for h in history if name in h]
        if vals:
            out[name] = sum(vals) / len(vals)
    return out


def run_ray_train(cfg: TrialConfig, n_positions: int) -> dict:
    """The trial's run on ``cfg.num_workers`` Ray Train workers."""
    from imm_ray.lm.hf import ray_train
    from imm_ray.lm.hf.corpus import TextCorpus

    result = ray_train.fit(cfg.run_config(n_positions), cfg.num_workers, cfg.gpus_per_worker)
    corpus = TextCorpus.load(cfg.corpus_path)
    blocks = len(corpus.blocks("train", cfg.train_fraction))
    return {**ray_train.result_metrics(result),
            M.N_TRAIN_TOKENS: float(blocks * corpus.block_size)}


def train_lm_transformers(config: dict) -> None:
    """Tune trainable: ``config["trial"]`` holds :class:`TrialConfig` fields and
    ``config["n_positions"]`` the model's positions."""
    from imm_ray import sweep

    cfg = from_dict(TrialConfig, config["trial"])
    start = time.perf_counter()
    run = run_ray_train if cfg.num_workers else run_in_process
    metrics = run(cfg, int(config["n_positions"]))
    metrics["train_seconds"] = time.perf_counter() - start
    row = {"method": cfg.method, "estimator": cfg.induced if cfg.method == "imm" else "-",
           "imm_lambda": cfg.imm_lambda, "k": cfg.k, "train_fraction": cfg.train_fraction,
           "seed": cfg.seed, "valid_ppl": metrics["valid_ppl"],
           "test_ppl": metrics.get("test_ppl", math.nan),
           "n_train_tokens": metrics[M.N_TRAIN_TOKENS], "steps": metrics["steps"],
           "train_seconds": metrics["train_seconds"], "num_workers": cfg.num_workers}
    sweep.report({k: float(v) for k, v in metrics.items()},
                 rows={k: [row[k]] for k in ROW_FIELDS}, resolved=cfg)
