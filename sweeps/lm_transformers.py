"""IMM for Hugging Face causal LMs: a GPT-2-style model from scratch on PTB with a BPE
tokenizer trained on PTB, none / noising / reverse_kd / imm (sampled and in_batch).

What it shows: whether the Kneser-Ney bigram on subword ids helps a transformer trained
with the Hugging Face ``Trainer`` (:class:`imm_ray.lm.hf.IMMTrainer`) at two data
fractions, and what each IMM estimator costs. The full story: docs/lm_transformers.md.

Run (local Ray; ``--address`` joins a cluster, ``--resume`` continues a stopped sweep)::

    python sweeps/lm_transformers.py --quick          # 2 short trials, about a minute
    python sweeps/lm_transformers.py --model gpt2-mini --tokenizer train-bpe:2000 \\
        --block-size 64 --epochs 1 --train-fractions 0.1 1.0 --seeds 0 1 2
    python sweeps/lm_transformers.py --model ./my-llama --corpus ./my-texts \\
        --num-workers 2 --gpus-per-worker 1          # each trial on 2 Ray Train workers

``--model`` is a built-in config (gpt2-tiny, gpt2-mini, gpt2-small, llama-tiny, ...,
random weights) or a local model folder; ``--tokenizer`` '' (the model's), train-bpe:N,
train-wordlevel:N or a folder; ``--corpus`` a folder of text files (PTB by default).
Grid: ``--methods``, ``--imm-lambdas``, ``--estimators``, ``--train-fractions``,
``--seeds``; ``--num-workers`` 0 runs each Trainer inside its Tune trial, N >= 1 on N Ray
Train workers (``--gpus-per-worker``). Data is tokenised once before Ray and cached.
Ends with ``results: <CSV>`` (method, estimator, imm_lambda, k, train_fraction, seed,
valid_ppl, test_ppl, ...) and ``plot: <PNG>``.

Measured (docs/lm_transformers.md, 'Results', the command there): gpt2-mini from scratch,
BPE-300 on PTB, 150 steps, on 1% / 4% of the training split; see that page for the
table (mean of 3 seeds). --quick (gpt2-tiny, BPE-500, 20 steps) is a smoke test: test
perplexity ~200 per token for both of its trials.
"""

from __future__ import annotations

import sys

from imm_ray import sweep
from imm_ray.experiments.lm_transformers.cli import parse_args, trial_dicts
from imm_ray.sweep.run import fail

# torch, transformers and Ray are imported where used, after the flags are parsed: --help
# and a bad flag answer in a fraction of a second.


def prepare_data(args):
    """Tokenizer, token streams and bigram, once, before Ray (cached by content hash)."""
    from imm_ray.experiments.lm_transformers.data import prepare

    prepared = prepare(args.corpus, args.tokenizer, args.model, args.block_size,
                       args.cache_dir)
    print(f"data: {prepared.corpus_path} (vocabulary {prepared.vocab_size}; bigram test ppl "
          f"{prepared.bigram_test_ppl:.1f})")
    return prepared


def run(args, trials, prepared):
    """The Tuner: one trial per grid point; each trial one Trainer run."""
    from ray import tune

    from imm_ray.experiments.lm_transformers.trainable import train_lm_transformers
    from imm_ray.lm.hf.ray_train import check_workers

    sweep.init_ray(args)
    if args.num_workers:  # all of a trial's workers must fit on the cluster
        try:
            check_workers(args.num_workers, 1.0, args.gpus_per_worker)
        except ValueError as e:
            fail(str(e))
    space = {"trial": tune.grid_search(trial_dicts(trials, prepared)),
             "n_positions": max(args.block_size, args.imm_length)}
    return sweep.run_tuner(train_lm_transformers, space, args, metric="valid_ppl", mode="min",
                           checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


def main(argv=None) -> int:
    args, trials = parse_args(__doc__.splitlines()[0], argv)   # 1. flags, checked
    prepared = prepare_data(args)                               # 2. data, once
    print(f"{len(trials)} trials")
    grid = run(args, trials, prepared)                          # 3. Tuner
    from imm_ray.experiments.lm_transformers import plots, report
    from imm_ray.experiments.lm_transformers.data import bigram_ppls
    from imm_ray.experiments.lm_transformers.trainable import ROW_FIELDS

    rows = sweep.finished_rows(grid, args, ROW_FIELDS,          # 4. one row per trial
                               ["train_fraction", "method", "estimator", "imm_lambda", "seed"])
    out = sweep.output_dir(args)
    bigram = bigram_ppls(prepared, args.eval_tokens)          # on the evaluated tokens
    csv, text = report.write(rows, out, bigram)                 # 5. table, CSV, plot
    png = plots.plot(rows, out, bigram["test"])
    print(text)
    sweep.print_outputs(csv, [png])
    return 1 if grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
