"""Language modelling with IMM, the reusable parts: corpora, LSTM/transformer LMs,
histories, the KN-bigram methods and one training run.

- :mod:`imm_ray.lm.data`: corpus preparation (``datasets``, offline) into a token cache,
  loading (numpy only), batches; :func:`~imm_ray.lm.data.default_data_dir` says where
  PTB is (``$IMM_RAY_PTB_DIR``); ``python -m imm_ray.lm.data prepare`` fills the cache.
- :mod:`imm_ray.lm.bigram`: the restricted model, a KN bigram on the full training split
  or on the model's own prefix (``restricted_data``), cached per prefix.
- :mod:`imm_ray.lm.models`: ``LSTMLM`` and ``TransformerLM``.
- :mod:`imm_ray.lm.histories`: training-corpus history windows ending in a given word.
- :mod:`imm_ray.lm.noising`: Kneser-Ney bigram data noising (Xie et al. 2017).
- :mod:`imm_ray.lm.config`, :mod:`imm_ray.lm.trainer`: one run (``LMConfig``,
  ``LMTrainer``).

The restricted model is :class:`imm_ray.restricted.kneser_ney.KneserNeyBigram`. The PTB
sweep built on these (presets, grid, trainable, report) is
``imm_ray/experiments/lm_ptb/``; its page is docs/lm_ptb.md.
"""
