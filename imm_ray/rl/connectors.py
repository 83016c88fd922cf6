"""Lean env-runner connector pipelines for flat single-agent modules on small envs.

RLlib's default env-to-module and module-to-env pipelines handle recurrent, multi-agent
and continuous-action cases item by item; on a 121-state grid with 30 sub-environments
that bookkeeping is most of the sampling time. For a flat (non-recurrent) single-agent
module with discrete actions the work reduces to: stack the latest observation of every
episode into one tensor, sample actions (and their log-probabilities) from the
module's distribution, and hand NumPy arrays back to the vector env.
:func:`lean_env_runner_settings` swaps the default pipelines for exactly that through
``config.env_runners(...)``'s public options.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override


class LatestObservations(ConnectorV2):
    """Env-to-module: ``batch[OBS]`` = the latest observation of each episode, stacked."""

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None,
                 **kwargs):
        batch = {} if batch is None else batch
        obs = np.stack([np.asarray(ep.get_observations(-1)) for ep in episodes])
        batch[Columns.OBS] = torch.from_numpy(obs)
        return batch


class SampleDiscreteActions(ConnectorV2):
    """Module-to-env: sample from the categorical ``ACTION_DIST_INPUTS`` (argmax when not
    exploring), add ``ACTION_LOGP``, and return every column as NumPy arrays."""

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None,
                 **kwargs):
        if Columns.ACTIONS not in batch:
            log_p = torch.log_softmax(batch[Columns.ACTION_DIST_INPUTS].float(), dim=-1)
            actions = (torch.multinomial(log_p.exp(), 1).squeeze(-1) if explore
                       else log_p.argmax(dim=-1))
            batch[Columns.ACTIONS] = actions
            batch[Columns.ACTION_LOGP] = log_p.gather(-1, actions[:, None]).squeeze(-1)
        return {k: v.detach().cpu().numpy() if torch.is_tensor(v) else v
                for k, v in batch.items()}


def lean_env_runner_settings() -> dict:
    """Keyword arguments for ``config.env_runners(**...)`` selecting the lean pipelines."""
    return {
        "env_to_module_connector": lambda env, spaces, device: [LatestObservations()],
        "add_default_connectors_to_env_to_module_pipeline": False,
        "module_to_env_connector": lambda env, spaces: [SampleDiscreteActions()],
        "add_default_connectors_to_module_to_env_pipeline": False,
    }


def env_runner_settings_for(action_space) -> dict:
    """The lean pipelines for a ``Discrete`` action space; RLlib's defaults (``{}``:
    Gaussian sampling, action unsquashing and clipping) for any other."""
    import gymnasium as gym

    return lean_env_runner_settings() if isinstance(action_space, gym.spaces.Discrete) else {}
