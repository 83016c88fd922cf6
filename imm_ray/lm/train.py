"""The LM trainable for Ray Tune, and a single-run command line with a progress bar.

``train_lm(config)`` is a plain function trainable: it builds :class:`LMConfig` from the
trial config, restores the trial's last checkpoint if there is one, and reports once per
epoch (``loss/main``, ``loss/imm``, ``eval/valid_ppl``) with a checkpoint; the last report
adds ``valid_ppl`` and ``test_ppl`` (best-validation weights; full splits, or their first
``test_tokens`` tokens when that is > 0).

Single run, no Ray::

    python -m imm_ray.lm.train --data-dir ../shared/data/ptb --method imm --epochs 2 \
        --train-fraction 0.05 --emb-size 64 --hidden-size 64 --optimizer adam --lr 3e-3
"""

from __future__ import annotations

import argparse
import json
import tempfile

from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import LMTrainer

TRIAL_KEY = "trial"
"""A sweep's grid entry: a dict of LMConfig fields merged over the fixed config."""


def config_from_trial(config: dict) -> LMConfig:
    """Flatten ``{**fixed, "trial": {...}}`` into an :class:`LMConfig`."""
    flat = {k: v for k, v in config.items() if k != TRIAL_KEY}
    flat.update(config.get(TRIAL_KEY, {}))
    return from_dict(LMConfig, flat)


def train_lm(config: dict) -> None:
    """Tune trainable: one LM run, resumable from its last per-epoch checkpoint."""
    from ray import tune

    from imm_ray import tune_cli

    cfg = config_from_trial(config)
    trainer = LMTrainer(cfg)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            trainer.load(d)
    while not trainer.done:
        metrics = trainer.end_epoch(trainer.train_epoch())
        if trainer.done:
            metrics.update(trainer.final_metrics())
        metrics["time/total_s"] = sum(trainer.timers.values())
        with tempfile.TemporaryDirectory() as d:
            trainer.save(d)
            tune_cli.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


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
    p.add_argument("--data-dir", default="../shared/data/ptb",
                   help="folder with ptb.{train,valid,test}.txt (used when --data-path is unset)")
    p.add_argument("--cache-dir", default=None, help="where the tokenised corpus is cached")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    add_dataclass_args(p, LMConfig)
    args = p.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k in LMConfig.__dataclass_fields__}
    if not values["data_path"]:
        values["data_path"] = str(lmdata.prepare_corpus(args.data_dir, args.cache_dir))
    result = run_single(LMConfig(**values), progress=not args.no_progress)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))


if __name__ == "__main__":
    main()
