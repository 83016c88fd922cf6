"""The paper's BERT experiment: fine-tuning with the masked-LM loss brought back, and IMM.

What it shows: a sequence classifier fine-tuned three ways, the paper's three rows --
finetune (the classifier's loss), finetune+mlm (plus the masked-LM loss on the task's own
text, one encoder shared by both heads) and finetune+mlm+imm (plus the IMM term on the
masked positions: restricted context the token before the mask, restricted model a
Kneser-Ney bigram on token ids, induced model from k = 5 sampled windows) -- over seeds,
with the task's dev metric (MCC for CoLA and the PTB stand-in, F1 for MRPC, accuracy for
the others), mean and 95% CI, and each method's paired difference to finetune+mlm.
Offline (the default), the task is PTB acceptability (real vs corrupted PTB sentences)
and the model a small BERT pretrained here on PTB's training split with a WordPiece
tokenizer trained on it (both cached). docs/lm_finetune.md has the measured table and the
command for bert-base-uncased on GLUE.

Run:
    python sweeps/lm_finetune.py                       # PTB stand-in, 3 methods x 5 seeds
    python sweeps/lm_finetune.py --quick               # tiny random BERT, < 1 minute
    python sweeps/lm_finetune.py --model bert-base-uncased --task cola --glue-dir glue/CoLA \\
        --gpus-per-trial 1 --epochs 3 --lr 2e-5 --batch-size 32 --max-length 128

Each Tune trial is one (method, seed) (imm_ray.experiments.lm_finetune.trainable); it
reports once, with its row and resolved config. Ends with ``results: <csv>`` (columns
method, task, seed, mcc, f1, accuracy, imm_lambda, k, ...) and ``plot: <png>``.

Results to expect (docs/lm_finetune.md, measured 7 Dec 2026 on a 2-core CPU, --seeds 10):
dev MCC finetune 0.173, finetune+mlm 0.143, finetune+mlm+imm 0.130 (IMM vs MLM -0.012 +-
0.030: no gain here; five variants in the docs, none significant either way), after 23
min of pretraining (once, cached) and 4 min 41 s of fine-tuning; --quick takes about 30 s.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from imm_ray import sweep
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.experiments.lm_finetune.trainable import (
    METHODS,
    ROW_FIELDS,
    FinetuneTrialConfig,
    train_lm_finetune,
)
from imm_ray.lm.hf import glue

# torch and transformers are imported where used, after the flags are parsed: --help and
# a bad flag answer in a fraction of a second.

EXPERIMENT = "lm_finetune"
PLAN_FIELDS = ("method", "seed", "model_path", "data_dir", "gpus")

# --------------------------------------------------------------------------- config


@dataclass
class SweepConfig:
    """What the sweep covers (each trial's settings are FinetuneTrialConfig's flags)."""

    methods: tuple[str, ...] = METHODS
    """Methods: finetune mlm mlm_imm (the paper's three rows)."""
    seeds: int = 5
    """Seeds per method (seed i shares the classifier head's init across methods)."""
    ptb_dir: str = ""
    """PTB (ptb.{train,valid,test}.txt) for ptb-bert and ptb-acceptability ('' =
    $IMM_RAY_PTB_DIR or ../shared/data/ptb)."""
    n_train: int = 2500
    """ptb-acceptability: training sentences (from PTB valid; at most 2,736)."""
    n_dev: int = 1000
    """ptb-acceptability: dev sentences (from PTB test)."""
    edits: int = 3
    """ptb-acceptability: edits per corrupted sentence, 1-5 (each an adjacent swap or a word
    replaced)."""
    pretrain_shape: str = "bert-tiny"
    """ptb-bert: the shape pretrained, bert-tiny (2 x 64) or bert-mini (2 x 128)."""
    pretrain_steps: int = 20000
    """ptb-bert: MLM pretraining steps (batch 32, --max-length tokens; 20,000 at 64 tokens
    take 23 min on 2 CPU cores, once: cached)."""

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"--methods must be a non-empty list from {METHODS}, got "
                             f"{list(self.methods)}")
        for name in ("seeds", "n_train", "n_dev", "pretrain_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        if self.pretrain_shape not in ("bert-tiny", "bert-mini"):
            raise ValueError(f"--pretrain-shape must be bert-tiny or bert-mini, got "
                             f"{self.pretrain_shape!r}")
        if isinstance(self.edits, bool) or self.edits not in range(1, 6):
            # the shortest stand-in sentence has 5 words
            raise ValueError(f"--edits must be an integer in [1, 5], got {self.edits!r}")


QUICK = {"model": "bert-tiny", "seeds": 2, "n_train": 64, "n_dev": 64, "epochs": 1.0,
         "max_length": 64, "k": 2, "imm_positions": 4, "imm_length": 16}
"""--quick: a random-weight 2-layer BERT, 64 examples, 6 trials of 4 steps."""


def parse_args(argv=None):
    """Flags -> (args, settings, trial); checked before Ray starts."""
    parser = sweep.sweep_parser(__doc__.splitlines()[0], EXPERIMENT)
    add_dataclass_args(parser, SweepConfig)
    add_dataclass_args(parser, FinetuneTrialConfig, skip=PLAN_FIELDS)
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)
    args = sweep.parse_sweep_args(parser, argv)
    try:
        settings = from_dict(SweepConfig, vars(args), strict=False)
        trial = from_dict(FinetuneTrialConfig, vars(args), strict=False)
        if trial.task != "ptb-acceptability":
            glue.task_name(trial.task)
    except ValueError as e:
        parser.error(str(e))
    if not settings.ptb_dir:  # resolved once, so sweep_args.json (and --resume) hold it
        from imm_ray.lm.data import default_data_dir

        settings.ptb_dir = args.ptb_dir = str(default_data_dir())
    return args, settings, trial


