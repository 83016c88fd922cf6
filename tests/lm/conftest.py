"""Fixtures for the LM tests: a small synthetic corpus in PTB's format, and PTB itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imm_ray.lm.data import DATA_DIR_ENV, default_data_dir

PTB_DIR = default_data_dir()
PTB_MISSING = f"PTB not found at {PTB_DIR} (set {DATA_DIR_ENV})"


def write_corpus(root: Path, n_lines=(400, 60, 60), vocab=40, seed=0) -> Path:
    """Zipf-ish sentences over ``vocab`` words (plus <unk>) in ptb.{split}.txt files."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)] + ["<unk>"]
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    root.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), n_lines, strict=True):
        lines = []
        for _ in range(n):
            length = int(rng.integers(3, 15))
            lines.append(" " + " ".join(rng.choice(words, size=length, p=p)) + " \n")
        (root / f"ptb.{split}.txt").write_text("".join(lines))
    return root


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("tiny_corpus"))


@pytest.fixture(scope="session")
def tiny_corpus_path(tiny_dir, tmp_path_factory) -> Path:
    from imm_ray.lm.data import prepare_corpus

    return prepare_corpus(tiny_dir, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_corpus(tiny_corpus_path):
    from imm_ray.lm.data import load_corpus

    return load_corpus(tiny_corpus_path)


@pytest.fixture(scope="session")
def ptb_corpus(tmp_path_factory):
    from imm_ray.lm.data import load_corpus, prepare_corpus

    if not PTB_DIR.is_dir():
        pytest.skip(PTB_MISSING)
    return load_corpus(prepare_corpus(PTB_DIR, cache_dir=tmp_path_factory.mktemp("ptb")))
