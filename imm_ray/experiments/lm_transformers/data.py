"""Data prepared once, before Ray: the tokenizer, the token streams and the bigram, cached
under ``<cache>/hf/<key>/`` where the key hashes the corpus files' bytes, the tokenizer
spec and the block size. Trials only read the ``.npz`` files (no pickle)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imm_ray.experiments.lm_transformers.config import TRAIN_PREFIX
from imm_ray.lm.hf import bigram, text_corpus, train_tokenizer
from imm_ray.lm.hf.corpus import TextCorpus, split_files
from imm_ray.restricted.kneser_ney import KneserNeyBigram

VERSION = "1"


@dataclass
class Prepared:
    corpus_path: str
    restricted_path: str
    tokenizer_dir: str
    vocab_size: int
    bigram_valid_ppl: float
    bigram_test_ppl: float


def cache_key(files: dict, spec: str, model: str, block_size: int) -> str:
    h = hashlib.sha256(f"{VERSION}|{spec}|{model if not spec else ''}|{block_size}".encode())
    for split in sorted(files):
        for p in files[split]:
            h.update(split.encode())
            h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def load_tokenizer(spec: str, model: str, train_files, out_dir: Path):
    from transformers import AutoTokenizer

    if spec.startswith(TRAIN_PREFIX):
        kind = "bpe" if spec.startswith("train-bpe:") else "wordlevel"
        return train_tokenizer(train_files, kind, int(spec.split(":", 1)[1]), out_dir)
    tok = AutoTokenizer.from_pretrained(spec or model)
    tok.save_pretrained(str(out_dir))
    return tok


def prepare(corpus: str, tokenizer: str, model: str, block_size: int,
            cache_dir: str | os.PathLike) -> Prepared:
    """Tokeniser, streams and bigram for this corpus, from the cache when present."""
    files = split_files(corpus)
    root = Path(cache_dir).expanduser() / "hf" / cache_key(files, tokenizer, model, block_size)
    done = root / "prepared.json"
    if done.is_file():
        return Prepared(**json.loads(done.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    tok = load_tokenizer(tokenizer, model, files["train"], root / "tokenizer")
    c = text_corpus({s: v for s, v in files.items()}, tok, block_size)
    c.save(root / "corpus.npz")
    kn = bigram(c.train_ids, c.vocab_size)
    np.savez(root / "bigram.npz", **kn.to_arrays())
    out = Prepared(str(root / "corpus.npz"), str(root / "bigram.npz"), str(root / "tokenizer"),
                   c.vocab_size, bigram_ppl(kn, c, "valid"), bigram_ppl(kn, c, "test"))
    done.write_text(json.dumps(asdict(out), indent=2))
    return out


def bigram_ppl(kn: KneserNeyBigram, corpus: TextCorpus, split: str, tokens: int = 0) -> float:
    """The bigram's perplexity over the split's blocks (its first ``tokens`` tokens when
    > 0), scored like the model: each block's tokens 1..T-1 given their previous token."""
    ids = getattr(corpus, f"{split}_ids")
    ids = ids if ids is None or not tokens else ids[:tokens]
    if ids is None:
        return float("nan")
    n = len(ids) // corpus.block_size * corpus.block_size
    blocks = ids[:n].reshape(-1, corpus.block_size)
    import torch

    lp = kn.log_prob(torch.as_tensor(blocks[:, :-1]), torch.as_tensor(blocks[:, 1:]))
    return float(torch.exp(-lp.mean()))


def bigram_ppls(prepared: Prepared, tokens: int = 0) -> dict[str, float]:
    """``{"valid": ppl, "test": ppl}`` of the prepared bigram on the evaluated tokens."""
    with np.load(prepared.restricted_path, allow_pickle=False) as z:
        kn = KneserNeyBigram.from_arrays(z)
    corpus = TextCorpus.load(prepared.corpus_path)
    return {s: bigram_ppl(kn, corpus, s, tokens) for s in ("valid", "test")}
