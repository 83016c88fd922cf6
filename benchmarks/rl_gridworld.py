"""Benchmark of the grid-world learner: our population IMMPG vs a plain PyTorch loop.

Run:
    python benchmarks/rl_gridworld.py                 # ~2 minutes on 2 cores
    python benchmarks/rl_gridworld.py --quick         # fewer epochs, no MultiRLModule variant

Prints one JSON object; every variant trains the paper's learner with the IMM term
(REINFORCE + lambda imm_loss, 50 steps per epoch, Adam) on the 11 x 11 MountainGrid, in
this process with one torch thread, measured in the same run:

- ``plain``: the reference's shape of code — one seed, a gymnasium env stepped in Python,
  one policy forward per step — written out below.
- ``ours``: ``IMMPG`` training ``--seeds`` seeds as one population module on a NumPy
  vector env with the lean connector pipelines (what the sweep runs).
- ``ours_default_connectors``: the same with RLlib's default env-runner pipelines.
- ``multi_rl_module``: one RLModule per seed in a MultiRLModule on a multi-agent env
  (the other way to put many seeds in one algorithm).

For each: ``env_steps_per_s`` (all seeds), ``s_per_epoch_per_seed`` (wall and CPU), and
``speedup_vs_plain``. ``load`` is the 1-minute load average before and after (the cores
may be shared with other work).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium as gym
import numpy as np
import torch

from imm_ray import sweep
from imm_ray.core import imm_loss

LAMBDA = 0.25


def plain_reinforce(epochs: int, seed: int = 0) -> dict:
    """One seed of REINFORCE + IMM: MLP 121 -> 32 tanh -> 4 on the one-hot state."""
    import envs  # noqa: F401
    from imm_ray.experiments.rl_gridworld.plugin import grid_restricted_policy

    torch.manual_seed(seed)
    env = gym.make("MountainGrid-v0")
    pbar = grid_restricted_policy("argmax").table  # [11, 4]
    columns = torch.arange(121).view(11, 11).T  # column x -> its 11 states
    policy = torch.nn.Sequential(torch.nn.Linear(121, 32), torch.nn.Tanh(),
                                 torch.nn.Linear(32, 4))
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    eye = torch.eye(121)

    def epoch():
        s, _ = env.reset(seed=int(np.random.randint(2**31)))
        states, actions, rewards = [], [], []
        for _ in range(50):
            with torch.no_grad():
                a = torch.multinomial(torch.softmax(policy(eye[s]), -1), 1).item()
            states.append(s)
            actions.append(a)
            s, r, *_ = env.step(a)
            rewards.append(r)
        g, returns = 0.0, []
        for r in reversed(rewards):
            g = r + 0.9 * g
            returns.append(g)
        st, ac = torch.tensor(states), torch.tensor(actions)
        logp = torch.log_softmax(policy(eye[st]), -1)[torch.arange(50), ac]
        main = -(logp * torch.tensor(returns[::-1], dtype=torch.float32)).mean()
        ext = policy(eye[columns[st % 11]])  # [50, 11, 4]
        loss = main + LAMBDA * imm_loss(ext, pbar[st % 11])
        opt.zero_grad()
        loss.backward()
        opt.step()

    return timed(epoch, epochs, seeds=1)


def timed(step, epochs: int, seeds: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seeds": seeds, "epochs": epochs,
            "env_steps_per_s": round(50 * seeds * epochs / wall, 1),
            "s_per_epoch_per_seed": round(wall / epochs / seeds, 5),
            "cpu_s_per_epoch_per_seed": round(cpu / epochs / seeds, 5)}


def rllib_population(epochs: int, seeds: int, lean: bool = True) -> dict:
    from imm_ray.experiments.rl_gridworld.presets import grid_population_config

    config = grid_population_config(seeds, restricted_policy="argmax", imm_lambda=LAMBDA)
    if not lean:
        config.env_runners(env_to_module_connector=None, module_to_env_connector=None,
                           add_default_connectors_to_env_to_module_pipeline=True,
                           add_default_connectors_to_module_to_env_pipeline=True)
    algo = config.build_algo()
    try:
        return timed(algo.train, epochs, seeds)
    finally:
        algo.stop()


def rllib_multi_module(epochs: int, seeds: int) -> dict:
    """One PopulationMLPModule (1 member) per seed, agent ``i`` -> module ``i``."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from imm_ray.experiments.rl_gridworld.plugin import grid_extension, grid_restricted_policy
    from imm_ray.rl import IMMPGConfig
    from imm_ray.rl.module import PopulationMLPModule

    ids = [f"seed_{i}" for i in range(seeds)]
    spec = MultiRLModuleSpec(rl_module_specs={
        i: RLModuleSpec(module_class=PopulationMLPModule, model_config={"hidden": 32})
        for i in ids})
    config = (IMMPGConfig().environment(GridAgents, env_config={"num_agents": seeds})
              .multi_agent(policies=set(ids), policy_mapping_fn=lambda aid, *a, **k: aid)
              .rl_module(rl_module_spec=spec)
              .imm(restricted_policy=grid_restricted_policy("argmax"),
                   induced=grid_extension(), imm_lambda=LAMBDA))
    algo = config.build_algo()
    try:
        return timed(algo.train, epochs, seeds)
    finally:
        algo.stop()


