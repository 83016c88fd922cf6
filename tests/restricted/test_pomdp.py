"""imm_ray.restricted.pomdp: the tabular POMDP, FIB against slow loops and the MDP's
Q-values, beliefs, and the restricted policies (RestrictedModel protocol)."""

import itertools

import numpy as np
import pytest
import torch

from imm_ray.experiments.rl_gridworld.plugin import mountain_grid_pomdp
from imm_ray.protocols import check_restricted_model
from imm_ray.restricted.pomdp import (
    POLICY_KINDS,
    TabularPOMDP,
    conditional_from_beliefs,
    context_of_state,
    observation_beliefs,
    pomdp_policy,
    q_value_iteration,
    solve_fib,
)


def random_pomdp(seed=0, s=5, a=3, o=4):
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(s), size=(a, s))
    O = rng.dirichlet(np.ones(o), size=(a, s))  # noqa: E741
    return TabularPOMDP(T, O, rng.normal(size=(s, a)))


def fib_backup_loop(p: TabularPOMDP, alpha, gamma):
    """FIB's update written as the explicit sums and max (the slow twin)."""
    S, A, n_obs = p.num_states, p.num_actions, p.num_observations
    new = np.zeros((S, A))
    for s, a in itertools.product(range(S), range(A)):
        total = 0.0
        for o in range(n_obs):
            total += max(sum(p.T[a, s, s2] * p.O[a, s2, o] * alpha[s2, a2] for s2 in range(S))
                         for a2 in range(A))
        new[s, a] = p.R[s, a] + gamma * total
    return new


def test_fib_is_the_fixed_point_of_the_explicit_backup():
    p = random_pomdp()
    alpha = solve_fib(p, gamma=0.8, tol=1e-12)
    assert np.allclose(fib_backup_loop(p, alpha, 0.8), alpha, atol=1e-9)


def test_fib_is_bounded_by_qmdp_on_a_stochastic_pomdp():
    p = random_pomdp(seed=3)
    fib = solve_fib(p, gamma=0.9, tol=1e-12)
    assert (fib <= q_value_iteration(p.T, p.R, gamma=0.9) + 1e-8).all()


@pytest.mark.parametrize("wraparound", [True, False])
def test_fib_equals_q_value_iteration_on_the_deterministic_grid(wraparound):
    p = mountain_grid_pomdp(wraparound=wraparound)
    fib = solve_fib(p, gamma=0.9, tol=1e-10)
    assert np.abs(fib - q_value_iteration(p.T, p.R, gamma=0.9, tol=1e-12)).max() < 1e-8


def test_grid_pomdp_pays_the_state_reached():
    from envs.mountain_grid import next_state_table, reward_table

    p = mountain_grid_pomdp()
    nxt, rew = next_state_table(), reward_table()
    assert p.T.shape == (4, 121, 121) and p.O.shape == (4, 121, 11)
    assert np.array_equal(p.T[2, 60].nonzero()[0], [59])  # LEFT from the centre
    assert np.allclose(p.R, rew[nxt])
    assert (context_of_state(p) == np.arange(121) % 11).all()


@pytest.mark.parametrize("bad,message", [
    (dict(T=np.ones((2, 3, 4))), r"T must be \[A, S, S\]"),
    (dict(O=np.ones((2, 3, 2)) / 2, T=np.ones((2, 3, 3))), "T rows must be non-negative"),
    (dict(R=np.zeros((2, 3))), r"R must be \[S=3, A=2\]"),
])
def test_bad_pomdp_arrays_are_rejected(bad, message):
    good = dict(T=np.ones((2, 3, 3)) / 3, O=np.ones((2, 3, 2)) / 2, R=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=message):
        TabularPOMDP(**{**good, **bad})


def test_beliefs_are_uniform_over_the_column():
    b = observation_beliefs(mountain_grid_pomdp())
    assert b.shape == (11, 121)
    assert np.allclose(b[3, 3::11], 1 / 11) and b[3].sum() == pytest.approx(1.0)
    cond = conditional_from_beliefs(b)
    assert (cond.contexts[3].sort().values == torch.arange(3, 121, 11)).all()
    assert torch.allclose(cond.weights, torch.full((11, 11), 1 / 11, dtype=torch.float64))


@pytest.fixture(scope="module")
def grid_solution():
    p = mountain_grid_pomdp()
    return solve_fib(p), observation_beliefs(p)


def test_argmax_policy_is_one_hot_and_heads_for_the_centre(grid_solution):
    alpha, b = grid_solution
    policy = pomdp_policy(alpha, b, "argmax")
    check_restricted_model(policy, 4)
    t = policy.table
    assert ((t == 0) | (t == 1)).all() and torch.allclose(t.sum(1), torch.ones(11))
    assert t[:5, 3].eq(1).all() and t[6:, 2].eq(1).all()  # RIGHT left of centre, LEFT right
    assert t[5, 0] == 1  # centre column: UP and DOWN tie exactly; the first wins


def test_softmax_policy_sharpens_as_temperature_falls(grid_solution):
    alpha, b = grid_solution
    u = b @ alpha
    p1 = pomdp_policy(alpha, b, "softmax", 1.0).probs(torch.arange(11))
    p05 = pomdp_policy(alpha, b, "softmax", 0.5).probs(torch.arange(11))
    expected = torch.softmax(torch.as_tensor(u), dim=1).float()
    assert torch.allclose(p1, expected, atol=1e-6)
    assert (p05.max(1).values > p1.max(1).values).all()
    assert p1.shape == (11, 4) and pomdp_policy(alpha, b, "softmax").num_classes == 4


def test_unknown_kind_and_bad_contexts_fail_clearly(grid_solution):
    alpha, b = grid_solution
    with pytest.raises(ValueError, match="allowed kinds: " + ", ".join(POLICY_KINDS)):
        pomdp_policy(alpha, b, "greedy")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        pomdp_policy(alpha, b, "softmax", 0.0)
    with pytest.raises(ValueError, match=r"must be in \[0, 11\)"):
        pomdp_policy(alpha, b).probs(torch.tensor([11]))
