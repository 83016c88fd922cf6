"""Language modelling with IMM: PTB data, LSTM/transformer LMs, the KN-bigram methods.

- :mod:`imm_ray.lm.data`: corpus preparation (``datasets``, offline) into a token cache,
  loading (numpy only), batches; :func:`~imm_ray.lm.data.default_data_dir` says where
  PTB is (``$IMM_RAY_PTB_DIR``); ``python -m imm_ray.lm.data prepare`` fills the cache.
- :mod:`imm_ray.lm.bigram`: the restricted model, a KN bigram on the full training split
  or on the model's own prefix (``restricted_data``), cached per prefix.
- :mod:`imm_ray.lm.models`: ``LSTMLM`` and ``TransformerLM``.
- :mod:`imm_ray.lm.histories`: training-corpus history windows ending in a given word.
- :mod:`imm_ray.lm.noising`: Kneser-Ney bigram data noising (Xie et al. 2017).
- :mod:`imm_ray.lm.config`, :mod:`imm_ray.lm.trainer`, :mod:`imm_ray.lm.train`: one run
  (``LMConfig``, ``LMTrainer``) and the Tune trainable ``train_lm``.
- :mod:`imm_ray.lm.presets`, :mod:`imm_ray.lm.grid`, :mod:`imm_ray.lm.sweep_args`: the
  sweep's presets, grid axes and flags (every grid point validated before Ray).
- :mod:`imm_ray.lm.report`, :mod:`imm_ray.lm.plots`: tables and plots of a sweep.

The restricted model is :class:`imm_ray.restricted.kneser_ney.KneserNeyBigram`; the
experiment's page is docs/lm_ptb.md.
"""
