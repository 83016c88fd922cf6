"""The LM trainable for Ray Tune, and a single-run command line with a progress bar.

``train_lm(config)`` is a plain function trainable: it builds :class:`LMConfig` from the
trial config (:func:`imm_ray.experiments.lm_ptb.config.trial_config`: per-model overrides applied),
restores
the trial's last checkpoint if there is one, and reports once per epoch (``loss/main``,
``loss/imm`` or ``loss/kd``, ``eval/valid_ppl``) with a checkpoint holding the trainer
state, the trial's rows (one per epoch, :func:`trial_rows`) and its resolved config; the
last report adds ``valid_ppl`` and ``test_ppl`` (best-validation weights; full splits, or
their first ``test_tokens`` tokens when that is > 0).

Single run, no Ray (nor ``datasets`` when ``--data-path`` names a prepared corpus)::

    python -m imm_ray.experiments.lm_ptb.trainable --method imm --epochs 2 --train-fraction 0.05 \\
        --emb-size 64 --hidden-size 64 --optimizer adam --lr 3e-3
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile

from imm_ray import metrics as M
from imm_ray.config import add_dataclass_args
from imm_ray.experiments.lm_ptb.config import trial_config
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import LMTrainer

ROW_SETTINGS = ("model", "method", "imm_lambda", "k", "train_fraction", "seed",
                "restricted_data", "imm_contexts", "imm_length", "emb_size", "hidden_size",
                "test_tokens")
"""The LMConfig fields every row of a trial carries."""
ROW_EPOCH = {"epoch": M.EPOCH, "epoch_valid_ppl": M.EVAL_VALID_PPL, "loss_main": M.LOSS_MAIN,
             "loss_imm": M.LOSS_IMM, "loss_kd": M.LOSS_KD, "lr": M.LR}
"""Row column -> the per-epoch metric it holds (NaN where a method has none)."""
ROW_FINAL = {"valid_ppl": M.VALID_PPL, "test_ppl": M.TEST_PPL,
             "n_train_tokens": M.N_TRAIN_TOKENS, "train_seconds": M.TIME_TOTAL_S}
"""Row column -> the final metric: ``valid_ppl``, ``test_ppl`` and ``n_train_tokens`` are NaN
until the trial's last epoch; ``train_seconds`` is the latest ``time/total_s`` at every report."""


def trial_rows(cfg: LMConfig, history: list[dict], final: dict) -> dict[str, list]:
    """One row per epoch so far: the trial's settings (strings stay strings), that epoch's
    metrics, and the final metrics (NaN until the last report)."""
    n = len(history)
    rows = {name: [getattr(cfg, name)] * n for name in ROW_SETTINGS}
    for col, key in ROW_EPOCH.items():
        rows[col] = [float(h.get(key, math.nan)) for h in history]
    for col, key in ROW_FINAL.items():
        rows[col] = [float(final.get(key, math.nan))] * n
    return rows


def train_lm(config: dict) -> None:
    """Tune trainable: one LM run, resumable from its last per-epoch checkpoint."""
    from ray import tune

    from imm_ray import sweep

    cfg = trial_config(config)
    trainer = LMTrainer(cfg)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            trainer.load(d)
    while not trainer.done:
        metrics = trainer.end_epoch(trainer.train_epoch())
        if trainer.done:
            metrics.update(trainer.final_metrics())
        metrics[M.TIME_TOTAL_S] = sum(trainer.timers.values())
        with tempfile.TemporaryDirectory() as d:
            trainer.save(d)
            sweep.report(metrics, checkpoint=tune.Checkpoint.from_directory(d),
                            rows=trial_rows(cfg, trainer.history, metrics), resolved=cfg)


def run_single(cfg: LMConfig, progress: bool = True) -> dict:
    """Train without Ray (tqdm per epoch); returns the final metrics and the history."""
    from tqdm import tqdm

    trainer = LMTrainer(cfg)
    steps = lmdata.num_bptt_batches(trainer.rows, cfg.bptt)
    while not trainer.done:
        with tqdm(total=steps, desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}",
                  disable=not progress, leave=False) as bar:
            metrics = trainer.end_epoch(trainer.train_epoch(bar))
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                          for k, v in metrics.items()}))
    final = trainer.final_metrics()
    return {**final, "history": trainer.history, "timers": dict(trainer.timers)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train one language model (no Ray).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help=f"folder with ptb.{{train,valid,test}}.txt when --data-path is unset "
                        f"(default ${lmdata.DATA_DIR_ENV} or {lmdata.default_data_dir()})")
    p.add_argument("--cache-dir", default=None, help="where the tokenised corpus is cached")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    add_dataclass_args(p, LMConfig)
    args = p.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k in LMConfig.__dataclass_fields__}
    try:
        if not values["data_path"]:
            values["data_path"] = str(lmdata.prepare_corpus(args.data_dir, args.cache_dir))
        cfg = LMConfig(**values)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    result = run_single(cfg, progress=not args.no_progress)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))


if __name__ == "__main__":
    main()
