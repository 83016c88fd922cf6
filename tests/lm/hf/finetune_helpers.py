"""Fixtures and builders for the fine-tuning tests: a WordPiece tokenizer trained on the
test corpus, a tiny acceptability-like task over it, tiny encoders (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm.hf import glue


@pytest.fixture(scope="session")
def tokenizer_wp(text_dir, tmp_path_factory):
    from imm_ray.lm.hf.encoders import train_wordpiece

    return train_wordpiece([text_dir / "train.txt"], 64, tmp_path_factory.mktemp("wp"))


def toy_split(text_dir, n=24, seed=0, pair=False) -> glue.TaskSplit:
    """Real lines (label 1) and lines with two words swapped (label 0)."""
    rng = np.random.default_rng(seed)
    lines = (text_dir / "train.txt").read_text().split("\n")[:n]
    a, labels = [], []
    for line in lines:
        words = line.split()
        label = int(rng.integers(2))
        if label == 0 and len(words) > 2:
            i = int(rng.integers(len(words) - 1))
            words[i], words[i + 1] = words[i + 1], words[i]
        a.append(" ".join(words))
        labels.append(label)
    return glue.TaskSplit(a, list(reversed(a)) if pair else None, np.asarray(labels))


def tiny_shared(name: str, vocab: int, seed=0, with_mlm=True, dropout=0.0):
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    from imm_ray.lm.hf.encoders import tiny_encoder_config
    from imm_ray.lm.hf.finetune import SharedEncoderModel

    torch.manual_seed(seed)
    config = tiny_encoder_config(name, vocab, 32, dropout)
    clf = AutoModelForSequenceClassification.from_config(config)
    mlm = AutoModelForMaskedLM.from_config(config) if with_mlm else None
    return SharedEncoderModel(clf, mlm)


def bigram_of(encoded, vocab):
    from imm_ray.lm.hf import bigram

    return bigram(np.concatenate([np.asarray(s) for s in encoded.sequences()]), vocab)
