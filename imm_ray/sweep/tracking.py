"""``--track {tensorboard,mlflow,wandb}``: every trial's config and reported metrics in the
tools researchers already use, through Tune's own logger callbacks.

- ``tensorboard``: Tune's ``TBXLoggerCallback`` (event files in each trial's folder under
  the storage path; ``tensorboard --logdir <storage>/<name>``).
- ``mlflow``: ``ray.air.integrations.mlflow.MLflowLoggerCallback``, one MLflow run per
  trial in the MLflow experiment named like the sweep, in a local store under the storage
  path (``sqlite:///<storage-path>/mlflow.db``; MLflow 3 refuses its old ``file:`` store
  unless told otherwise) unless ``--track-uri`` names another (``file:...`` too). A
  resumed trial goes on in its own run (found by its ``trial_id`` tag), and a run Ctrl-C
  left open is closed as KILLED when the sweep stops, so nothing is held open or lost.
- ``wandb``: ``ray.air.integrations.wandb.WandbLoggerCallback``, offline (``WANDB_MODE=
  offline``, files under the storage path) unless this machine is logged in to W&B.

The packages are the ``tracking`` extra (``pip install -e '.[tracking]'``); a missing one
is a one-line error naming it before Ray starts
(:func:`imm_ray.sweep.flags.check_trackers`). Imported only when a sweep fits its Tuner.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ray.air.integrations.mlflow import MLflowLoggerCallback


def mlflow_uri(args: argparse.Namespace) -> str:
    """``--track-uri``, or a local SQLite store under the (local) storage path; with cloud
    storage the store is ./results/mlflow.db. ``mlflow ui --backend-store-uri <uri>``."""
    if getattr(args, "track_uri", None):
        if args.track_uri.startswith("file:"):  # asked for by name: allowed in MLflow 3
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return args.track_uri
    from imm_ray.sweep.files import is_uri
    from imm_ray.sweep.flags import DEFAULT_STORAGE

    base = DEFAULT_STORAGE if is_uri(args.storage_path) else args.storage_path
    return f"sqlite:///{Path(base).resolve() / 'mlflow.db'}"


def wandb_logged_in() -> bool:
    """An API key in the environment or in ~/.netrc for api.wandb.ai (what wandb reads)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def tracking_callbacks(args: argparse.Namespace) -> list:
    """The Tune callbacks ``--track`` asks for (a new sweep; a restored one keeps its own)."""
    tools = getattr(args, "track", None) or []
    callbacks = []
    if "tensorboard" in tools:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    if "mlflow" in tools:
        for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(name).setLevel(logging.WARNING)
        callbacks.append(make_mlflow_callback(mlflow_uri(args), args.name))
    if "wandb" in tools:
        from ray.air.integrations.wandb import WandbLoggerCallback

        if not wandb_logged_in():
            os.environ["WANDB_MODE"] = "offline"
        callbacks.append(WandbLoggerCallback(project=args.experiment, group=args.name,
                                             dir=str(Path(args.storage_path).resolve())
                                             if "://" not in args.storage_path else None))
    return callbacks


class TrialRunsMLflowCallback(MLflowLoggerCallback):
    """``MLflowLoggerCallback`` that keeps one run per trial across ``--resume`` (a
    resumed trial goes on in the run tagged with its ``trial_id``) and closes the runs an
    interrupted sweep left open (status KILLED), so none is left RUNNING."""

    def _client(self):
        return self.mlflow_util._mlflow.tracking.MlflowClient()

    def log_trial_start(self, trial):
        if trial not in self._trial_runs:
            found = self._existing_run(trial.trial_id)
            if found is not None:
                self._trial_runs[trial] = found
                self._client().update_run(found, status="RUNNING")
        self.tags = {**(self.tags or {}), "trial_id": trial.trial_id}
        super().log_trial_start(trial)

    def _existing_run(self, trial_id: str):
        experiment = self._client().get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return None
        runs = self._client().search_runs([experiment.experiment_id],
                                          filter_string=f"tags.trial_id = '{trial_id}'")
        return runs[0].info.run_id if runs else None

    def on_experiment_end(self, trials, **info):
        for run_id in self._trial_runs.values():
            if self._client().get_run(run_id).info.status == "RUNNING":
                self._client().set_terminated(run_id, status="KILLED")
        super().on_experiment_end(trials, **info)


def make_mlflow_callback(uri: str, experiment_name: str) -> TrialRunsMLflowCallback:
    return TrialRunsMLflowCallback(tracking_uri=uri, experiment_name=experiment_name)
