"""Every metric name a trainable reports to Tune and a report reads, defined once.

Trainables report scalars under these names (``tune.report``); per-seed / per-ratio rows
go to a ``rows.parquet`` file in the trial's checkpoint (:func:`imm_ray.sweep.report`,
read back by :func:`imm_ray.analysis.load_rows`), with readable string columns such as
``method``. ``docs/metrics.md`` documents each name.
"""

# Training losses (per epoch / iteration).
LOSS_MAIN = "loss/main"
LOSS_IMM = "loss/imm"
LOSS_REVERSE_KD = "loss/reverse_kd"
"""RL: the per-sample matching term (reverse knowledge distillation to the restricted
policy); the LM's is :data:`LOSS_KD`."""

# Evaluation.
EVAL_VALID_LOG_LOSS = "eval/valid_log_loss"
EVAL_TEST_LOG_LOSS = "eval/test_log_loss"
EVAL_TEST_ACCURACY = "eval/test_accuracy"
EVAL_BEST_RATIO = "eval/best_ratio"
EVAL_VALID_PPL = "eval/valid_ppl"
"""LM: per-epoch validation perplexity of the current weights (first ``valid_tokens``
tokens; all when 0)."""
VALID_PPL = "valid_ppl"
"""LM, last report: best-validation weights on the validation split (its first
``test_tokens`` tokens when that is > 0)."""
TEST_PPL = "test_ppl"
"""LM, last report: best-validation weights on the test split (its first ``test_tokens``
tokens when that is > 0)."""
LOSS_KD = "loss/kd"
"""LM reverse_kd: the per-position CE against the bigram."""
LR = "lr"
IMM_ACTIVE = "imm_active"
"""LM: 1.0 once the IMM term is switched on (imm_start_ppl), else 0.0."""
N_TRAIN_TOKENS = "n_train_tokens"
TIME_TOTAL_S = "time/total_s"
"""LM: seconds of training steps and per-epoch validation so far, summed across resumes
(not Tune's ``time_total_s``)."""
EVAL_MEAN_RETURN = "eval/mean_return"
TRAIN_EPISODE_RETURN_MEAN = "train/episode_return_mean"

# Bookkeeping.
NODE_ID = "node_id"
"""Every result: the Ray node the trial ran on (added by :func:`imm_ray.sweep.report`)."""
EPOCH = "epoch"
"""LM and RL, every report: epochs (LM, RL grid) or iterations (RL view) done; the
one-report lambda-vs-n trials have none."""

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