def _grid_agents_class():
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    from envs.mountain_grid import MountainGridVectorEnv

    class GridAgentsEnv(MultiAgentEnv):
        """``num_agents`` independent MountainGrids, one agent each."""

        def __init__(self, config=None):
            super().__init__()
            n = (config or {}).get("num_agents", 2)
            self.grids = MountainGridVectorEnv(n)
            self.agents = self.possible_agents = [f"seed_{i}" for i in range(n)]
            self.observation_spaces = {a: gym.spaces.Discrete(121) for a in self.agents}
            self.action_spaces = {a: gym.spaces.Discrete(4) for a in self.agents}

        def reset(self, *, seed=None, options=None):
            obs, _ = self.grids.reset(seed=seed)
            return {a: int(o) for a, o in zip(self.agents, obs, strict=True)}, {}

        def step(self, action_dict):
            acts = np.array([action_dict[a] for a in self.agents])
            obs, rew, term, trunc, _ = self.grids.step(acts)
            d = dict(zip(self.agents, range(len(self.agents)), strict=True))
            done = bool(trunc.all())
            return ({a: int(obs[i]) for a, i in d.items()},
                    {a: float(rew[i]) for a, i in d.items()},
                    {"__all__": False}, {"__all__": done}, {})

    return GridAgentsEnv


GridAgents = None


def main(argv=None) -> None:
    global GridAgents
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs, skip multi_rl_module")
    p.add_argument("--seeds", type=int, default=30, help="seeds of the population variants")
    p.add_argument("--epochs", type=int, default=None, help="timed epochs per variant")
    args = p.parse_args(argv)
    epochs = args.epochs or (10 if args.quick else 40)
    torch.set_num_threads(1)
    import ray

    import imm_ray.rl  # noqa: F401

    sweep.start_local_ray(num_cpus=1, log_to_driver=False, configure_logging=False)
    GridAgents = _grid_agents_class()
    load0 = os.getloadavg()[0]
    out = {"plain": plain_reinforce(epochs * 3),
           "ours": rllib_population(epochs, args.seeds),
           "ours_default_connectors": rllib_population(epochs, args.seeds, lean=False)}
    if not args.quick:
        out["multi_rl_module"] = rllib_multi_module(max(epochs // 4, 3), args.seeds)
    base = out["plain"]["s_per_epoch_per_seed"]
    for v in out.values():
        v["speedup_vs_plain"] = round(base / v["s_per_epoch_per_seed"], 2)
    out["load"] = {"before": load0, "after": os.getloadavg()[0], "cores": os.cpu_count()}
    ray.shutdown()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
