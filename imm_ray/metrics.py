"""Every metric name a trainable reports to Tune and a report reads, defined once.

Trainables report scalars under these names (``tune.report``); per-seed / per-ratio rows
go to a ``rows.parquet`` file in the trial's checkpoint (:func:`imm_ray.tune_cli.report`,
read back by :func:`imm_ray.analysis.load_rows`), with readable string columns such as
``method``. ``docs/metrics.md`` documents each name.
"""

# Training losses (per epoch / iteration).
LOSS_MAIN = "loss/main"
LOSS_IMM = "loss/imm"
LOSS_REVERSE_KD = "loss/reverse_kd"
"""The per-sample matching term (reverse knowledge distillation to the restricted model)."""

# Evaluation.
EVAL_VALID_LOG_LOSS = "eval/valid_log_loss"
EVAL_TEST_LOG_LOSS = "eval/test_log_loss"
EVAL_TEST_ACCURACY = "eval/test_accuracy"
EVAL_BEST_RATIO = "eval/best_ratio"
EVAL_VALID_PPL = "eval/valid_ppl"
"""LM: per-epoch validation perplexity (first ``valid_tokens`` tokens)."""
VALID_PPL = "valid_ppl"
"""LM, last report: best-validation weights on the full validation split."""
TEST_PPL = "test_ppl"
"""LM, last report: best-validation weights on the test split."""
LOSS_KD = "loss/kd"
"""LM reverse_kd: the per-position CE against the bigram."""
LR = "lr"
IMM_ACTIVE = "imm_active"
"""LM: 1.0 once the IMM term is switched on (imm_start_ppl), else 0.0."""
N_TRAIN_TOKENS = "n_train_tokens"
TIME_TOTAL_S = "time/total_s"
"""Seconds of training steps and validation so far, summed across resumes."""
EVAL_MEAN_RETURN = "eval/mean_return"
TRAIN_EPISODE_RETURN_MEAN = "train/episode_return_mean"

# Bookkeeping every result carries.
NODE_ID = "node_id"
EPOCH = "epoch"

# Files a trial writes into its checkpoint.
ROWS_FILE = "rows.parquet"
"""The trial's tidy rows (one per seed, ratio, ...), string columns kept."""
RESOLVED_CONFIG_FILE = "resolved_config.json"
"""The trial's config dataclass with every default filled in."""

# The batched fit of a lambda-vs-n cell (all seeds x ratios of one method and n).
FIT_MODELS = "fit/models"
FIT_SECONDS = "fit/seconds"
FIT_MODELS_PER_SECOND = "fit/models_per_second"
FIT_MAX_ITERATIONS = "fit/max_iterations"
FIT_ALL_CONVERGED = "fit/all_converged"
FIT_CPU_SECONDS = "fit/cpu_seconds"
"""CPU time of the whole cell (fits and evaluation) in its process: on a shared machine,
the sum over trials / cores estimates the sweep's wall time on idle cores."""
