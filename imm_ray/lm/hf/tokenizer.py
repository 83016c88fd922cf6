"""The offline tokenizer recipe: train a BPE, WordLevel or WordPiece tokenizer on the corpus.

With the ``tokenizers`` library, on this machine, nothing downloaded::

    tok = train_tokenizer(["ptb.train.txt"], kind="bpe", vocab_size=8000, out_dir="tok")
    tok = AutoTokenizer.from_pretrained("tok")          # the same tokenizer, reloaded

``bpe`` is byte-level BPE (GPT-2's scheme: every string encodes, no unknown token);
``wordlevel`` splits on whitespace and punctuation and keeps the ``vocab_size`` most
frequent words (the rest map to ``<unk>``). Both have ``<eos>`` (end of line, also the
padding token) and ``<unk>`` as special tokens, so PTB's literal ``<unk>`` is one token.
``wordpiece`` is BERT's (for masked-LM encoders): lower-cased, ``[PAD] [UNK] [CLS] [SEP]
[MASK]`` (ids 0-4) and the pair template ``[CLS] a [SEP] b [SEP]`` with token types 0 / 1.
The result is a ``transformers.PreTrainedTokenizerFast`` saved to ``out_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

KINDS = ("bpe", "wordlevel", "wordpiece")
LOWEST = {"bpe": 300, "wordlevel": 3, "wordpiece": 8}
"""Smallest vocabulary per kind (byte-level BPE's 256 bytes come first)."""
EOS, UNK = "<eos>", "<unk>"
BERT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(files: Sequence[str | os.PathLike], kind: str = "bpe",
                    vocab_size: int = 8000, out_dir: str | os.PathLike | None = None):
    """Train a tokenizer on text ``files`` and return it (saved to ``out_dir`` if given).

    Args:
        files: plain text files, a line per document or sentence.
        kind: ``"bpe"``, ``"wordlevel"`` or ``"wordpiece"``.
        vocab_size: target vocabulary size including special tokens, at least
            :data:`LOWEST` of the kind.
        out_dir: folder for ``tokenizer.json`` and friends (``AutoTokenizer`` loads it).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    low = LOWEST[kind]
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < low:
        raise ValueError(f"vocab_size must be an integer >= {low} for {kind}, got {vocab_size!r}")
    paths = [str(Path(f)) for f in files]
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        raise ValueError(f"files must be existing text files, missing: {missing or 'none given'}")
    build = _wordpiece if kind == "wordpiece" else _bpe_or_wordlevel
    fast = build(kind, paths, vocab_size)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def _bpe_or_wordlevel(kind: str, paths: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

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
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, unk_token=UNK,
                                   pad_token=EOS)


def _wordpiece(kind: str, paths: list[str], vocab_size: int):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train(paths, trainers.WordPieceTrainer(vocab_size=vocab_size,
                                               special_tokens=list(BERT_SPECIAL),
                                               show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids",
                                                      "attention_mask"])
