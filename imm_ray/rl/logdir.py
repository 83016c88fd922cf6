"""Keep an RLlib Algorithm's log folder out of ``~/ray_results``.

An RLlib ``Algorithm`` is a Tune ``Trainable``. Built by ``config.build_algo()`` (inside a
function trainable, or in the driver) it has no Tune storage, so ``Trainable``
makes its log folder with ``tempfile.mkdtemp(dir=~/ray_results)``: one empty
``~/ray_results/<time><random>`` folder per algorithm (7 per grid-world ``--quick``, 13
per view ``--quick``). RLlib 2.60 has no public argument for that folder
(``logger_creator`` is gone from ``Algorithm``), so :func:`build_algo` points the one
module global Tune reads, ``ray.tune.trainable.trainable.DEFAULT_STORAGE_PATH``, at a
folder of ours while the algorithm is built (a private hook; there is no public one).
Each trial runs in its own worker process and builds one algorithm at a time, so the
swap is not shared with another build.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOGDIR_NAME = "rllib_logdir"
"""The folder (in the trial's folder, or the one given) that holds the algorithm's."""


def trial_folder() -> Path:
    """The running Tune trial's local folder, or the current folder outside a trial."""
    try:
        from ray import tune

        path = tune.get_context().get_trial_dir()
    except Exception:  # not in a Tune session
        path = None
    if not path or "://" in str(path):  # a cloud trial dir: its local working folder
        path = os.getcwd()
    return Path(path)


@contextlib.contextmanager
def algorithm_logdir(folder: str | os.PathLike):
    """While inside, an Algorithm built without Tune storage logs under ``folder``."""
    from ray.tune.trainable import trainable as tune_trainable

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    saved = tune_trainable.DEFAULT_STORAGE_PATH
    tune_trainable.DEFAULT_STORAGE_PATH = str(folder)
    try:
        yield folder
    finally:
        tune_trainable.DEFAULT_STORAGE_PATH = saved


def build_algo(config, folder: str | os.PathLike | None = None):
    """``config.build_algo()`` with the algorithm's log folder under ``folder``
    (default: the trial's folder) / ``rllib_logdir``, never in ``~/ray_results``."""
    with algorithm_logdir(Path(folder or trial_folder()) / LOGDIR_NAME):
        return config.build_algo()
