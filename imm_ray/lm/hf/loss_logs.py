"""What both imm_ray Trainers share: the running means of their loss terms, added to the
Trainer's own training logs (so ``report_to`` carries ``loss/main``, ``loss/imm``, ...), and
the float32 upcast of half-precision logits before a reduction."""

from __future__ import annotations

from collections import defaultdict

import torch


def upcast(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits to float32 for a reduction; float32/64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class LossLogs:
    """Mix in before ``transformers.Trainer``: ``self._track(name, value)`` in
    ``compute_loss``; :meth:`log` adds each name's mean since the last training log."""

    def _track(self, name: str, value) -> None:
        sums = self.__dict__.setdefault("_sums", defaultdict(lambda: [0.0, 0]))
        s = sums[name]
        s[0] += float(value)
        s[1] += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Trainer's ``log`` (the public hook its callbacks and ``report_to`` read), with
        the tracked means added to training logs (those with a ``loss``)."""
        sums = self.__dict__.get("_sums", {})
        if "loss" in logs:
            for name, (total, count) in sums.items():
                if count:
                    logs[name] = round(total / count, 6)
            sums.clear()
        super().log(logs, start_time)
