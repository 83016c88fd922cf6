"""The same IMMTrainer run data-parallel on N workers through Ray Train.

:func:`fit` builds a ``ray.train.torch.TorchTrainer`` whose workers each run
:func:`train_loop_per_worker`: load the prepared corpus and bigram (plain ``.npz``, no
pickle), build the model, wrap the :class:`~imm_ray.lm.hf.trainer.IMMTrainer` with
``ray.train.huggingface.transformers.prepare_trainer`` and report through
``RayTrainReportCallback`` (metrics and the HF checkpoint on every save), then report the
final validation / test perplexities. Ray Train sets up the process group (gloo on CPU,
NCCL on GPU) and ``Trainer`` wraps the model in DDP; every worker's batches are its shard
of the global batch (``per_device_train_batch_size`` x workers), and the IMM term is
computed on that shard only.

``config`` (a JSON-able dict): ``corpus_path`` (:meth:`TextCorpus.save`),
``restricted_path`` (``KneserNeyBigram.to_arrays`` as ``.npz``, or None for ``none``),
``model`` (built-in name or folder), ``n_positions``, ``dropout``, ``seed``,
``train_fraction``, ``eval_tokens`` (0: whole valid / test splits), ``settings``
(:class:`~imm_ray.lm.hf.checks.TrainerSettings` fields),
``training_args`` (``TrainingArguments`` fields).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np

from imm_ray.lm.hf.configs import build_model
from imm_ray.lm.hf.corpus import TextCorpus
from imm_ray.restricted.kneser_ney import KneserNeyBigram

METRICS_FILE = "final_metrics.json"


def load_restricted(path: str | None) -> KneserNeyBigram | None:
    if not path:
        return None
    with np.load(path, allow_pickle=False) as z:
        return KneserNeyBigram.from_arrays(z)


def make_trainer(config: dict, output_dir: str, callbacks=()):
    """The :class:`IMMTrainer` a config describes (also used in-process, without Ray)."""
    import torch
    from transformers import TrainingArguments

    from imm_ray.lm.hf.trainer import IMMTrainer

    corpus = TextCorpus.load(config["corpus_path"])
    cap = config.get("eval_tokens") or None  # evaluate on the first tokens of valid / test
    corpus.valid_ids = corpus.valid_ids[:cap]
    corpus.test_ids = None if corpus.test_ids is None else corpus.test_ids[:cap]
    torch.manual_seed(config["seed"])
    model = build_model(config["model"], corpus.vocab_size, config["n_positions"],
                        config["dropout"], seed=config["seed"])
    args = TrainingArguments(output_dir=output_dir, seed=config["seed"], report_to=[],
                             disable_tqdm=True, **config["training_args"])
    train = corpus.blocks("train", config.get("train_fraction", 1.0))
    if len(train) == 0:
        raise ValueError(f"train_fraction {config.get('train_fraction')}: no training block")
    return IMMTrainer(model=model, args=args, train_dataset=train, eval_dataset=corpus.valid,
                      restricted=load_restricted(config.get("restricted_path")),
                      history_ids=train.blocks.reshape(-1), callbacks=list(callbacks),
                      **config["settings"]), corpus


def final_metrics(trainer, corpus: TextCorpus) -> dict[str, float]:
    """Validation and test perplexity (``exp`` of the mean token cross-entropy)."""
    out = {"valid_ppl": math.exp(trainer.evaluate(corpus.valid)["eval_loss"])}
    if corpus.test_ids is not None:
        out["test_ppl"] = math.exp(trainer.evaluate(corpus.test, metric_key_prefix="test")
                                   ["test_loss"])
    return out


def train_loop_per_worker(config: dict) -> None:
    """One Ray Train worker: the IMMTrainer, prepared for Ray, then the final report."""
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    with tempfile.TemporaryDirectory() as out:
        trainer, corpus = make_trainer(config, out, [RayTrainReportCallback()])
        trainer = prepare_trainer(trainer)
        result = trainer.train()
        report_final({**final_metrics(trainer, corpus), "train_loss": result.training_loss,
                      "steps": trainer.state.global_step,
                      "train_runtime": result.metrics["train_runtime"]})


def report_final(metrics: dict) -> None:
    """Every worker reports ``metrics``; rank 0 attaches them as a small JSON checkpoint,
    because Ray Train's ``Result.metrics`` are those of the last *checkpointed* report
    (read back with :func:`result_metrics`)."""
    import ray.train

    with tempfile.TemporaryDirectory() as ck:
        checkpoint = None
        if ray.train.get_context().get_world_rank() == 0:
            Path(ck, METRICS_FILE).write_text(json.dumps(metrics))
            checkpoint = ray.train.Checkpoint.from_directory(ck)
        ray.train.report(metrics, checkpoint=checkpoint)


def result_metrics(result) -> dict:
    """The final metrics of a :func:`fit` result (from rank 0's last checkpoint)."""
    with result.checkpoint.as_directory() as folder:
        return json.loads(Path(folder, METRICS_FILE).read_text())


def check_workers(num_workers: int, cpus_per_worker: float, gpus_per_worker: float) -> None:
    """ValueError naming ``--num-workers`` when the running Ray cluster cannot place them
    (all workers at once: Ray Train starts them together)."""
    import ray

    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"--num-workers must be an integer >= 1, got {num_workers!r}")
    have = ray.cluster_resources()
    need = {"CPU": num_workers * cpus_per_worker, "GPU": num_workers * gpus_per_worker}
    short = {k: v for k, v in need.items() if v > have.get(k, 0.0)}
    if short:
        raise ValueError(f"--num-workers {num_workers} (x {cpus_per_worker:g} CPU, "
                         f"{gpus_per_worker:g} GPU each) needs {short}, but the Ray cluster has "
                         f"{ {k: have.get(k, 0.0) for k in short} }")


def fit(config: dict, num_workers: int, gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0, storage_path: str | None = None, name: str | None = None):
    """Run ``config`` on ``num_workers`` Ray Train workers; returns the ``ray.train.Result``
    (``result.metrics``: the final ``valid_ppl``, ``test_ppl``, ``train_loss``)."""
    return run_on_workers(train_loop_per_worker, config, num_workers, gpus_per_worker,
                          cpus_per_worker, storage_path, name)


def run_on_workers(loop, config: dict, num_workers: int, gpus_per_worker: float = 0.0,
                   cpus_per_worker: float = 1.0, storage_path: str | None = None,
                   name: str | None = None):
    """``loop(config)`` on ``num_workers`` workers of a ``TorchTrainer`` (checked
    placeable first, :func:`check_workers`); returns the ``ray.train.Result``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    check_workers(num_workers, cpus_per_worker, gpus_per_worker)
    resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if gpus_per_worker else {})}
    trainer = TorchTrainer(
        loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(storage_path=storage_path, name=name))
    return trainer.fit()
