"""Any text corpus, any Hugging Face tokenizer -> fixed-length blocks for a causal LM.

:func:`text_corpus` reads plain text files (a line per document or sentence, any names),
a folder of them, a ``{split: path}`` mapping, or a ``datasets.Dataset`` /
``DatasetDict`` with a text column; tokenises every line with the given tokenizer
(appending its end-of-sequence token when it has one), concatenates each split into one
stream of token ids and cuts it into ``block_size`` blocks::

    corpus = text_corpus("data/ptb", tok, block_size=64)   # ptb.train.txt, ptb.valid.txt, ...
    corpus.train_ids     # [n] int64: the whole training stream (for the bigram, histories)
    corpus.train         # a torch Dataset of {"input_ids", "labels"} [block_size] blocks

Splits are found by name (a file whose name contains ``train``, ``valid`` / ``validation``
/ ``dev``, ``test``); without a validation split the last ``valid_fraction`` of the
training stream becomes one. Nothing is downloaded here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "validation", "dev"), "test": ("test",)}
TEXT_SUFFIXES = (".txt", ".text", ".raw", ".tokens")


class BlockDataset(torch.utils.data.Dataset):
    """Non-overlapping ``block_size`` blocks of a token stream (``labels == input_ids``;
    a causal LM shifts them); ``vocab_size`` is the tokenizer's, checked by the trainer."""

    def __init__(self, ids: np.ndarray, block_size: int, vocab_size: int):
        n = len(ids) // block_size
        self.blocks = torch.as_tensor(ids[: n * block_size], dtype=torch.long).view(n, block_size)
        self.block_size, self.vocab_size = block_size, vocab_size

    def __len__(self) -> int:
        return self.blocks.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        block = self.blocks[i]
        return {"input_ids": block, "labels": block.clone()}


@dataclass
class TextCorpus:
    """Token streams per split (``[n]`` int64) and their block datasets."""

    train_ids: np.ndarray
    valid_ids: np.ndarray
    test_ids: np.ndarray | None
    block_size: int
    vocab_size: int

    def blocks(self, split: str, fraction: float = 1.0) -> BlockDataset:
        """The split's blocks; ``fraction`` keeps the first part of the stream."""
        ids = getattr(self, f"{split}_ids")
        return BlockDataset(ids[: int(len(ids) * fraction)], self.block_size, self.vocab_size)

    @property
    def train(self) -> BlockDataset:
        return self.blocks("train")

    @property
    def valid(self) -> BlockDataset:
        return self.blocks("valid")

    @property
    def test(self) -> BlockDataset | None:
        return None if self.test_ids is None else self.blocks("test")

    def save(self, path: str | os.PathLike) -> None:
        """The streams as one ``.npz`` (no pickle); :meth:`load` reads it back."""
        arrays = {"train_ids": self.train_ids, "valid_ids": self.valid_ids,
                  "block_size": np.asarray(self.block_size),
                  "vocab_size": np.asarray(self.vocab_size)}
        if self.test_ids is not None:
            arrays["test_ids"] = self.test_ids
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TextCorpus:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["train_ids"], z["valid_ids"], z["test_ids"] if "test_ids" in z else None,
                       int(z["block_size"]), int(z["vocab_size"]))


def text_corpus(source, tokenizer, block_size: int, valid_fraction: float = 0.05,
                text_column: str = "text") -> TextCorpus:
    """Tokenise ``source`` into a :class:`TextCorpus` (see the module doc).

    Args:
        source: a text file, a list of files (the training split), a folder, a mapping
            ``{"train": path, "valid": path, "test": path}``, or a ``datasets.Dataset``
            (training split) / ``DatasetDict`` with a ``text_column``.
        tokenizer: any Hugging Face tokenizer (``len(tokenizer)`` is the vocabulary).
        block_size: tokens per training block, >= 2.
        valid_fraction: share of the training stream held out when no validation split
            is given, in (0, 0.5].
        text_column: the column holding text in a ``datasets`` source.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}")
    if not 0 < valid_fraction <= 0.5:
        raise ValueError(f"valid_fraction must be in (0, 0.5], got {valid_fraction!r}")
    lines = read_splits(source, text_column)
    ids = {s: encode_lines(tokenizer, text) for s, text in lines.items()}
    if "valid" not in ids:
        cut = int(len(ids["train"]) * (1 - valid_fraction))
        ids["train"], ids["valid"] = ids["train"][:cut], ids["train"][cut:]
    for split in ("train", "valid"):
        if len(ids[split]) < block_size + 1:
            raise ValueError(f"source: the {split} split has {len(ids[split])} tokens, fewer "
                             f"than block_size + 1 = {block_size + 1}")
    return TextCorpus(ids["train"], ids["valid"], ids.get("test"), block_size, len(tokenizer))


def encode_lines(tokenizer, lines: Sequence[str]) -> np.ndarray:
    """Non-empty lines -> one ``[n]`` int64 stream, each line ending in the EOS token
    (when the tokenizer has one)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    eos = tokenizer.eos_token_id
    out: list[int] = []
    for start in range(0, len(lines), 1000):
        enc = tokenizer(lines[start:start + 1000], add_special_tokens=False)["input_ids"]
        for row in enc:
            out.extend(row)
            if eos is not None:
                out.append(eos)
    return np.asarray(out, dtype=np.int64)


