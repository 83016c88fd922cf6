"""The offline tokenizer recipe: train a BPE or WordLevel tokenizer on the corpus itself.

With the ``tokenizers`` library, on this machine, nothing downloaded::

    tok = train_tokenizer(["ptb.train.txt"], kind="bpe", vocab_size=8000, out_dir="tok")
    tok = AutoTokenizer.from_pretrained("tok")          # the same tokenizer, reloaded

``bpe`` is byte-level BPE (GPT-2's scheme: every string encodes, no unknown token);
``wordlevel`` splits on whitespace and punctuation and keeps the ``vocab_size`` most
frequent words (the rest map to ``<unk>``). Both have ``<eos>`` (end of line, also the
padding token) and ``<unk>`` as special tokens, so PTB's literal ``<unk>`` is one token.
The result is a ``transformers.PreTrainedTokenizerFast`` saved to ``out_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

KINDS = ("bpe", "wordlevel")
EOS, UNK = "<eos>", "<unk>"


def train_tokenizer(files: Sequence[str | os.PathLike], kind: str = "bpe",
                    vocab_size: int = 8000, out_dir: str | os.PathLike | None = None):
    """Train a tokenizer on text ``files`` and return it (saved to ``out_dir`` if given).

    Args:
        files: plain text files, a line per document or sentence.
        kind: ``"bpe"`` or ``"wordlevel"``.
        vocab_size: target vocabulary size including special tokens, >= 300 for ``bpe``
            (its 256 bytes come first), >= 3 for ``wordlevel``.
        out_dir: folder for ``tokenizer.json`` and friends (``AutoTokenizer`` loads it).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    low = 300 if kind == "bpe" else 3
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < low:
        raise ValueError(f"vocab_size must be an integer >= {low} for {kind}, got {vocab_size!r}")
    paths = [str(Path(f)) for f in files]
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        raise ValueError(f"files must be existing text files, missing: {missing or 'none given'}")
    special = [UNK, EOS]
    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    else:
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=special,
                                            show_progress=False)
    tok.train(paths, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, unk_token=UNK,
                                   pad_token=EOS)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast
