"""Fixtures for the Hugging Face LM tests: a small text corpus, a tokenizer trained on it,
tiny random-weight models. Nothing is downloaded (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def write_text(root: Path, lines=(300, 40, 40), vocab=30, seed=0) -> Path:
    """Sentences over ``vocab`` words with a bigram structure, in train/valid/test files."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    root.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), lines, strict=True):
        out = []
        for _ in range(n):
            w = int(rng.integers(vocab))
            sent = []
            for _ in range(int(rng.integers(4, 12))):
                sent.append(words[w])
                w = (w + int(rng.integers(1, 4))) % vocab
            out.append(" ".join(sent))
        (root / f"{split}.txt").write_text("\n".join(out) + "\n")
    return root


@pytest.fixture(scope="session")
def text_dir(tmp_path_factory) -> Path:
    return write_text(tmp_path_factory.mktemp("hf_text"))


@pytest.fixture(scope="session")
def tokenizer(text_dir, tmp_path_factory):
    from imm_ray.lm.hf import train_tokenizer

    return train_tokenizer([text_dir / "train.txt"], "wordlevel", 64,
                           tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def corpus(text_dir, tokenizer):
    from imm_ray.lm.hf import text_corpus

    return text_corpus(text_dir, tokenizer, block_size=16)


@pytest.fixture(scope="session")
def kn(corpus):
    from imm_ray.lm.hf import bigram

    return bigram(corpus.train_ids, corpus.vocab_size)


@pytest.fixture
def make_args(tmp_path):
    """``make_args(**overrides)`` -> CPU ``TrainingArguments`` for a few steps."""
    return lambda **kw: training_args(tmp_path, **kw)


def training_args(tmp_path, **kw):
    from transformers import TrainingArguments

    base = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4,
                max_steps=2, logging_steps=1, report_to=[], use_cpu=True, disable_tqdm=True,
                save_strategy="no", seed=0, dataloader_num_workers=0)
    return TrainingArguments(**{**base, **kw})
