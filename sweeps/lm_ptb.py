"""Language modelling on Penn Treebank: a Kneser-Ney bigram helps full-history LMs.

What it shows: LSTM and transformer LMs trained with the main loss only (``none``,
dropout), KN bigram noising, reverse KD from the bigram, and sampled IMM, in three
regimes (presets): ``cpu`` (the bigram from the whole training split, the full model on
2% / 10% of it), ``cpu-same`` (the bigram from exactly the prefix the full model trains on)
and ``cpu-full`` (the whole split, a 2 x 200 LSTM far better than the bigram). The full
story, tables and plots: docs/lm_ptb.md.

Run (local Ray; ``--address`` joins a cluster, ``--resume`` continues a stopped sweep)::

    python sweeps/lm_ptb.py                       # preset cpu: 48 trials, ~29 min idle
    python sweeps/lm_ptb.py --quick               # about a minute (tests)
    python sweeps/lm_ptb.py --preset cpu-full     # 4 trials, see docs/lm_ptb.md
    python sweeps/lm_ptb.py --analyze results/A results/B --name merged   # no training

Every LMConfig field is a flag (``--emb-size``, ``--dropout``, ...; an explicit flag wins
over the preset and its per-model settings); the grid axes are ``--models``,
``--methods``, ``--imm-lambdas``, ``--ks``, ``--train-fractions``, ``--seed-values`` and
``--restricted-data`` (``--seeds N``: seeds 0..N-1, a count as in every sweep). Every
grid point's config is validated before Ray starts. Ends with ``results: <CSV>`` (a row
per trial) and ``plot: <PNG>`` lines; exits 1 if a trial failed (its error printed) or
the sweep was interrupted.

Measured (preset cpu, seeds 0-2, full test split, mean ± 95% CI): LSTM test perplexity
at train_fraction 0.02 / 0.1: none 768.7 / 375.0, noising 723.5 / 383.6, reverse_kd
432.9 / 293.0, imm 499.0 / 294.0 (the KN bigram alone: 185.7).
"""

from __future__ import annotations

import sys

from imm_ray import sweep
from imm_ray.experiments.lm_ptb.config import param_space
from imm_ray.experiments.lm_ptb.sweep_args import parse_args  # LMConfig + LMGrid + options as flags

# torch, Ray and pandas are imported by the steps that use them, so that --help and a
# bad flag answer in a fraction of a second (benchmarks/cli_startup.py).

METRIC = "eval/valid_ppl"


def prepare_data(args) -> str:
    """Tokenise PTB once, before Ray (trials read only the cached .npz); a corpus or cache
    folder that cannot be used is ``error: ...`` and exit 2, like any other bad input."""
    from imm_ray.lm import data as lmdata

    try:
        return str(lmdata.prepare_corpus(args.data_dir or None, args.cache_dir or None))
    except ValueError as e:
        sweep.fail(str(e))


def check_trials(plan, data_path: str) -> None:
    """Every trial's batch sizes against the prepared corpus, and its largest tensor
    against this machine's memory, before Ray starts."""
    from imm_ray.checks import check_memory
    from imm_ray.lm import data as lmdata

    corpus = lmdata.load_corpus(data_path)
    try:
        for cfg in plan.trials:
            lmdata.check_batches(corpus, cfg)
            for flag, nbytes in cfg.logits_bytes(len(corpus.vocab)).items():
                check_memory(flag, nbytes, f"the logits it sets ({cfg.model}, {cfg.method})")
    except ValueError as e:
        sweep.fail(str(e))


def run(args, plan, data_path: str):
    """The Tuner: one trial per grid point, a checkpoint per epoch."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from imm_ray.experiments.lm_ptb.trainable import train_lm

    sweep.init_ray(args)
    scheduler = ASHAScheduler(max_t=args.epochs, grace_period=1) if args.asha else None
    space = param_space({**plan.fixed, "data_path": data_path}, plan.grid,
                        args.model_overrides)
    return sweep.run_tuner(train_lm, space, args, metric=METRIC, mode="min",
                              scheduler=scheduler,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


def finish(args, errors: dict, missing: int, expected: int) -> int:
    """Print failed trials' errors and say when the sweep is partial; the exit code."""
    for trial_id, message in errors.items():
        print(f"trial {trial_id} failed: {message}", file=sys.stderr)
    if missing:
        print(f"partial: {expected - missing} of {expected} trials ended; continue with "
              f"--resume --name {args.name} --storage-path {args.storage_path}",
              file=sys.stderr)
    return 1 if errors or missing else 0


def main(argv=None) -> int:
    args, plan = parse_args(__doc__, argv)
    from imm_ray.experiments.lm_ptb import report

    data_path = prepare_data(args)  # also for --analyze: the bigram's own perplexities
    check_trials(plan, data_path)
    if args.analyze:
        results, curves, errors = report.load(list(args.analyze))
        missing = 0
    else:
        print(f"preset {args.preset}: {len(plan.trials)} trials")
        grid = run(args, plan, data_path)
        results, curves, errors = report.collect(grid)
        missing = report.unfinished(grid)
        import ray

        ray.shutdown()  # flush Ray's log lines before the final results/plot lines
    csv, plots, text = report.write(results, curves, sweep.output_dir(args), data_path)
    print(text or "no trial finished")
    code = finish(args, errors, missing, len(plan.trials))
    sweep.print_outputs(csv, plots)
    return code


if __name__ == "__main__":
    sys.exit(main())
