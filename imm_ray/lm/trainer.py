"""One language-model training run: data, KN bigram, model, and the four methods.

``LMTrainer(cfg)`` owns everything a run needs; ``train_epoch`` does one pass over the
(fraction of the) training split and ``end_epoch`` validates, decays the learning rate
on a plateau and keeps the best weights. State round-trips through ``save``/``load``
so a Tune trial resumes from its last epoch. The IMM/KD math is ``imm_ray.core``'s.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from imm_ray import core
from imm_ray import metrics as M
from imm_ray.lm import data as lmdata
from imm_ray.lm.bigram import restricted_model
from imm_ray.lm.config import LMConfig
from imm_ray.lm.histories import HistorySampler
from imm_ray.lm.models import build_model
from imm_ray.lm.noising import BigramNoiser
from imm_ray.protocols import check_restricted_model
from imm_ray.restricted.kneser_ney import KneserNeyBigram

CHECKPOINT_FILE = "trainer.pt"
DIVERGED = ("The inputs were finite (token ids; the restricted model's probabilities are "
            "checked where they enter), so training diverged: lower --lr or the IMM weight.")
"""Advice for a non-finite training loss: only here is the optimisation the known cause."""


def load_checkpoint(path: Path) -> dict:
    """``torch.load(weights_only=True)`` on the CPU (RNG states must stay CPU ByteTensors;
    ``load_state_dict`` later copies weights onto the model's device)."""
    if not path.is_file():
        raise FileNotFoundError(f"LM checkpoint not found: {str(path)!r}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{str(path)!r} is not a plain LM checkpoint (tensors, numbers, "
                         f"lists, dicts); refusing to unpickle it: {e}") from e


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the generator for IMM/noising draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed + 1)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when torch sees a GPU; ``cuda`` without one is an error (never a silent
    CPU fallback: a GPU trial that cannot see its GPU must fail loudly)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch sees no CUDA device (torch "
                           f"{torch.__version__}, CUDA build {torch.version.cuda}, "
                           f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    return torch.device(name)


def init_output_bias(model: nn.Module, train: np.ndarray, vocab_size: int) -> None:
    """Start the output bias at the add-one log unigram of the training tokens: every
    method starts from the unigram model instead of spending its first steps finding it."""
    counts = np.bincount(train, minlength=vocab_size) + 1.0
    with torch.no_grad():
        model.out.bias.copy_(torch.as_tensor(np.log(counts / counts.sum())))


class LMTrainer:
    """Everything one run needs; ``corpus``/``kn`` may be passed in to share them."""

    def __init__(self, cfg: LMConfig, corpus: lmdata.Corpus | None = None,
                 kn: KneserNeyBigram | None = None):
        self.cfg = cfg
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.gen = seed_everything(cfg.seed)
        self.device = resolve_device(cfg.device)
        corpus = corpus if corpus is not None else lmdata.load_corpus(cfg.data_path)
        self.vocab_size = corpus.vocab_size
        train = lmdata.train_prefix(corpus.train, cfg.train_fraction)
        self.n_train = len(train)
        self.epochs = (math.ceil(cfg.token_budget / self.n_train) if cfg.token_budget
                       else cfg.epochs)
        if kn is None:
            kn = restricted_model(corpus, cfg.train_fraction, cfg.restricted_data,
                                  cfg.data_path or None)
        self.kn = kn
        check_restricted_model(self.kn, self.vocab_size, "Kneser-Ney bigram")
        self.rows = lmdata.batchify(train, cfg.batch_size)
        valid = corpus.valid[: cfg.valid_tokens] if cfg.valid_tokens else corpus.valid
        self.valid_rows = lmdata.batchify(valid, cfg.eval_batch_size)
        cap = cfg.test_tokens or None
        self.full_valid_rows = lmdata.batchify(corpus.valid[:cap], cfg.eval_batch_size)
        self.test_rows = lmdata.batchify(corpus.test[:cap], cfg.eval_batch_size)
        self.ratio = core.ratio_from_lambda(self.lam_for(self.n_train))
        self.histories = None
        if cfg.method == "imm":
            source = train if cfg.history_source == "train" else corpus.train
            self.histories = HistorySampler(source, cfg.imm_length)
        self.noiser = BigramNoiser(self.kn, cfg.noise_gamma) if cfg.method == "noising" else None
        self.model = build_model(cfg.model, self.vocab_size, cfg.emb_size, cfg.hidden_size,
                                 cfg.num_layers, cfg.dropout, cfg.tie_weights, cfg.num_heads,
                                 max(cfg.bptt, cfg.imm_length))
        init_output_bias(self.model, train, self.vocab_size)
        self.model.to(self.device)
        self.lr = cfg.lr
        self.opt = self._optimizer()
        self.epoch, self.step, self.best_valid, self.imm_on = 0, 0, math.inf, False
        self.bad_epochs = 0
        self.best_state: dict | None = None
        self.history: list[dict] = []
        self.timers: dict[str, float] = defaultdict(float)

    def lam_for(self, n_tokens: int) -> float:
        schedule = self.cfg.schedule()
        return schedule(n_tokens) if schedule is not None else self.cfg.imm_lambda

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.lr)
        return torch.optim.SGD(self.model.parameters(), lr=self.lr)

    # ------------------------------------------------------------------ training

    def train_epoch(self, progress=None) -> dict[str, float]:
        """One pass over the training rows; returns ``loss/main``, ``loss/imm`` means."""
        self.model.train()
        rows = self.rows
        if self.noiser is not None:  # noise the whole stream once per epoch
            rows, _ = self.noiser.noise(rows, generator=self.gen)
        sums, counts, state = defaultdict(float), defaultdict(int), None
        for inputs, targets in lmdata.bptt_batches(rows, self.cfg.bptt):
            state = self.model.detach_state(state)
            losses, state = self.train_step(inputs.to(self.device), targets.to(self.device),
                                            state)
            for name, v in losses.items():
                sums[name] += v
                counts[name] += 1
            if progress is not None:
                progress.update(1)
        return {f"loss/{n}": sums[n] / counts[n] for n in sums}

    def train_step(self, inputs: Tensor, targets: Tensor, state):
        """One optimiser step on ``inputs``/``targets`` ``[B, T]``; returns (losses, state)."""
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        logits, state = self.model(inputs, state)  # [B, T, V]
        main = nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size),
                                           targets.reshape(-1))
        core.assert_finite(main.detach(), "loss/main", DIVERGED)
        losses, loss = {"main": main.item()}, main
        self.timers["main_forward"] += time.perf_counter() - t0
        if self.cfg.method == "reverse_kd":
            extra = core.reverse_kd_loss(logits, self.kn.probs(inputs).to(logits.device))
            loss = core.mix_losses(main, extra, self.ratio)
            losses["kd"] = extra.item()
        elif self._imm_due():
            loss = self._add_imm(inputs, main, losses)
        t1 = time.perf_counter()
        core.assert_finite(loss.detach(), "training loss", DIVERGED)
        loss.backward()
        self.timers["backward"] += time.perf_counter() - t1
        t2 = time.perf_counter()
        if self.cfg.clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        self.step += 1
        self.timers["optimizer"] += time.perf_counter() - t2
        return losses, state

    def _imm_due(self) -> bool:
        c = self.cfg
        if c.method != "imm" or self.step < c.imm_start_step:
            return False
        if c.imm_start_ppl > 0 and not self.imm_on:
            return False
        return self.step % c.imm_every == 0

    def _add_imm(self, inputs: Tensor, main: Tensor, losses: dict) -> Tensor:
        """Main loss mixed with the IMM term (serialized: IMM gradient accumulated now)."""
        t0 = time.perf_counter()
        windows, probs = self.imm_batch(inputs)
        self.timers["imm_sample"] += time.perf_counter() - t0
        if windows.shape[0] == 0:
            return main
        t1 = time.perf_counter()
        if self.cfg.imm_chunk > 0:
            imm = core.serialized_imm_backward(self.model.last_logits, windows, probs,
                                               self.cfg.imm_chunk, imm_lambda=self.ratio)
            total = (1 - self.ratio) * main
        else:
            n, k, length = windows.shape
            logits = self.model.last_logits(windows.view(n * k, length)).view(n, k, -1)
            imm = core.imm_loss(logits, probs)
            total = core.mix_losses(main, imm, self.ratio)
        core.assert_finite(imm.detach(), "loss/imm", DIVERGED)
        losses["imm"] = imm.item()
        self.timers["imm_forward"] += time.perf_counter() - t1
        return total

    def imm_batch(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Restricted contexts of a batch -> (histories ``[N, k, L]``, ``Pbar`` ``[N, V]``).

        The contexts are the previous words at all ``B*T`` positions, or at
        ``imm_contexts`` positions drawn without replacement (an unbiased estimate of
        the per-position average); words that end no window are dropped.
        """
        words = inputs.reshape(-1).cpu()
        m = self.cfg.imm_contexts
        if 0 < m < len(words):
            words = words[torch.randperm(len(words), generator=self.gen)[:m]]
        words = words[self.histories.available(words)]
        windows = self.histories.sample(words, self.cfg.k, generator=self.gen)
        return windows.to(self.device), self.kn.probs(words).to(self.device)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def perplexity(self, rows: Tensor, state_dict: dict | None = None) -> float:
        """Perplexity of the model (or of ``state_dict``'s weights) on batchified rows."""
        backup = None
        if state_dict is not None:
            backup = {k: v.clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(state_dict)
        self.model.eval()
        total, count, state = 0.0, 0, None
        for inputs, targets in lmdata.bptt_batches(rows, self.cfg.bptt):
            logits, state = self.model(inputs.to(self.device), state)
            total += nn.functional.cross_entropy(
                logits.reshape(-1, self.vocab_size), targets.to(self.device).reshape(-1),
                reduction="sum").item()
            count += targets.numel()
        if backup is not None:
            self.model.load_state_dict(backup)
        return math.exp(total / count)

    def end_epoch(self, train_metrics: dict) -> dict:
        """Validate, decay lr on a plateau, keep the best weights; returns epoch metrics."""
        t0 = time.perf_counter()
        valid = self.perplexity(self.valid_rows)
        self.timers["validation"] += time.perf_counter() - t0
        if valid < self.best_valid:
            self.best_valid, self.bad_epochs = valid, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
            self.lr *= self.cfg.lr_decay
            for g in self.opt.param_groups:
                g["lr"] = self.lr
        if self.cfg.imm_start_ppl > 0 and valid < self.cfg.imm_start_ppl:
            self.imm_on = True
        self.epoch += 1
        metrics = {**train_metrics, M.EVAL_VALID_PPL: valid, M.EPOCH: self.epoch,
                   M.LR: self.lr, M.IMM_ACTIVE: float(self._imm_due_ever())}
        self.history.append(metrics)
        return metrics

    @property
    def done(self) -> bool:
        """All epochs run, or ``patience`` epochs without improvement."""
        c = self.cfg
        return self.epoch >= self.epochs or (c.patience > 0 and self.bad_epochs >= c.patience)

    def _imm_due_ever(self) -> bool:
        return self.cfg.method == "imm" and (self.cfg.imm_start_ppl <= 0 or self.imm_on)

    def final_metrics(self) -> dict[str, float]:
        """Validation and test perplexity of the best-validation weights (full splits, or
        their first ``test_tokens`` tokens when that is > 0)."""
        best = self.best_state
        return {M.VALID_PPL: self.perplexity(self.full_valid_rows, best),
                M.TEST_PPL: self.perplexity(self.test_rows, best),
                M.N_TRAIN_TOKENS: float(self.n_train)}

    # ------------------------------------------------------------------ checkpoints

    def save(self, directory: str | Path) -> None:
        torch.save({"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                    "best_state": self.best_state, "gen": self.gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "scalars": {"epoch": self.epoch, "step": self.step, "lr": self.lr,
                                "best_valid": self.best_valid, "imm_on": self.imm_on,
                                "bad_epochs": self.bad_epochs},
                    "timers": dict(self.timers),
                    "history": self.history}, Path(directory) / CHECKPOINT_FILE)

    def load(self, directory: str | Path) -> None:
        """Restore a :meth:`save` checkpoint. Only tensors and plain containers are
        unpickled (``weights_only=True``): a crafted file cannot run code, it raises."""
        ck = load_checkpoint(Path(directory) / CHECKPOINT_FILE)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        self.best_state, self.history = ck["best_state"], ck["history"]
        self.gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        self.timers = defaultdict(float, ck.get("timers", {}))
        for name, value in ck["scalars"].items():
            setattr(self, name, value)
