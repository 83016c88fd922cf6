"""Benchmark: what the IMM term costs IMMPPO per training iteration on CartPole.

Run:
    python benchmarks/rl_imm_overhead.py            # ~2 minutes on 2 cores
    python benchmarks/rl_imm_overhead.py --quick    # fewer iterations

Prints one JSON object. All variants train CartPole-v1 with the same settings (RLlib's
default PPO module 4 -> 64 -> 64, train batch 1,000, minibatch 128, 6 epochs, 4
vectorised sub-envs, the lean connector pipelines, one torch thread, in this process):

- ``ppo``: RLlib's own ``PPOConfig``.
- ``immppo``: ``IMMPPOConfig`` with the IMM term, view ``select(2, 3)``, ``induced="pool"``,
  ``k=16`` (one extra ``[128 * 16, 4]`` forward and backward per minibatch) and a restricted
  policy of the same size as the step-1 ones (a 2 -> 64 -> 64 -> 2 MLP, no gradient).
- ``immppo_every2``, ``immppo_every4``: the same with ``every=2`` and ``4`` (the term on
  every j-th minibatch update, at the same lambda: ``--imm-every j`` of the CartPole sweep).

Iterations alternate between the algorithms (after warm-up), so a change of machine
load hits all alike; ``ratio`` is ``immppo / ppo`` of the median seconds per iteration
(goal <= 1.3), ``ratio_every2`` and ``ratio_every4`` the same for the amortised ones.
``load`` is the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

EVERY = (2, 4)
"""The amortised variants measured besides the IMM term on every update."""
SETTINGS = {"train_batch_size_per_learner": 1000, "minibatch_size": 128, "num_epochs": 6,
            "lr": 1e-3}


def restricted_mlp():
    from imm_ray.rl.restricted import from_module

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 2))
    return from_module(net, 2, input_shape=(2,), outputs="logits")


def build(config, imm: bool, every: int = 1):
    from imm_ray.rl.connectors import lean_env_runner_settings
    from imm_ray.rl.views import select

    config = (config.environment("CartPole-v1")
              .env_runners(num_env_runners=0, num_envs_per_env_runner=4,
                           **lean_env_runner_settings())
              .training(**SETTINGS)
              .rl_module(model_config={"fcnet_hiddens": [64, 64]})
              .debugging(seed=0))
    if imm:
        config.imm(restricted_view=select(2, 3), restricted_policy=restricted_mlp(),
                   induced="pool", k=16, imm_lambda=0.5, every=every)
    return config.build_algo()


def timed_alternating(algos: dict, iterations: int, warmup: int) -> dict:
    times = {name: [] for name in algos}
    for i in range(warmup + iterations):
        for name, algo in algos.items():
            start = time.perf_counter()
            algo.train()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: {"iterations": len(t), "median_s_per_iteration": round(statistics.median(t), 4),
                   "mean_s_per_iteration": round(statistics.fmean(t), 4)}
            for name, t in times.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 timed iterations each")
    p.add_argument("--iterations", type=int, default=None, help="timed iterations each")
    args = p.parse_args(argv)
    iterations = args.iterations or (5 if args.quick else 30)
    torch.set_num_threads(1)
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from imm_ray import sweep
    from imm_ray.rl import IMMPPOConfig

    sweep.start_local_ray(num_cpus=1, log_to_driver=False, configure_logging=False)
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
    out["settings"] = {**SETTINGS, "k": 16, "induced": "pool", "envs": 4, "every": [1, *EVERY]}
    out["load"] = {"before": load0, "after": os.getloadavg()[0], "cores": os.cpu_count()}
    ray.shutdown()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
