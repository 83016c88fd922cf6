"""Tabular POMDPs, the Fast Informed Bound solver, and restricted policies from beliefs.

Generic: nothing here knows an environment. The restricted model of the RL grid
experiment (docs/rl_gridworld.md, 'Protocol') is the policy of an agent that sees only the
grid column: a POMDP with the MountainGrid's dynamics (built by the grid plug-in,
``mountain_grid_pomdp`` in ``imm_ray/experiments/rl_gridworld/plugin.py``) whose belief
over the hidden row is uniform. Solve it for alpha vectors (one per action) with the Fast
Informed Bound (FIB),
then act on utilities ``u = b . alpha``::

    pomdp = mountain_grid_pomdp()                       # the environment you train on
    alpha = solve_fib(pomdp, gamma=0.9)                  # [S, A]
    beliefs = observation_beliefs(pomdp)                 # [O, S], uniform per column
    policy = pomdp_policy(alpha, beliefs, "argmax")      # Bayes-optimal, one-hot
    policy.probs(torch.tensor([0, 5]))                   # [2, A]; RestrictedModel protocol

All arrays are plain NumPy; ``S`` states, ``A`` actions, ``O`` observations.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from imm_ray.samplers import EnumeratedConditional

POLICY_KINDS = ("argmax", "softmax")
TIE_TOL = 1e-9
"""Utilities within this of the maximum count as ties; ``argmax`` takes the first."""


@dataclass(frozen=True)
class TabularPOMDP:
    """``T[a, s, s']`` transitions, ``O[a, s', o]`` observations, ``R[s, a]`` rewards."""

    T: np.ndarray
    O: np.ndarray  # noqa: E741 (the standard name)
    R: np.ndarray

    def __post_init__(self):
        T, O, R = (np.asarray(m, dtype=np.float64)  # noqa: E741
                   for m in (self.T, self.O, self.R))
        if T.ndim != 3 or T.shape[1] != T.shape[2]:
            raise ValueError(f"T must be [A, S, S], got shape {T.shape}")
        a, s = T.shape[:2]
        if O.ndim != 3 or O.shape[:2] != (a, s):
            raise ValueError(f"O must be [A={a}, S={s}, num_obs], got shape {O.shape}")
        if R.shape != (s, a):
            raise ValueError(f"R must be [S={s}, A={a}], got shape {R.shape}")
        for name, m in (("T", T), ("O", O)):
            if (m < 0).any() or not np.allclose(m.sum(-1), 1.0, atol=1e-8):
                raise ValueError(f"{name} rows must be non-negative and sum to 1")
        if not np.isfinite(R).all():
            raise ValueError("R must be finite")
        for name, m in (("T", T), ("O", O), ("R", R)):
            object.__setattr__(self, name, m)

    @property
    def num_states(self) -> int:
        return self.T.shape[1]

    @property
    def num_actions(self) -> int:
        return self.T.shape[0]

    @property
    def num_observations(self) -> int:
        return self.O.shape[2]


def solve_fib(pomdp: TabularPOMDP, gamma: float = 0.9, tol: float = 1e-8,
              max_iter: int = 10_000) -> np.ndarray:
    """Fast Informed Bound alpha vectors ``[S, A]`` (Hauskrecht 2000), vectorised.

    ``alpha_a(s) = R(s, a) + gamma sum_o max_a' sum_s' T(s'|s, a) O(o|a, s') alpha_a'(s')``,
    iterated from zero until the largest change is below ``tol``.
    """
    if not 0 <= gamma < 1:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    if not tol > 0 or max_iter < 1:
        raise ValueError(f"tol must be > 0 and max_iter >= 1, got {tol!r}, {max_iter!r}")
    # M[a, o, s, s'] = T(s'|s, a) O(o|a, s'): one [S, S'] matrix per (a, o)
    from scipy import sparse

    a, s, o = pomdp.num_actions, pomdp.num_states, pomdp.num_observations
    # sparse: deterministic models have S nonzeros per row block, and scipy's product is
    # single-threaded (a threaded BLAS stalls badly on busy shared cores)
    M = sparse.csr_matrix(np.einsum("asp,apo->aosp", pomdp.T, pomdp.O).reshape(a * o * s, s))
    alpha = np.zeros((s, a))
    for _ in range(max_iter):
        backup = np.asarray(M @ alpha).reshape(a, o, s, a).max(axis=-1).sum(axis=1)  # [A, S]
        new = pomdp.R + gamma * backup.T
        delta = np.abs(new - alpha).max()
        alpha = new
        if delta < tol:
            return alpha
    raise RuntimeError(f"FIB did not converge to tol={tol} in {max_iter} iterations "
                       f"(last change {delta:.3g})")


def q_value_iteration(T: np.ndarray, R: np.ndarray, gamma: float = 0.9, tol: float = 1e-10,
                      max_iter: int = 10_000) -> np.ndarray:
    """MDP Q-values ``[S, A]`` by value iteration (the fully observed reference)."""
    q = np.zeros_like(R)
    for _ in range(max_iter):
        new = R + gamma * np.einsum("asp,p->sa", T, q.max(axis=1))
        if np.abs(new - q).max() < tol:
            return new
        q = new
    raise RuntimeError(f"value iteration did not converge in {max_iter} iterations")


def observation_beliefs(pomdp: TabularPOMDP, prior: np.ndarray | None = None) -> np.ndarray:
    """``[O, S]`` belief after observing ``o`` from ``prior`` (default uniform), using the
    observation model of action 0 (the MountainGrid's does not depend on the action)."""
    prior = np.full(pomdp.num_states, 1.0 / pomdp.num_states) if prior is None else prior
    b = pomdp.O[0].T * prior[None, :]  # [O, S]
    mass = b.sum(axis=1, keepdims=True)
    if (mass <= 0).any():
        raise ValueError("some observation has zero probability under the prior")
    return b / mass


class TabularPolicy:
    """A restricted policy as a table ``[X, A]`` (RestrictedModel protocol).

    ``probs(contexts)`` maps integer restricted contexts ``[...]`` to rows ``[..., A]``.
    """

    def __init__(self, table):
        table = torch.as_tensor(np.asarray(table), dtype=torch.float32)
        if table.dim() != 2:
            raise ValueError(f"table must be [X, A], got shape {tuple(table.shape)}")
        from imm_ray.core import check_probs

        check_probs(table, "table")
        self.table = table
        self.num_classes = table.shape[1]

    def probs(self, restricted_contexts: Tensor) -> Tensor:
        idx = torch.as_tensor(restricted_contexts).long()
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.table.shape[0]):
            raise ValueError(f"restricted contexts must be in [0, {self.table.shape[0]})")
        return self.table.to(idx.device)[idx]


