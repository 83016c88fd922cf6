"""Benchmark: what the continuous-action IMM term costs IMMPPO per iteration on Pendulum.

Run:
    python benchmarks/rl_imm_continuous_overhead.py            # ~1.5 minutes on 2 cores
    python benchmarks/rl_imm_continuous_overhead.py --quick    # fewer iterations

Prints one JSON object. All variants train Pendulum-v1 with the same settings (RLlib's
default PPO module 3 -> 64 -> 64 -> (mean, log_std), diagonal Gaussian; train batch
1,000, minibatch 128, 6 epochs, 4 vectorised sub-envs, RLlib's default connector
pipelines, one torch thread, in this process):

- ``ppo``: RLlib's own ``PPOConfig``.
- ``immppo``: ``IMMPPOConfig`` with the continuous IMM term, view ``select(0, 1)`` (cos,
  sin of the angle), ``induced="pool"``, ``k=16``, ``samples=8`` (one extra
  ``[128 * 16, 3]`` forward and backward per minibatch, and ``[128, 16, 8]`` Gaussian
  log-densities) against a Gaussian restricted policy of the step-1 size (a
  2 -> 64 -> 64 -> (mean, log_std) MLP, :func:`imm_ray.rl.continuous.from_gaussian_module`,
  no gradient).
- ``immppo_every2``, ``immppo_every4``: the same with ``every=2`` and ``4``.

Iterations alternate between the algorithms (after warm-up), so a change of machine
load hits all alike; ``ratio`` is ``immppo / ppo`` of the median seconds per iteration
(goal <= 1.5), ``ratio_every2`` / ``ratio_every4`` the same for the amortised ones.
``load`` is the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from rl_imm_overhead import timed_alternating  # the discrete benchmark's loop (benchmarks/)

EVERY = (2, 4)
SETTINGS = {"train_batch_size_per_learner": 1000, "minibatch_size": 128, "num_epochs": 6,
            "lr": 1e-3}
K, SAMPLES = 16, 8


class GaussianMLP(torch.nn.Module):
    """``[B, 2] -> (mean [B, 1], log_std [B, 1])``."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(),
                                       torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                       torch.nn.Linear(64, 2))

    def forward(self, x):
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std


def restricted_gaussian(action_space):
    from imm_ray.rl.continuous import from_gaussian_module

    torch.manual_seed(0)
    return from_gaussian_module(GaussianMLP(), action_space, input_shape=(2,))


def build(config, imm: bool, every: int = 1):
    import gymnasium as gym

    from imm_ray.rl.views import select

    config = (config.environment("Pendulum-v1")
              .env_runners(num_env_runners=0, num_envs_per_env_runner=4)
              .training(**SETTINGS)
              .rl_module(model_config={"fcnet_hiddens": [64, 64]})
              .debugging(seed=0))
    if imm:
        space = gym.make("Pendulum-v1").action_space
        config.imm(restricted_view=select(0, 1), restricted_policy=restricted_gaussian(space),
                   induced="pool", k=K, samples=SAMPLES, imm_lambda=0.5, every=every)
    return config.build_algo()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 timed iterations each")
    p.add_argument("--iterations", type=int, default=None, help="timed iterations each")
    args = p.parse_args(argv)
    iterations = args.iterations or (5 if args.quick else 20)
    torch.set_num_threads(1)
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from imm_ray.rl import IMMPPOConfig
    from imm_ray.sweep.ray_start import start_local_ray

    start_local_ray(num_cpus=1, log_to_driver=False, configure_logging=False)
    load0 = os.getloadavg()[0]
    algos = {"ppo": build(PPOConfig(), imm=False), "immppo": build(IMMPPOConfig(), imm=True),
             **{f"immppo_every{j}": build(IMMPPOConfig(), imm=True, every=j) for j in EVERY}}
    out = timed_alternating(algos, iterations, warmup=2)
    for algo in algos.values():
        algo.stop()
    for name, key in (("immppo", "ratio"),
                      *((f"immppo_every{j}", f"ratio_every{j}") for j in EVERY)):
        out[key] = round(out[name]["median_s_per_iteration"]
                         / out["ppo"]["median_s_per_iteration"], 3)
    out["settings"] = {**SETTINGS, "env": "Pendulum-v1", "k": K, "samples": SAMPLES,
                       "induced": "pool", "envs": 4, "every": [1, *EVERY]}
    out["load"] = {"before": load0, "after": os.getloadavg()[0], "cores": os.cpu_count()}
    ray.shutdown()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
