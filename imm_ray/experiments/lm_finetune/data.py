"""The offline stand-in, prepared once before Ray and cached by a hash of its inputs:

- :func:`pretrain_bert`: a WordPiece tokenizer trained on PTB's training split and a small
  BERT (:data:`imm_ray.lm.hf.encoders.TINY`) pretrained on it with the masked-LM loss
  (``transformers.Trainer`` + ``DataCollatorForLanguageModeling``), saved as a local HF
  folder (safetensors, ``AutoModelForMaskedLM`` / ``...SequenceClassification`` load it).
- :func:`ptb_acceptability`: a CoLA-layout task folder (``train.tsv``, ``dev.tsv``) of
  real PTB sentences (label 1) and corrupted ones (label 0: ``edits`` times, two adjacent
  words swapped or one word replaced by a random word of the split). Training sentences
  come from PTB's validation split, dev sentences from its test split, so no sentence is
  shared between them, and the pretraining (on PTB train) saw neither.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from imm_ray.lm.hf import glue

VERSION = "1"


def digest(*parts) -> str:
    h = hashlib.sha256(VERSION.encode())
    for p in parts:
        h.update(Path(p).read_bytes() if isinstance(p, Path) else repr(p).encode())
    return h.hexdigest()[:16]


def pretrain_bert(train_file: str | os.PathLike, cache: str | os.PathLike, *,
                  model: str = "bert-mini", vocab_size: int = 4000, max_length: int = 48,
                  steps: int = 1500, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                  threads: int = 2) -> str:
    """The pretrained folder (cached under ``cache/bert-<key>``); returns its path."""
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        DataCollatorForLanguageModeling,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    from imm_ray.lm.hf.encoders import tiny_encoder_config, train_wordpiece

    settings = dict(model=model, vocab_size=vocab_size, max_length=max_length, steps=steps,
                    batch_size=batch_size, lr=lr, seed=seed)
    out = Path(cache).expanduser() / f"bert-{digest(Path(train_file), settings)}"
    if (out / "pretrained.json").is_file():
        return str(out)
    torch.set_num_threads(threads)
    tok = train_wordpiece([train_file], vocab_size, out)
    lines = [s.strip() for s in Path(train_file).read_text().splitlines() if s.strip()]
    enc = tok(lines, truncation=True, max_length=max_length)
    data = [{"input_ids": i} for i in enc["input_ids"]]
    torch.manual_seed(seed)
    mlm = AutoModelForMaskedLM.from_config(tiny_encoder_config(model, len(tok), max_length, 0.1))
    args = TrainingArguments(output_dir=str(out / "trainer"), max_steps=steps, seed=seed,
                             per_device_train_batch_size=batch_size, learning_rate=lr,
                             warmup_steps=max(steps // 20, 1), lr_scheduler_type="linear",
                             weight_decay=0.01,
                             logging_steps=max(steps // 10, 1), save_strategy="no",
                             report_to=[], use_cpu=True, disable_tqdm=True,
                             dataloader_num_workers=0)
    trainer = Trainer(model=mlm, args=args, train_dataset=data,
                      data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=0.15))
    trainer.remove_callback(PrinterCallback)  # raw log dicts: step_printer says it with an ETA
    trainer.add_callback(step_printer())
    print(f"pretraining ptb-bert: {steps:,} steps of {batch_size} x {max_length} tokens "
          f"(once; cached) -> {out}", flush=True)
    result = trainer.train()
    mlm.save_pretrained(out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    (out / "pretrained.json").write_text(json.dumps(
        {**settings, "train_file": str(train_file), "final_loss": losses[-1] if losses else None,
         "train_seconds": result.metrics["train_runtime"]}, indent=2))
    return str(out)


def step_line(step: int, max_steps: int, loss: float, elapsed: float) -> str:
    """``pretraining step 2,000/20,000 (10%), MLM loss 5.990, 2m30s elapsed, ETA 22m30s``."""
    eta = elapsed / step * (max_steps - step) if step else 0.0
    clock = lambda t: f"{int(t // 60)}m{int(t % 60):02d}s"  # noqa: E731
    return (f"pretraining step {step:,}/{max_steps:,} ({step / max_steps:.0%}), MLM loss "
            f"{loss:.3f}, {clock(elapsed)} elapsed, ETA {clock(eta)}")


def step_printer():
    """A ``TrainerCallback`` printing :func:`step_line` at each of the Trainer's logs."""
    import time

    from transformers import TrainerCallback

    class _StepLine(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                print(step_line(state.global_step, state.max_steps, logs["loss"],
                                time.perf_counter() - self.start), flush=True)

    return _StepLine()


def corrupt(words: list[str], rng: np.random.Generator, vocab: list[str]) -> list[str]:
    """Two adjacent (different) words swapped, or one word replaced by another."""
    words = list(words)
    if rng.random() < 0.5:
        spots = [i for i in range(len(words) - 1) if words[i] != words[i + 1]]
        if spots:
            i = spots[int(rng.integers(len(spots)))]
            words[i], words[i + 1] = words[i + 1], words[i]
            return words
    i = int(rng.integers(len(words)))
    new = words[i]
    while new == words[i]:
        new = vocab[int(rng.integers(len(vocab)))]
    words[i] = new
    return words


def corrupt_n(words: list[str], rng: np.random.Generator, vocab: list[str],
              edits: int) -> list[str]:
    """``edits`` :func:`corrupt` steps, repeated until the sentence differs from ``words``
    (two swaps of one pair would give it back)."""
    out = list(words)
    while out == words:
        for _ in range(edits):
            out = corrupt(out, rng, vocab)
    return out


def acceptability_split(lines: list[str], n: int, rng: np.random.Generator,
                        edits: int = 1, flag: str = "--n-train") -> glue.TaskSplit:
    """``n`` sentences of 5-30 words, each used once: real (1) or corrupted with ``edits``
    edits (0), 50/50."""
    sents = [s.split() for s in lines if 5 <= len(s.split()) <= 30]
    if len(sents) < n:
        raise ValueError(f"{flag} must be at most {len(sents)} (the sentences of 5-30 words "
                         f"there), got {n}")
    vocab = sorted({w for s in sents for w in s})
    pick = rng.permutation(len(sents))[:n]
    labels = rng.permutation(np.arange(n) % 2)
    text = [" ".join(sents[i] if y else corrupt_n(sents[i], rng, vocab, edits))
            for i, y in zip(pick, labels, strict=True)]
    return glue.TaskSplit(text, None, labels.astype(np.int64))


def ptb_acceptability(ptb_dir: str | os.PathLike, cache: str | os.PathLike, n_train: int = 1000,
                      n_dev: int = 1000, seed: int = 0, edits: int = 1) -> str:
    """The task folder (cached under ``cache/ptb-acceptability-<key>``); returns its path."""
    root = Path(ptb_dir).expanduser()
    files = {s: root / f"ptb.{s}.txt" for s in ("valid", "test")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ValueError(f"--ptb-dir {str(root)!r}: missing {missing}")
    out = Path(cache).expanduser() / (
        f"ptb-acceptability-{digest(files['valid'], files['test'], (n_train, n_dev, seed, edits))}")
    if (out / "dev.tsv").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, source, n in (("train", "valid", n_train), ("dev", "test", n_dev)):
        lines = files[source].read_text().splitlines()
        flag = f"--n-{split} (PTB {source})"
        glue.write_split(out / f"{split}.tsv", "cola",
                         acceptability_split(lines, n, rng, edits, flag))
    return str(out)