def policy_kind_error(kind) -> ValueError:
    return ValueError(f"unknown restricted-policy kind {kind!r}; allowed kinds: "
                      f"{', '.join(POLICY_KINDS)}")


def belief_utilities(alpha: np.ndarray, beliefs: np.ndarray) -> np.ndarray:
    """``[X, A]`` utilities ``u = b . alpha`` of each belief ``[X, S]``."""
    return np.asarray(beliefs, dtype=np.float64) @ np.asarray(alpha, dtype=np.float64)


def pomdp_policy(alpha: np.ndarray, beliefs: np.ndarray, kind: str = "argmax",
                 temperature: float = 1.0) -> TabularPolicy:
    """Restricted policy from alpha vectors ``[S, A]`` and one belief per context ``[X, S]``.

    ``"argmax"``: one-hot on the best utility (Bayes-optimal; ties within ``TIE_TOL`` go
    to the first action). ``"softmax"``: ``softmax(u / temperature)``.
    """
    u = belief_utilities(alpha, beliefs)
    if kind == "argmax":
        best = np.argmax(u >= u.max(axis=1, keepdims=True) - TIE_TOL, axis=1)
        return TabularPolicy(np.eye(u.shape[1])[best])
    if kind == "softmax":
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
                or not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        z = u / temperature
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return TabularPolicy(p / p.sum(axis=1, keepdims=True))
    raise policy_kind_error(kind)


def conditional_from_beliefs(beliefs: np.ndarray) -> EnumeratedConditional:
    """:class:`EnumeratedConditional` of full states per restricted context: the support
    of each belief row (padded with zero-weight states to a common ``k``)."""
    b = np.asarray(beliefs, dtype=np.float64)
    k = int((b > 0).sum(axis=1).max())
    order = np.argsort(-b, axis=1, kind="stable")[:, :k]  # [X, k] most likely first
    weights = np.take_along_axis(b, order, axis=1)
    return EnumeratedConditional(torch.as_tensor(order), torch.as_tensor(weights))


def context_of_state(pomdp: TabularPOMDP) -> np.ndarray:
    """``[S]`` the observation each state emits (deterministic observation models only)."""
    o = pomdp.O[0]
    if not np.allclose(o.max(axis=1), 1.0):
        raise ValueError("context_of_state needs a deterministic observation model")
    return o.argmax(axis=1)
