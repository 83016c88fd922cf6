"""Penn Treebank language models with a Kneser-Ney bigram (docs/lm_ptb.md;
``sweeps/lm_ptb.py``), built on the reusable parts in :mod:`imm_ray.lm`.

- :mod:`~imm_ray.experiments.lm_ptb.config`, :mod:`~imm_ray.experiments.lm_ptb.config`,
  :mod:`~imm_ray.experiments.lm_ptb.sweep_args`: the sweep's presets, grid axes and flags
  (every grid point validated before Ray).
- :mod:`~imm_ray.experiments.lm_ptb.trainable`: ``train_lm``, the Tune trainable (one
  :class:`~imm_ray.lm.trainer.LMTrainer` run per trial).
- :mod:`~imm_ray.experiments.lm_ptb.report`, :mod:`~imm_ray.experiments.lm_ptb.plots`:
  tables and plots of a sweep.
"""
