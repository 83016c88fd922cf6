"""What the IMM term costs in fine-tuning: step time of finetune+mlm+imm over finetune+mlm.

One ``FinetuneTrainer`` training step (forward, backward, optimizer) on the same batches
of a tiny BERT (``bert-tiny``: 2 x 64, random weights, WordPiece vocabulary trained on PTB
valid) for ``finetune``, ``mlm``, ``mlm_imm`` sampled (k = 5, 8 contexts, 16-token
windows) and ``mlm_imm`` in_batch; the methods are interleaved in blocks of 3 steps after
warm-up, the median step time of each is kept. Goal: mlm_imm / mlm <= 1.5.

Run::

    python benchmarks/lm_finetune.py                   # writes benchmarks/lm_finetune.json
    python benchmarks/lm_finetune.py --steps 6 --out /tmp/x.json   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from imm_ray.lm.data import default_data_dir  # noqa: E402
from imm_ray.lm.hf import bigram, glue  # noqa: E402

RUNS = {"finetune": dict(method="finetune"), "mlm": dict(method="mlm"),
        "mlm_imm_sampled": dict(method="mlm_imm", induced="sampled", k=5, imm_positions=8,
                                imm_length=16),
        "mlm_imm_in_batch": dict(method="mlm_imm", induced="in_batch", k=5, imm_positions=8)}


def setup(tmp: Path, batch: int):
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    from imm_ray.experiments.lm_finetune.data import acceptability_split
    from imm_ray.lm.hf.encoders import tiny_encoder_config, train_wordpiece

    lines = (default_data_dir() / "ptb.valid.txt").read_text().splitlines()
    (tmp / "text.txt").write_text("\n".join(lines))
    tok = train_wordpiece([tmp / "text.txt"], 2000)
    data = glue.encode_split(acceptability_split(lines, 512, np.random.default_rng(0)), tok, 48)
    kn = bigram(np.concatenate([np.asarray(s) for s in data.sequences()]), len(tok))
    config = tiny_encoder_config("bert-tiny", len(tok), 48)
    return tok, data, kn, lambda: (AutoModelForSequenceClassification.from_config(config),
                                   AutoModelForMaskedLM.from_config(config))


def trainer_for(name, tok, data, kn, build, tmp):
    from transformers import DataCollatorWithPadding, TrainingArguments

    from imm_ray.lm.hf.finetune import SharedEncoderModel
    from imm_ray.lm.hf.finetune_trainer import FinetuneTrainer

    torch.manual_seed(0)
    model = SharedEncoderModel(*build())
    args = TrainingArguments(output_dir=str(tmp / name), report_to=[], use_cpu=True,
                             per_device_train_batch_size=16, save_strategy="no",
                             disable_tqdm=True, max_steps=1)
    t = FinetuneTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                        data_collator=DataCollatorWithPadding(tok), restricted=kn, **RUNS[name])
    t.create_optimizer()
    t.current_gradient_accumulation_steps = 1  # set by Trainer's own loop; we step by hand
    return t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per method")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from transformers import DataCollatorWithPadding

    with tempfile.TemporaryDirectory() as tmp:
        tok, data, kn, build = setup(Path(tmp), 16)
        trainers = {n: trainer_for(n, tok, data, kn, build, Path(tmp)) for n in RUNS}
        collate = DataCollatorWithPadding(tok)
        batches = [collate([data[(i * 16 + j) % len(data)] for j in range(16)])
                   for i in range(a.steps + 2)]
        times = {n: [] for n in RUNS}
        for block in range(0, a.steps + 2, 3):
            for n, t in trainers.items():
                for b in batches[block:block + 3]:
                    t.model.train()
                    start = time.perf_counter()
                    t.training_step(t.model, dict(b))
                    t.optimizer.step()
                    t.optimizer.zero_grad()
                    if block > 0:  # the first block is warm-up
                        times[n].append(time.perf_counter() - start)
    med = {n: statistics.median(v) for n, v in times.items()}
    out = {"model": "bert-tiny (2 x 64, vocab 2000), batch 16, <= 48 tokens, CPU",
           "threads": a.threads, "steps_per_method": len(times["mlm"]),
           "load_average_1min": os.getloadavg()[0],
           "median_step_seconds": med,
           "ratio_mlm_imm_sampled_over_mlm": med["mlm_imm_sampled"] / med["mlm"],
           "ratio_mlm_imm_in_batch_over_mlm": med["mlm_imm_in_batch"] / med["mlm"],
           "goal": "mlm_imm / mlm <= 1.5", "settings": RUNS}
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
