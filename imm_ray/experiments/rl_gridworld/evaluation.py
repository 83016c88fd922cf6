"""Fast evaluation on MountainGrid (docs/rl_gridworld.md, 'Protocol'):
:func:`evaluate_policy_table` plays ``R`` rollouts of ``L`` steps from uniform random starts
for every population member at once, in torch, with exactly the environment's tables
(tested against ``envs.MountainGridEnv``). :class:`GridEvaluationConfig` /
:class:`GridEvaluation` add ``config.grid_evaluation(...)`` and ``algo.evaluate_grid()`` to
the grid's algorithms (:mod:`~imm_ray.experiments.rl_gridworld.algorithms`).
"""

from __future__ import annotations

import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from torch import Tensor

from envs.mountain_grid import next_state_table, reward_table
from imm_ray.core import interpolate
from imm_ray.experiments.rl_gridworld.plugin import GRID_ENV, grid_params
from imm_ray.metrics import EVAL_MEAN_RETURN
from imm_ray.restricted import pomdp as P
from imm_ray.rl.settings import check_int, set_checked


def grid_tables(env_config: dict | None = None) -> tuple[Tensor, Tensor]:
    """``(next_state [N, 4] long, reward of the state reached [N] float32)``."""
    g = grid_params(env_config)
    nxt = next_state_table(g["height"], g["width"], g["wraparound"])
    rew = reward_table(g["height"], g["width"], g["reward_cov"])
    return torch.as_tensor(nxt), torch.as_tensor(rew, dtype=torch.float32)


@torch.no_grad()
def policy_table(module) -> Tensor:
    """``[S, N, A]`` action probabilities of every member of a
    :class:`~imm_ray.rl.module.PopulationMLPModule` in every state."""
    from ray.rllib.core.columns import Columns

    s, n = module.num_members, module.pi.w1.shape[1]
    states = torch.arange(n)
    if module.obs_format == "tagged":
        obs = torch.stack(torch.broadcast_tensors(torch.arange(s)[:, None], states), -1)
        obs = obs.reshape(s * n, 2)
    elif module.obs_format == "dense":
        obs = torch.eye(n)
    else:
        obs = states
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    return torch.softmax(logits.float(), dim=-1).reshape(s, n, -1)


@torch.no_grad()
def evaluate_policy_table(probs: Tensor, next_state: Tensor, rewards: Tensor,
                          num_rollouts: int = 10, rollout_length: int = 22,
                          generator: torch.Generator | None = None,
                          starts: Tensor | None = None, greedy: bool = False) -> Tensor:
    """``[S]`` mean over ``num_rollouts`` of the total reward of ``rollout_length``
    sampled steps (``greedy``: argmax actions) from uniform random starts (or ``starts
    [S, R]``), for each member's ``probs [S, N, A]``."""
    for name, v in (("num_rollouts", num_rollouts), ("rollout_length", rollout_length)):
        if v < 1:  # no rollouts or no steps: a NaN or meaningless mean return
            raise ValueError(f"{name} must be >= 1, got {v!r}")
    s, n, a = probs.shape
    state = (torch.randint(n, (s, num_rollouts), generator=generator) if starts is None
             else starts.long())
    member = torch.arange(s)[:, None].expand(s, num_rollouts)
    total = torch.zeros(s, num_rollouts, dtype=torch.float64)
    for _ in range(rollout_length):
        p = probs[member, state].reshape(-1, a)
        action = (p.argmax(-1) if greedy else
                  torch.multinomial(p, 1, generator=generator).squeeze(-1))
        action = action.view(s, num_rollouts)
        state = next_state[state, action]
        total += rewards[state].double()
    return total.mean(dim=1)


def interpolated_table(probs: Tensor, restricted: P.TabularPolicy, estimator,
                       ratio: float) -> Tensor:
    """``(1 - ratio) Q + ratio Pbar(. | context(s))`` for every state of ``[S, N, A]``."""
    pbar = restricted.probs(estimator.restricted_context(torch.arange(probs.shape[1])))
    return interpolate(probs, pbar.to(probs.dtype).expand_as(probs), ratio)


GRID_EVAL_CHECKS = {"grid_eval_interval": lambda v: check_int("grid_eval_interval", v, 0),
                    "grid_eval_rollouts": lambda v: check_int("grid_eval_rollouts", v, 1),
                    "grid_eval_length": lambda v: check_int("grid_eval_length", v, 1)}
GRID_EVAL_DEFAULTS = {"grid_eval_interval": 0, "grid_eval_rollouts": 10,
                      "grid_eval_length": 22}


class GridEvaluationConfig:
    """``config.grid_evaluation(interval=0, num_rollouts=10, rollout_length=22)``; mix in
    before an RLlib ``AlgorithmConfig``: its settings start at their defaults and are
    checked again by ``validate()``."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        for k, v in GRID_EVAL_DEFAULTS.items():
            setattr(self, k, v)

    def validate(self) -> None:
        super().validate()
        self.validate_grid_evaluation()

    def grid_evaluation(self, *, interval=NotProvided, num_rollouts=NotProvided,
                        rollout_length=NotProvided):
        """Evaluate on MountainGrid every ``interval`` iterations (0: only on request)
        with ``num_rollouts`` rollouts of ``rollout_length`` steps; returns the config."""
        set_checked(self, GRID_EVAL_CHECKS, {"grid_eval_interval": interval,
                                             "grid_eval_rollouts": num_rollouts,
                                             "grid_eval_length": rollout_length})
        return self

    def validate_grid_evaluation(self) -> None:
        for attr, check in GRID_EVAL_CHECKS.items():
            check(getattr(self, attr))


class GridEvaluation:
    """``evaluate_grid()`` (the fast tabular evaluation) and its periodic call after
    ``training_step``; mix in before the RLlib algorithm class."""

    def evaluate_grid(self, num_rollouts: int | None = None, rollout_length: int | None = None,
                      interpolate_ratio: float | None = None, seed: int | None = None,
                      greedy: bool = False):
        """``[S]`` mean total reward per population member over ``num_rollouts``
        rollouts of ``rollout_length`` steps, sampling actions from the policy — or from
        ``(1 - r) Q + r Pbar`` with ``interpolate_ratio`` (default: the config's); with
        ``greedy``, taking the most likely action instead of sampling."""
        cfg = self.config
        if cfg.env != GRID_ENV:
            raise ValueError(f"evaluate_grid needs env={GRID_ENV!r}, got {cfg.env!r}")
        setup = cfg.resolve_imm()
        ratio = setup.interpolate_ratio if interpolate_ratio is None else interpolate_ratio
        probs = policy_table(self.get_module())
        if ratio:
            if setup.restricted is None:
                raise ValueError("interpolate_ratio needs config.imm(restricted_policy=...)")
            probs = interpolated_table(probs, setup.restricted, setup.estimator, ratio)
        seed = (cfg.seed or 0) * 100_003 + self.iteration if seed is None else seed
        nxt, rew = grid_tables(cfg.env_config)
        returns = evaluate_policy_table(
            probs, nxt, rew, cfg.grid_eval_rollouts if num_rollouts is None else num_rollouts,
            cfg.grid_eval_length if rollout_length is None else rollout_length,
            torch.Generator().manual_seed(seed), greedy=greedy)
        self.metrics.log_value(EVAL_MEAN_RETURN, float(returns.mean()), window=1)
        return returns.numpy()

    def training_step(self) -> None:
        super().training_step()
        interval = self.config.grid_eval_interval
        if interval and (self.iteration + 1) % interval == 0:
            self.evaluate_grid()
