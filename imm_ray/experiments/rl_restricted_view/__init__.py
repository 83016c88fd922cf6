"""A restricted view of any discrete-action gymnasium environment: PPO with a restricted
policy trained on part of the observation (docs/rl_restricted_view.md;
``sweeps/rl_restricted_view.py``), built on :mod:`imm_ray.rl`.

- :mod:`~imm_ray.experiments.rl_restricted_view.steps`: step 1, the restricted policies
  trained on the view environment (cached under the experiment folder), and the checks of
  the whole sweep.
- :mod:`~imm_ray.experiments.rl_restricted_view.trainable`: step 2, ``train_view``, one
  IMMPPO (or PPO) run per (method, seed).
- :mod:`~imm_ray.experiments.rl_restricted_view.report`: the paired tables and the plot.
"""