# --------------------------------------------------------------------------- data, model


def prepare_inputs(args, settings: SweepConfig, trial: FinetuneTrialConfig):
    """The task and model folders (cached under <storage>/lm_finetune_cache), checked."""
    from imm_ray.experiments.lm_finetune import prepare

    cache = Path(args.storage_path).expanduser().resolve() / f"{EXPERIMENT}_cache"
    os.environ.setdefault("HF_HOME", str(cache / "hf_home"))  # hub files, never $HOME
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache / "hf_datasets"))
    try:
        data = prepare.task_folder(trial.task, trial.glue_dir, settings.ptb_dir, cache,
                                   settings.n_train, settings.n_dev, edits=settings.edits)
        print(f"task {trial.task}: {data}")
        model = prepare.model_folder(trial.model, data, trial.task_name(), cache,
                                     trial.max_length, settings.ptb_dir, settings.pretrain_steps,
                                     settings.pretrain_shape)
        print(f"model {trial.model}: {model}")
        prepare.check_model(model, settings.methods, trial.max_length)
        cut, total = prepare.truncated(model, data, trial.task_name(), trial.max_length)
        print(f"--max-length {trial.max_length} truncates {cut:,} of {total:,} training "
              f"examples ({cut / total:.1%})")
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return replace(trial, model_path=model, data_dir=data, gpus=args.gpus_per_trial)


# --------------------------------------------------------------------------- Tuner


def run_sweep(args, settings: SweepConfig, trial: FinetuneTrialConfig):
    """Fit (or --resume) the Tuner: one trial per (method, seed); returns the ResultGrid."""
    from ray import tune

    fields = {k: v for k, v in asdict(trial).items() if k not in ("method", "seed")}
    space = {**fields, "method": tune.grid_search(list(settings.methods)),
             "seed": tune.grid_search(list(range(settings.seeds)))}
    return sweep.run_tuner(train_lm_finetune, space, args)


# --------------------------------------------------------------------------- report


def main(argv=None) -> int:
    args, settings, trial = parse_args(argv)              # 1. config, checked before Ray
    trial = prepare_inputs(args, settings, trial)         # 2. task + model folders (cached)
    sweep.init_ray(args)                                  # 3. Ray, the Tuner
    result_grid = run_sweep(args, settings, trial)
    rows = sweep.finished_rows(result_grid, args, ROW_FIELDS, ["method", "seed"])
    from imm_ray.experiments.lm_finetune import report as ft_report

    metric = glue.TASKS[trial.task_name()].metric         # 4. table, CSV, plot
    csv, figs, text = ft_report.write_outputs(rows, metric, sweep.output_dir(args))
    print(text)
    sweep.print_outputs(csv, figs)
    return 1 if result_grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
