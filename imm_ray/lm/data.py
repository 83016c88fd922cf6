"""Penn Treebank (or any one-sentence-per-line corpus): vocabulary, token cache, batches.

Data is prepared once, outside trials: :func:`prepare_corpus` reads the three splits
(Hugging Face ``datasets.load_dataset("text", ...)``, offline), builds the vocabulary from
the training split, appends ``<eos>`` to every line, and caches the token ids as one
``.npz`` keyed by the files' SHA-256. Trials only call :func:`load_corpus` on the path it
returns (numpy only: no ``datasets`` needed there)::

    path = prepare_corpus(default_data_dir())   # $IMM_RAY_PTB_DIR or ../shared/data/ptb
    corpus = load_corpus(path)                  # Corpus(vocab, train, valid, test)
    batches = batchify(corpus.train, 20)        # [20, n // 20] for truncated BPTT

Where PTB is found is decided in one place, :func:`default_data_dir`. From the shell::

    python -m imm_ray.lm.data prepare --data-dir ../shared/data/ptb   # prints the .npz path
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SPLITS = ("train", "valid", "test")
EOS = "<eos>"
UNK = "<unk>"
DATA_DIR_ENV = "IMM_RAY_PTB_DIR"
"""Environment variable naming the PTB folder (default: ``shared/data/ptb`` beside the repo)."""
BOM = "\ufeff"
DEFAULT_PATTERN = "ptb.{split}.txt"
CACHE_VERSION = "2"  # 2: a UTF-8 byte-order mark is stripped


@dataclass
class Corpus:
    """A tokenised corpus: ``vocab[i]`` is word ``i``; splits are int64 id arrays."""

    vocab: list[str]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)


def split_files(data_dir: str | os.PathLike, pattern: str = DEFAULT_PATTERN) -> dict:
    """``{split: Path}`` for the three files; FileNotFoundError names the missing path."""
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(f"data directory {str(root)!r} is a file, not a folder; "
                                f"expected a folder with {pattern.format(split='train')}, "
                                f"{pattern.format(split='valid')} and "
                                f"{pattern.format(split='test')}")
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {str(root)!r} does not exist; expected a "
                                f"folder with {pattern.format(split='train')}, "
                                f"{pattern.format(split='valid')} and "
                                f"{pattern.format(split='test')}")
    files = {s: root / pattern.format(split=s) for s in SPLITS}
    for s, f in files.items():
        if not f.is_file():
            raise FileNotFoundError(f"{s} split not found: looked for {str(f)!r} (a text file "
                                    "with one sentence per line)")
    return files


def files_hash(files: dict) -> str:
    """SHA-256 over the splits' bytes (and their split names): the cache key."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for s in SPLITS:
        h.update(s.encode())
        h.update(Path(files[s]).read_bytes())
    return h.hexdigest()[:16]


def read_lines_local(files: dict, cache_dir: str | os.PathLike | None = None
                     ) -> dict[str, list[str]]:
    """Lines of each split via ``datasets.load_dataset("text")``, never touching the hub.

    Hugging Face ``datasets`` keeps its own cache (by default in ``~/.cache/huggingface``);
    it goes to ``cache_dir/hf_datasets`` instead (default: :func:`default_cache_dir`), so
    nothing is written to the home folder unless the cache itself is there."""
    hf_cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    for s, f in files.items():
        _check_text_file(f, s)
    ds = datasets.load_dataset("text", data_files={s: str(f) for s, f in files.items()},
                               keep_in_memory=True, cache_dir=str(hf_cache / "hf_datasets"))
    lines = {s: list(ds[s]["text"]) for s in SPLITS}
    for split_lines in lines.values():  # a BOM must not become part of the first word
        if split_lines and split_lines[0].startswith(BOM):
            split_lines[0] = split_lines[0][len(BOM):]
    return lines


