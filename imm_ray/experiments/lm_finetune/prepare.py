"""The driver's preparation, before Ray: the task folder and the model folder, resolved
and checked (naming the flag) so trials only read paths."""

from __future__ import annotations

from pathlib import Path

from imm_ray.experiments.lm_finetune.data import digest, pretrain_bert, ptb_acceptability
from imm_ray.lm.hf import glue
from imm_ray.lm.hf.encoders import TINY, tiny_encoder_config, train_wordpiece


def task_folder(task: str, glue_dir: str, ptb_dir: str, cache: Path, n_train: int,
                n_dev: int, seed: int = 0, edits: int = 1) -> str:
    """ptb-acceptability: built (cached); a GLUE task: --glue-dir, read once to check it."""
    if task == "ptb-acceptability":
        return ptb_acceptability(ptb_dir, cache, n_train, n_dev, seed, edits)
    name = glue.task_name(task)
    if not glue_dir:
        raise ValueError(f"--glue-dir: the GLUE task {task!r} needs its folder (train.tsv, "
                         "dev.tsv)")
    glue.read_task(glue_dir, name)
    return str(Path(glue_dir).expanduser())


def random_encoder(name: str, data_dir: str, task: str, cache: Path, max_length: int) -> str:
    """A built-in tiny encoder with random weights and a WordPiece tokenizer trained on the
    task's training text, saved as a folder (cached)."""
    from transformers import AutoModelForMaskedLM

    train = Path(data_dir) / "train.tsv"
    out = cache / f"{name}-{digest(train, max_length)}"
    if (out / "config.json").is_file():
        return str(out)
    text = out / "train_text.txt"
    out.mkdir(parents=True, exist_ok=True)
    split = glue.read_task(data_dir, task)["train"]
    text.write_text("\n".join(split.text_a + (split.text_b or [])))
    tok = train_wordpiece([text], 500, out)
    AutoModelForMaskedLM.from_config(tiny_encoder_config(name, len(tok), max_length)
                                     ).save_pretrained(out)
    return str(out)


def model_folder(model: str, data_dir: str, task: str, cache: Path, max_length: int,
                 ptb_dir: str, pretrain_steps: int, pretrain_shape: str = "bert-tiny") -> str:
    """ptb-bert: a ``pretrain_shape`` BERT pretrained here (cached) with ``max_length``
    positions; a built-in name: random weights; else as given."""
    if model == "ptb-bert":
        return pretrain_bert(Path(ptb_dir) / "ptb.train.txt", cache, model=pretrain_shape,
                             vocab_size=2000, max_length=max_length, steps=pretrain_steps,
                             batch_size=32, lr=2e-3)
    if model in TINY:
        return random_encoder(model, data_dir, task, cache, max_length)
    return model


def check_model(path: str, methods, max_length: int) -> None:
    """--model has a masked-LM head for the MLM methods, and its tokenizer fits it."""
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(path)
    if set(methods) - {"finetune"} and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ValueError(f"--model {path!r} ({config.model_type}) has no masked-LM head, which "
                         "the methods mlm and mlm_imm need")
    positions = getattr(config, "max_position_embeddings", None)
    if config.model_type == "roberta" and positions is not None:
        positions -= 2  # RoBERTa's positions start after the padding id
    if positions is not None and max_length > positions:
        raise ValueError(f"--max-length {max_length} is above --model {path!r}'s "
                         f"{positions} positions")
    tok = AutoTokenizer.from_pretrained(path)
    if len(tok) > config.vocab_size:
        raise ValueError(f"--model {path!r}: tokenizer vocabulary ({len(tok)}) is larger than "
                         f"the model's ({config.vocab_size})")
    if tok.mask_token_id is None and set(methods) - {"finetune"}:
        raise ValueError(f"--model {path!r}: the tokenizer has no mask token")


def truncated(path: str, data_dir: str, task: str, max_length: int) -> tuple[int, int]:
    """(training examples longer than ``max_length`` tokens, training examples): what the
    trials' truncation cuts, printed by the sweep (a cut corruption is label noise)."""
    from transformers import AutoTokenizer

    split = glue.read_task(data_dir, task)["train"]
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(split.text_a, split.text_b) if split.text_b else tok(split.text_a)
    return sum(len(ids) > max_length for ids in enc["input_ids"]), len(split)
