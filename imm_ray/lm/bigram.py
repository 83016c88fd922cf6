"""The LM's restricted model: a Kneser-Ney bigram on the full training split or on exactly
the prefix the full model trains on, fitted once per (corpus, prefix) and cached.

``restricted_data="full"`` estimates the bigram on the whole training split (a restricted
model from a larger auxiliary dataset); ``"same"`` on the first ``train_fraction`` of it,
the very tokens the full model sees (the paper's "restricted model from the same data").
The fitted arrays are cached beside the prepared corpus as
``<corpus>.kn<n_tokens>.npz`` (``n_tokens``: the prefix length, so each fraction has its own).
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from imm_ray.lm import data as lmdata
from imm_ray.restricted.kneser_ney import KneserNeyBigram

RESTRICTED_DATA = ("full", "same")


def bigram_tokens(train: np.ndarray, train_fraction: float, restricted_data: str) -> np.ndarray:
    """The training tokens the bigram is estimated on (``[n]``)."""
    if restricted_data not in RESTRICTED_DATA:
        raise ValueError(f"restricted_data must be one of {RESTRICTED_DATA}, got "
                         f"{restricted_data!r}")
    return train if restricted_data == "full" else lmdata.train_prefix(train, train_fraction)


def cache_path(corpus_path: str | os.PathLike, n_tokens: int) -> Path:
    p = Path(corpus_path)
    return p.with_name(f"{p.stem}.kn{n_tokens}.npz")


def restricted_model(corpus: lmdata.Corpus, train_fraction: float, restricted_data: str,
                     corpus_path: str | os.PathLike | None = None) -> KneserNeyBigram:
    """The fitted bigram for this setting, read from / written to the cache when
    ``corpus_path`` (the prepared ``.npz``) is given; a cache file that does not load is
    refitted."""
    tokens = bigram_tokens(corpus.train, train_fraction, restricted_data)
    if corpus_path is None:
        return KneserNeyBigram.fit(tokens, corpus.vocab_size)
    path = cache_path(corpus_path, len(tokens))
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                kn = KneserNeyBigram.from_arrays(z)
            if kn.num_classes == corpus.vocab_size:
                return kn
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            print(f"notice: refitting the bigram, cache {str(path)!r} unreadable: {e}",
                  file=sys.stderr)
    kn = KneserNeyBigram.fit(tokens, corpus.vocab_size)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **kn.to_arrays())
    os.replace(tmp, path)  # atomic: trials fitting the same prefix never see half a file
    return kn
