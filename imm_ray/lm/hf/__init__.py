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

from imm_ray.lm.hf.checks import METHODS, TrainerSettings
from imm_ray.lm.hf.configs import BUILTIN, build_model
from imm_ray.lm.hf.corpus import BlockDataset, TextCorpus, text_corpus
from imm_ray.lm.hf.induced import ESTIMATORS
from imm_ray.lm.hf.restricted import bigram
from imm_ray.lm.hf.tokenizer import train_tokenizer


def __getattr__(name):  # transformers.Trainer is imported only when the trainer is used
    if name == "IMMTrainer":
        from imm_ray.lm.hf.trainer import IMMTrainer

        return IMMTrainer
    raise AttributeError(name)


__all__ = ["BUILTIN", "ESTIMATORS", "METHODS", "BlockDataset", "IMMTrainer", "TextCorpus",
           "TrainerSettings", "bigram", "build_model", "text_corpus", "train_tokenizer"]
