"""Per-group searches inside one Tuner: the best ratio for each (method, n).

Tune's search algorithms optimise one objective over one space, while a lambda sweep
needs a separate optimum for every (method, dataset size). :class:`GroupedSearch` keeps
one sub-searcher per group (here Tune's ``OptunaSearch`` over ``ratio``, seeded), hands
out trials round-robin with at most one trial in flight per group (so each group's
search is sequential and reproducible whatever the number of workers), and routes each
result back to its group. Nothing here is toy-specific.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any

from ray.tune.search import Searcher


class GroupedSearch(Searcher):
    """Independent searches, one per group of fixed config values, interleaved.

    Args:
        groups: dicts of fixed values merged into each trial's config (e.g.
            ``{"method": "imm", "n": 8}``).
        make_searcher: ``group -> Searcher`` with its own space, metric and mode, or
            ``None`` for a group that is run once with its fixed values only.
        budget: trials per searched group.
        metric, mode: the metric the sub-searchers optimise (for Tune's bookkeeping).
    """

    def __init__(self, groups: Sequence[dict], make_searcher: Callable[[dict], Any],
                 budget: int, metric: str, mode: str = "min"):
        super().__init__(metric=metric, mode=mode)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
        self.groups = [dict(g) for g in groups]
        self.searchers = [make_searcher(g) for g in self.groups]
        self.budgets = [budget if s is not None else 1 for s in self.searchers]
        self.started = [0] * len(self.groups)
        self.in_flight: dict[str, int] = {}
        self.cursor = 0

    @property
    def total_trials(self) -> int:
        return sum(self.budgets)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # sub-searchers carry their own space, metric and mode

    def suggest(self, trial_id: str):
        if all(s >= b for s, b in zip(self.started, self.budgets, strict=True)):
            return Searcher.FINISHED
        busy = set(self.in_flight.values())
        for k in range(len(self.groups)):
            g = (self.cursor + k) % len(self.groups)
            if self.started[g] >= self.budgets[g] or g in busy:
                continue
            extra = {} if self.searchers[g] is None else self.searchers[g].suggest(trial_id)
            if extra is None:
                continue
            self.cursor, self.started[g] = g + 1, self.started[g] + 1
            self.in_flight[trial_id] = g
            return {**self.groups[g], **extra}
        return None  # every open group is waiting for its running trial

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        g = self.in_flight.pop(trial_id, None)
        if g is not None and self.searchers[g] is not None:
            self.searchers[g].on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def optuna_ratio_search(metric: str, max_ratio: float, seed: int, mode: str = "min"):
    """Tune's ``OptunaSearch`` over ``ratio`` in ``[0, max_ratio]`` with Optuna's Gaussian-
    process sampler (seeded). Measured on the toy with a budget of 6 trials, 5 sampler
    seeds: regret against a 39-point grid at most 0.0015 in validation log-loss, vs 0.018
    for TPE and 0.026 for random search."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # e.g. "greenlet unavailable" notices
    space = {"ratio": optuna.distributions.FloatDistribution(0.0, max_ratio)}
    sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=2)
    return OptunaSearch(space=space, metric=metric, mode=mode, sampler=sampler)
