"""A population of independent MLP policies in one RLModule (stacked parameters).

Member ``i`` has its own weights ``W1[i] [N, H]``, ``b1[i] [H]``, ``W2[i] [H, A]``,
``b2[i] [A]`` (and a value head of the same shape when ``value_head=True``, for PPO).
Forward passes gather each row's member, so one batched call serves every member; a loss
that is a *sum* over members of per-member losses gives each member exactly its own
gradient, and Adam (elementwise) then updates each member as an independent optimiser
would. That is how the sweep trains 30 seeds in one RLlib algorithm.

Observation spaces:

- ``MultiDiscrete([S, N])``: rows ``[member, state]`` (``MountainGridVectorEnv`` with
  ``tag_members=True``); ``S`` members.
- ``Discrete(N)``: a state index; one member. ``one_hot(state) @ W1 == W1[state]``, so
  the first layer is a lookup.
- ``Box(shape=(N,))``: dense features (e.g. a one-hot); one member.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import Tensor, nn

DEFAULT_MODEL_CONFIG = {"hidden": 32, "value_head": False}


def obs_layout(space: gym.Space) -> tuple[str, int, int]:
    """``(format, num_members, num_inputs)`` for a supported observation space."""
    if isinstance(space, gym.spaces.MultiDiscrete) and space.shape == (2,):
        return "tagged", int(space.nvec[0]), int(space.nvec[1])
    if isinstance(space, gym.spaces.Discrete):
        return "index", 1, int(space.n)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "dense", 1, int(space.shape[0])
    raise ValueError(f"PopulationMLPModule supports Discrete(N), MultiDiscrete([members, N]) "
                     f"or Box((N,)) observations, got {space}")


def member_ids(obs: Tensor, fmt: str) -> Tensor:
    """``[B]`` member of each observation row (zeros unless ``fmt == "tagged"``)."""
    if fmt == "tagged":
        return obs[..., 0].long()
    batch = obs.shape[:-1] if fmt == "dense" else obs.shape
    return torch.zeros(batch, dtype=torch.long, device=obs.device)


class _StackedMLP(nn.Module):
    """``S`` one-hidden-layer tanh MLPs; ``nn.Linear``'s default init, per member."""

    def __init__(self, members: int, inputs: int, hidden: int, outputs: int):
        super().__init__()
        b1, b2 = 1 / math.sqrt(inputs), 1 / math.sqrt(hidden)
        self.w1 = nn.Parameter(torch.empty(members, inputs, hidden).uniform_(-b1, b1))
        self.b1 = nn.Parameter(torch.empty(members, hidden).uniform_(-b1, b1))
        self.w2 = nn.Parameter(torch.empty(members, hidden, outputs).uniform_(-b2, b2))
        self.b2 = nn.Parameter(torch.empty(members, outputs).uniform_(-b2, b2))

    def table(self) -> Tensor:
        """``[S, N, outputs]``: every member's output for every one-hot input."""
        h = torch.tanh(self.w1 + self.b1[:, None])  # [S, N, H]
        return h @ self.w2 + self.b2[:, None]

    def forward(self, member: Tensor, x: Tensor, fmt: str) -> Tensor:
        """``member [B]``, ``x`` states ``[B]`` or features ``[B, N]`` -> ``[B, outputs]``.

        For state indices and big batches (the IMM term's ``B * k`` rows) it is cheaper
        to compute the whole ``[S, N, outputs]`` table once and gather rows.
        """
        if fmt != "dense" and x.numel() * 4 >= self.w1.shape[0] * self.w1.shape[1]:
            return self.table()[member, x.long()]
        if fmt == "dense":
            pre = torch.einsum("bn,bnh->bh", x.float(), self.w1[member])
        else:
            pre = self.w1[member, x.long()]  # one-hot input: a row lookup
        h = torch.tanh(pre + self.b1[member])  # [B, H]
        if self.w2.shape[0] == 1:
            return h @ self.w2[0] + self.b2[0]
        return torch.einsum("bh,bho->bo", h, self.w2[member]) + self.b2[member]


class PopulationMLPModule(TorchRLModule, ValueFunctionAPI):
    """``S`` independent ``N -> hidden tanh -> A`` policies (the grid: 121 -> 32 -> 4,
    docs/rl_gridworld.md, 'Protocol').

    ``model_config``: ``hidden`` (32), ``value_head`` (False; True for PPO).
    """

    @override(TorchRLModule)
    def setup(self):
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"PopulationMLPModule needs a Discrete action space, got "
                             f"{self.action_space}")
        self.obs_format, self.num_members, num_inputs = obs_layout(self.observation_space)
        self.pi = _StackedMLP(self.num_members, num_inputs, cfg["hidden"], self.action_space.n)
        self.vf = (_StackedMLP(self.num_members, num_inputs, cfg["hidden"], 1)
                   if cfg["value_head"] else None)

    def members(self, obs: Tensor) -> Tensor:
        """``[B]`` member index of each observation row."""
        return member_ids(obs, self.obs_format)

    def _split(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        return self.members(obs), (obs[..., 1] if self.obs_format == "tagged" else obs)

    @override(TorchRLModule)
    def _forward(self, batch, **kwargs):
        member, x = self._split(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(member, x, self.obs_format)}

    @override(ValueFunctionAPI)
    def compute_values(self, batch, embeddings=None):
        if self.vf is None:
            raise ValueError("this PopulationMLPModule has no value head; build it with "
                             "model_config={'value_head': True}")
        member, x = self._split(batch[Columns.OBS])
        return self.vf(member, x, self.obs_format).squeeze(-1)