def _check_text_file(path: Path, split: str) -> None:
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{split} split {str(path)!r} is empty; expected one sentence per line")
    nul = raw.find(b"\x00")
    if nul >= 0:  # anywhere: a NUL would otherwise become part of a vocabulary word
        line = raw.count(b"\n", 0, nul) + 1
        raise ValueError(f"{split} split {str(path)!r} line {line} has a NUL byte (looks "
                         "binary); expected UTF-8 text with one whitespace-tokenised sentence "
                         "per line")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{split} split {str(path)!r} is not UTF-8 text ({e}); expected one "
                         "whitespace-tokenised sentence per line") from e


def build_vocab(train_lines: list[str]) -> list[str]:
    """Training-split words by decreasing count (ties by first appearance), ``<eos>`` first."""
    counts = Counter(w for line in train_lines for w in line.split())
    counts.pop(EOS, None)
    return [EOS] + [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])]


def tokenize(lines: list[str], word_to_id: dict[str, int], split: str) -> np.ndarray:
    """Ids of the words of ``lines`` with ``<eos>`` after each line (int64 ``[n]``).

    Words outside the vocabulary become ``<unk>`` when the vocabulary has one; otherwise
    ValueError (PTB's vocabulary is closed: every valid/test word occurs in train).
    """
    unk = word_to_id.get(UNK)
    eos = word_to_id[EOS]
    ids: list[int] = []
    for n, line in enumerate(lines):
        for w in line.split():
            i = word_to_id.get(w, unk)
            if i is None:
                raise ValueError(f"{split} split line {n + 1}: word {w!r} is not in the "
                                 f"training vocabulary and there is no {UNK!r} token; "
                                 "expected a closed vocabulary")
            ids.append(i)
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def tokenize_splits(lines: dict[str, list[str]]) -> Corpus:
    """Vocabulary from train, then ids for all three splits."""
    if not any(line.split() for line in lines["train"]):
        raise ValueError("the training split has no words; expected one sentence per line")
    vocab = build_vocab(lines["train"])
    w2i = {w: i for i, w in enumerate(vocab)}
    return Corpus(vocab, *(tokenize(lines[s], w2i, s) for s in SPLITS))


def default_data_dir() -> Path:
    """Where PTB is looked for: ``$IMM_RAY_PTB_DIR``, else ``shared/data/ptb`` next to the
    repository (the project's CI layout). The one place that decides it."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ptb"


def default_cache_dir() -> Path:
    return Path(os.environ.get("IMM_RAY_CACHE", "~/.cache/imm_ray")).expanduser()


def prepare_corpus(data_dir: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None,
                   pattern: str = DEFAULT_PATTERN) -> Path:
    """Tokenise once and return the cached ``.npz`` path (reused when the files match;
    a cache file that does not load, e.g. truncated, is rebuilt with a notice).

    Args:
        data_dir: folder with the three split files (``pattern`` names them); None:
            :func:`default_data_dir`.
        cache_dir: where the ``.npz`` goes (default ``$IMM_RAY_CACHE`` or
            ``~/.cache/imm_ray``).
    """
    data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    files = split_files(data_dir, pattern)
    check_cache_dir(cache)
    out = cache / f"lm_{data_dir.name or 'corpus'}_{files_hash(files)}.npz"
    if out.is_file():
        try:
            load_corpus(out)
            return out
        except ValueError as e:
            print(f"notice: rebuilding the corpus cache: {e}", file=sys.stderr)
    _save(tokenize_splits(read_lines_local(files, cache)), out)
    return out


def check_cache_dir(cache: Path) -> None:
    """ValueError naming the token cache folder (``--cache-dir``) unless it is, or can be
    made, a writable folder (a probe file is written and removed)."""
    where = f"the token cache folder (--cache-dir) {str(cache)!r}"
    if cache.exists() and not cache.is_dir():
        raise ValueError(f"{where} is a file, not a folder")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = cache / f".probe_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"{where} is not writable: {e.strerror or e}"
                         f"{f' ({e.filename})' if e.filename else ''}") from None


def _save(corpus: Corpus, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, vocab=np.asarray(corpus.vocab), train=corpus.train, valid=corpus.valid,
             test=corpus.test)
    os.replace(tmp, out)  # atomic: concurrent preparers never see half a file


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Read a corpus written by :func:`prepare_corpus`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"prepared corpus not found at {str(p)!r}; run "
                                "imm_ray.lm.data.prepare_corpus first")
    try:
        with np.load(p, allow_pickle=False) as z:
            return Corpus([str(w) for w in z["vocab"]], z["train"], z["valid"], z["test"])
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{str(p)!r} is not a prepared corpus (expected an .npz with vocab, "
                         f"train, valid, test): {e}") from e


def train_prefix(train: np.ndarray, fraction: float) -> np.ndarray:
    """The first ``fraction`` of the training tokens (at least 2 tokens)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction!r}")
    return train[: max(2, int(round(fraction * len(train))))]


