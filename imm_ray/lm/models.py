"""Full-history language models: a 2-layer LSTM and a small causal transformer.

Both map tokens ``[B, T]`` to logits ``[B, T, V]`` and have ``last_logits(windows
[M, L]) -> [M, V]``: the prediction after each IMM history window, with the output layer
(the 10k-word softmax, most of the cost) applied to the last position only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LSTMLM(nn.Module):
    """Embedding -> dropout -> ``num_layers`` LSTM -> dropout -> linear (optionally tied).

    Dropout is ``nn.Dropout`` between layers (not cuDNN's fused dropout), so a forward
    pass replays exactly under a forked RNG (``core.serialized_imm_backward``).
    """

    def __init__(self, vocab_size: int, emb_size: int = 200, hidden_size: int = 200,
                 num_layers: int = 2, dropout: float = 0.5, tie_weights: bool = False):
        super().__init__()
        if tie_weights and emb_size != hidden_size:
            raise ValueError(f"tie_weights needs emb_size == hidden_size, got {emb_size} and "
                             f"{hidden_size}")
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.layers = nn.ModuleList(
            nn.LSTM(emb_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.out.weight = self.embed.weight
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.zeros_(self.out.bias)

    def hidden(self, tokens: Tensor, state=None) -> tuple[Tensor, list]:
        """``[B, T]`` -> top-layer features ``[B, T, H]`` (after dropout), new state."""
        h = self.drop(self.embed(tokens))
        new_state = []
        for i, layer in enumerate(self.layers):
            h, s = layer(h, None if state is None else state[i])
            h = self.drop(h)
            new_state.append(s)
        return h, new_state

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, list]:
        """``[B, T]`` (+ state carried between BPTT windows) -> ``([B, T, V], state)``."""
        h, state = self.hidden(tokens, state)
        return self.out(h), state

    def last_logits(self, windows: Tensor) -> Tensor:
        """``[M, L]`` histories from a zero state -> logits after the last token ``[M, V]``."""
        h, _ = self.hidden(windows)
        return self.out(h[:, -1])

    @staticmethod
    def detach_state(state):
        return None if state is None else [tuple(t.detach() for t in s) for s in state]


class TransformerLM(nn.Module):
    """A small pre-norm causal transformer with learned positions (context ``max_len``).

    It sees only the current BPTT window (no state across windows).
    """

    def __init__(self, vocab_size: int, emb_size: int = 128, num_layers: int = 2,
                 num_heads: int = 4, ff_size: int | None = None, dropout: float = 0.1,
                 max_len: int = 128, tie_weights: bool = False):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.pos = nn.Embedding(max_len, emb_size)
        block = nn.TransformerEncoderLayer(emb_size, num_heads, ff_size or 4 * emb_size,
                                           dropout, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(emb_size)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(emb_size, vocab_size)
        if tie_weights:
            self.out.weight = self.embed.weight
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def hidden(self, tokens: Tensor) -> Tensor:
        """``[B, T]`` -> ``[B, T, E]`` with a causal mask (T <= max_len)."""
        t = tokens.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds the transformer's max_len "
                             f"{self.max_len}")
        pos = torch.arange(t, device=tokens.device)
        h = self.drop(self.embed(tokens) * math.sqrt(self.embed.embedding_dim) + self.pos(pos))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=tokens.device)
        return self.norm(self.blocks(h, mask=mask, is_causal=True))

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, None]:
        """``[B, T]`` -> ``([B, T, V], None)``; ``state`` is ignored."""
        return self.out(self.drop(self.hidden(tokens))), None

    def last_logits(self, windows: Tensor) -> Tensor:
        """``[M, L]`` -> ``[M, V]``: logits after the last token of each window."""
        return self.out(self.drop(self.hidden(windows)[:, -1]))

    @staticmethod
    def detach_state(state):
        return None


def build_model(name: str, vocab_size: int, emb_size: int, hidden_size: int, num_layers: int,
                dropout: float, tie_weights: bool, num_heads: int = 4,
                max_len: int = 128) -> nn.Module:
    """``"lstm"`` or ``"transformer"`` (whose width is ``emb_size``)."""
    if name == "lstm":
        return LSTMLM(vocab_size, emb_size, hidden_size, num_layers, dropout, tie_weights)
    if name == "transformer":
        return TransformerLM(vocab_size, emb_size, num_layers, num_heads, hidden_size,
                             dropout, max_len, tie_weights)
    raise ValueError(f"model must be 'lstm' or 'transformer', got {name!r}")