def read_splits(source, text_column: str = "text") -> dict[str, list[str]]:
    """``{split: lines}`` for every split the source has (``train`` always)."""
    if _is_datasets(source):
        return _dataset_lines(source, text_column)
    return {s: _read_files(s, paths) for s, paths in split_files(source).items()}


def split_files(source) -> dict[str, list[Path]]:
    """``{split: [files]}`` of a file, list of files, folder or split mapping."""
    if isinstance(source, Mapping):
        files = {s: [Path(p)] if not isinstance(p, (list, tuple)) else [Path(q) for q in p]
                 for s, p in source.items()}
        unknown = set(files) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"source: split names must be in {sorted(SPLIT_NAMES)}, got "
                             f"{sorted(unknown)}")
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files = _folder_splits(Path(source))
    elif isinstance(source, (str, os.PathLike)):
        files = {"train": [Path(source)]}
    elif isinstance(source, (list, tuple)) and source:
        files = {"train": [Path(p) for p in source]}
    else:
        raise ValueError(f"source must be a file, a list of files, a folder, a split "
                         f"mapping or a datasets.Dataset, got {type(source).__name__}")
    if "train" not in files:
        raise ValueError(f"source has no training split (got {sorted(files)})")
    return files


def _folder_splits(root: Path) -> dict[str, list[Path]]:
    found = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in TEXT_SUFFIXES)
    if not found:
        raise ValueError(f"source folder {str(root)!r} has no text files "
                         f"({', '.join(TEXT_SUFFIXES)})")
    splits: dict[str, list[Path]] = {}
    for p in found:
        name = p.stem.lower()
        split = next((s for s, keys in SPLIT_NAMES.items()
                      if any(k in name.replace("-", ".").replace("_", ".").split(".")
                             for k in keys)), None)
        splits.setdefault(split or "train", []).append(p)
    return splits


def _read_files(split: str, paths: list[Path]) -> list[str]:
    lines: list[str] = []
    for p in paths:
        if not p.is_file():
            raise ValueError(f"source: the {split} file {str(p)!r} does not exist")
        lines.extend(p.read_text(encoding="utf-8").removeprefix("\ufeff").splitlines())
    if not any(ln.strip() for ln in lines):
        raise ValueError(f"source: the {split} split ({', '.join(map(str, paths))}) has no text")
    return lines


def _is_datasets(source) -> bool:
    return type(source).__module__.startswith("datasets")


def _dataset_lines(source, text_column: str) -> dict[str, list[str]]:
    if hasattr(source, "column_names") and isinstance(source.column_names, list):
        source = {"train": source}  # a single Dataset is the training split
    out = {}
    for name, ds in source.items():
        split = next((s for s, keys in SPLIT_NAMES.items() if name in keys), None)
        if split is None:
            raise ValueError(f"source: DatasetDict split {name!r} is not one of "
                             f"{sorted(sum(SPLIT_NAMES.values(), ()))}")
        if text_column not in ds.column_names:
            raise ValueError(f"text_column {text_column!r} is not a column of the {name} "
                             f"split (columns: {ds.column_names})")
        lines = [t for t in ds[text_column] if t and t.strip()]
        if not lines:
            raise ValueError(f"source: the {name} split has no text")
        out[split] = lines
    if "train" not in out:
        raise ValueError(f"source has no training split (got {sorted(source)})")
    return out