def check_batches(corpus: Corpus, cfg) -> None:
    """ValueError naming the flags when a split of ``corpus`` is too short for the batch
    size an :class:`imm_ray.lm.config.LMConfig` gives it (at least 2 tokens per row):
    what :func:`batchify` would raise inside a trial, checked in the driver instead."""
    train = len(train_prefix(corpus.train, cfg.train_fraction))
    valid = len(corpus.valid[: cfg.valid_tokens] if cfg.valid_tokens else corpus.valid)
    cap = cfg.test_tokens or None
    for flag, part, tokens, size in (
            (f"--batch-size {cfg.batch_size} (--train-fractions {cfg.train_fraction:g})",
             "training prefix", train, cfg.batch_size),
            (f"--eval-batch-size {cfg.eval_batch_size}", "validation split", valid,
             cfg.eval_batch_size),
            (f"--eval-batch-size {cfg.eval_batch_size}", "test split",
             len(corpus.test[:cap]), cfg.eval_batch_size)):
        if tokens // size < 2:
            raise ValueError(f"{flag}: the {part} has {tokens} tokens, fewer than 2 per row "
                             f"of {size}; use a batch size of at most {max(1, tokens // 2)} "
                             "(or a larger fraction of the training data)")


def batchify(data: np.ndarray | Tensor, batch_size: int) -> Tensor:
    """``[n]`` -> ``[batch_size, n // batch_size]``: row b is a contiguous stretch."""
    data = torch.as_tensor(data, dtype=torch.long)
    cols = len(data) // batch_size
    if cols < 2:
        raise ValueError(f"{len(data)} tokens are too few for batch_size={batch_size}")
    return data[: cols * batch_size].view(batch_size, cols)


def bptt_batches(rows: Tensor, bptt: int):
    """Yield ``(inputs [B, T], targets [B, T])`` windows of ``rows`` for truncated BPTT."""
    for i in range(0, rows.shape[1] - 1, bptt):
        t = min(bptt, rows.shape[1] - 1 - i)
        yield rows[:, i:i + t], rows[:, i + 1:i + 1 + t]


def num_bptt_batches(rows: Tensor, bptt: int) -> int:
    return -(-(rows.shape[1] - 1) // bptt)


def main(argv: list[str] | None = None) -> None:
    """``python -m imm_ray.lm.data prepare [--data-dir D] [--cache-dir C]``: print the path."""
    p = argparse.ArgumentParser(prog="python -m imm_ray.lm.data",
                                description="Prepare the tokenised corpus cache once.")
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="tokenise the three splits and cache them")
    prep.add_argument("--data-dir", default=None,
                      help=f"folder with ptb.{{train,valid,test}}.txt (default ${DATA_DIR_ENV} "
                           f"or {default_data_dir()})")
    prep.add_argument("--cache-dir", default=None,
                      help="cache folder (default $IMM_RAY_CACHE or ~/.cache/imm_ray)")
    args = p.parse_args(argv)
    try:
        path = prepare_corpus(args.data_dir, args.cache_dir)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    corpus = load_corpus(path)
    print(f"{path}  (vocabulary {corpus.vocab_size}; tokens train {len(corpus.train)}, "
          f"valid {len(corpus.valid)}, test {len(corpus.test)})")


if __name__ == "__main__":
    main()
