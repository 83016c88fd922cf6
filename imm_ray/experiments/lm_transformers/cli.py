"""Flags of ``sweeps/lm_transformers.py``: the shared sweep flags, every
:class:`TrialConfig` field that is not a grid axis, the :class:`Grid` axes and
:class:`Options`; ``--quick`` sets small defaults (an explicit flag wins). Everything is
checked here, before data is prepared or Ray starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from imm_ray import sweep
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.experiments.lm_transformers.config import (
    BUILTIN_TOKENIZER,
    Grid,
    TrialConfig,
    check_tokenizer_spec,
)
from imm_ray.lm.hf.configs import BUILTIN

EXPERIMENT = "lm_transformers"
AXES = ("method", "induced", "imm_lambda", "train_fraction", "seed")
PREPARED = ("corpus_path", "restricted_path")


@dataclass
class Options:
    tokenizer: str = ""
    """'' (the model's own; a built-in config's own is train-bpe:8000, said when used),
    train-bpe:N / train-wordlevel:N (trained on the training split), or a tokenizer
    folder."""
    corpus: str = ""
    """Folder of text files (splits found by name), or one file ('' = PTB)."""
    block_size: int = 128
    """Tokens per training block."""
    cache_dir: str = ""
    """Prepared-data cache ('' = $IMM_RAY_CACHE or ~/.cache/imm_ray)."""


QUICK = dict(model="gpt2-tiny", tokenizer="train-bpe:500", block_size=32, batch_size=8,
             max_steps=20, methods=("none", "imm"), estimators=("in_batch",),
             train_fractions=(0.1,), seeds=1, imm_length=16, k=4)
"""--quick: two short trials (about a minute on 2 cores, PTB tokenised once and cached)."""


def build_parser(description: str):
    p = sweep.sweep_parser(description, EXPERIMENT)
    add_dataclass_args(p, TrialConfig, skip=AXES + PREPARED)
    add_dataclass_args(p, Grid)
    add_dataclass_args(p, Options)
    return p


def parse_args(description: str, argv=None):
    """(args, trial configs without the prepared paths); ValueError -> parser.error."""
    parser = build_parser(description)
    args = sweep.parse_sweep_args(parser, argv)
    if args.quick:
        given = sweep.explicit_dests(parser, argv)
        for key, value in QUICK.items():
            if key not in given:
                setattr(args, key, value)
    try:
        if args.seed_values and "seeds" in sweep.explicit_dests(parser, argv):
            raise ValueError("give --seeds (a count) or --seed-values (explicit seeds), "
                             "not both")
        trials = check(args)
    except ValueError as e:
        parser.error(str(e))
    return args, trials


def check(args) -> list[TrialConfig]:
    """Every check on the flags; returns every grid point's TrialConfig. The flags' own
    checks come first (no torch); the corpus and TrainingArguments after them."""
    if not args.tokenizer and args.model in BUILTIN:  # printed: never a silent choice
        args.tokenizer = BUILTIN_TOKENIZER
        print(f"tokenizer: {BUILTIN_TOKENIZER} (the built-in config {args.model}'s own: a "
              "byte-level BPE trained on the corpus's training split)")
    check_tokenizer_spec(args.tokenizer, args.model)
    if args.block_size < 2:
        raise ValueError(f"--block-size must be >= 2, got {args.block_size}")
    grid = from_dict(Grid, {f.name: getattr(args, f.name) for f in fields(Grid)})
    base = {f.name: getattr(args, f.name) for f in fields(TrialConfig)
            if f.name not in AXES + PREPARED}
    trials = [TrialConfig(**{**base, **point}) for point in grid.points()]
    if args.num_workers and args.gpus_per_trial:
        raise ValueError("--gpus-per-trial: with --num-workers >= 1 the GPUs go to the Ray "
                         "Train workers; use --gpus-per-worker")
    from imm_ray.lm.data import default_cache_dir, default_data_dir  # torch
    from imm_ray.lm.hf.corpus import split_files

    args.corpus = args.corpus or str(default_data_dir())
    args.cache_dir = args.cache_dir or str(default_cache_dir())
    files = split_files(args.corpus)  # ValueError naming the source
    missing = [str(p) for ps in files.values() for p in ps if not p.is_file()]
    if missing:
        raise ValueError(f"--corpus: files not found: {missing}")
    check_training_args(trials[0])
    return trials


def check_training_args(trial: TrialConfig) -> None:
    """``TrainingArguments`` accepts what the trials will pass (before Ray starts)."""
    import tempfile

    from transformers import TrainingArguments

    with tempfile.TemporaryDirectory() as out:
        try:
            TrainingArguments(output_dir=out, **trial.run_config(0)["training_args"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"the training settings are refused by TrainingArguments: {e}") \
                from e


def trial_dicts(trials: list[TrialConfig], prepared) -> list[dict]:
    return [{**asdict(t), "corpus_path": prepared.corpus_path,
             "restricted_path": prepared.restricted_path} for t in trials]
