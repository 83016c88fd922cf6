"""Language modelling with IMM: PTB data, LSTM/transformer LMs, the KN-bigram methods.

- :mod:`imm_ray.lm.data`: corpus loading through ``datasets``, vocabulary, cache, batches.
- :mod:`imm_ray.lm.models`: ``LSTMLM`` and ``TransformerLM``.
- :mod:`imm_ray.lm.histories`: training-corpus history windows ending in a given word.
- :mod:`imm_ray.lm.noising`: Kneser-Ney bigram data noising (Xie et al. 2017).
- :mod:`imm_ray.lm.config`, :mod:`imm_ray.lm.trainer`, :mod:`imm_ray.lm.train`: one run
  (``LMConfig``, ``LMTrainer``) and the Tune trainable ``train_lm``.
- :mod:`imm_ray.lm.presets`: the settings of ``sweeps/lm_ptb.py``'s presets.

The restricted model is :class:`imm_ray.restricted.kneser_ney.KneserNeyBigram`.
"""
