"""IMM for Hugging Face causal LMs: any corpus, any tokenizer, one process or Ray Train.

- :func:`text_corpus` (:mod:`~imm_ray.lm.hf.corpus`): text files / a folder / a
  ``datasets.Dataset`` -> token streams and ``block_size`` blocks.
- :func:`train_tokenizer` (:mod:`~imm_ray.lm.hf.tokenizer`): the offline BPE / WordLevel
  recipe with the ``tokenizers`` library.
- :func:`bigram` (:mod:`~imm_ray.lm.hf.restricted`): Kneser-Ney on token ids, sparse.
- :class:`IMMTrainer` (:mod:`~imm_ray.lm.hf.trainer`): ``transformers.Trainer`` with
  ``none`` / ``imm`` (``sampled`` or ``in_batch``, :mod:`~imm_ray.lm.hf.induced`) /
  ``reverse_kd`` / ``noising``.
- :func:`build_model` (:mod:`~imm_ray.lm.hf.configs`): tiny built-in configs or a folder.
- :mod:`~imm_ray.lm.hf.ray_train`: the same run data-parallel through Ray Train.

The page is docs/lm_transformers.md.
"""

_HOMES = {"METHODS": "checks", "TrainerSettings": "checks", "BUILTIN": "configs",
          "build_model": "configs", "BlockDataset": "corpus", "TextCorpus": "corpus",
          "text_corpus": "corpus", "ESTIMATORS": "checks", "bigram": "restricted",
          "train_tokenizer": "tokenizer", "IMMTrainer": "trainer"}


def __getattr__(name):
    # Lazy: ``hf.IMMTrainer`` imports transformers.Trainer only when it is used, and a
    # sweep's ``--help`` imports none of this.
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = sorted(_HOMES)
