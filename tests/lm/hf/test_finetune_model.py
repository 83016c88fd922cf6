"""SharedEncoderModel (one encoder for BERT / RoBERTa / DistilBERT), FinetuneTrainer runs
every method and logs its losses, and bad input names the argument."""

from __future__ import annotations

import math

import pytest
import torch
from finetune_helpers import bigram_of, tiny_shared, tokenizer_wp, toy_split  # noqa: F401

from imm_ray.lm.hf import glue

FAMILIES = ["bert-tiny", "roberta-tiny", "distilbert-tiny"]


@pytest.mark.parametrize("name", FAMILIES)
def test_encoder_is_shared(name):
    model = tiny_shared(name, 60)
    assert model.mlm.base_model is model.classifier.base_model
    emb = model.classifier.get_input_embeddings().weight
    assert model.mlm.get_output_embeddings().weight is emb
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith(f"mlm.{model.mlm.base_model_prefix}.") for n in names)


def train(tmp_path, tok, method, name="bert-tiny", estimator="sampled", steps=3, **kw):
    from transformers import DataCollatorWithPadding, TrainingArguments

    from imm_ray.lm.hf.finetune_trainer import FinetuneTrainer

    text_dir = kw.pop("text_dir")
    data = glue.encode_split(toy_split(text_dir, pair=name == "bert-tiny"), tok, 32)
    model = kw.pop("model", None) or tiny_shared(name, len(tok), with_mlm=method != "finetune")
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True,
                             max_steps=steps, per_device_train_batch_size=8, logging_steps=1,
                             save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
    trainer = FinetuneTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                              data_collator=DataCollatorWithPadding(tok),
                              restricted=bigram_of(data, len(tok)), method=method,
                              induced=estimator, **kw)
    trainer.train()
    return trainer


@pytest.mark.parametrize("name,method,estimator", [
    ("bert-tiny", "finetune", "sampled"), ("bert-tiny", "mlm", "sampled"),
    ("bert-tiny", "mlm_imm", "sampled"), ("roberta-tiny", "mlm_imm", "in_batch"),
    ("distilbert-tiny", "mlm_imm", "sampled")])
def test_trainer_runs_and_logs(tmp_path, text_dir, tokenizer_wp,  # noqa: F811
         name, method, estimator):
    trainer = train(tmp_path, tokenizer_wp, method, name, estimator, text_dir=text_dir)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert logs and all(math.isfinite(h["loss"]) for h in logs)
    assert ("loss/mlm" in logs[-1]) == (method != "finetune")
    assert ("loss/imm" in logs[-1]) == (method == "mlm_imm")
    pred = trainer.predict(glue.encode_split(toy_split(text_dir, 8, pair=name == "bert-tiny"),
                                             tokenizer_wp, 32))
    assert pred.predictions.shape == (8, 2)


def test_mlm_step_moves_the_classifier_encoder(tmp_path, text_dir,
        tokenizer_wp):  # noqa: F811
    model = tiny_shared("bert-tiny", len(tokenizer_wp))
    before = model.classifier.base_model.encoder.layer[0].attention.self.query.weight.clone()
    train(tmp_path, tokenizer_wp, "mlm", model=model, steps=1, text_dir=text_dir, mlm_weight=1.0)
    after = model.classifier.base_model.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(before, after)


def test_bad_input_names_the_argument(tmp_path, text_dir, tokenizer_wp):  # noqa: F811 (fixture)
    from transformers import AutoModelForSequenceClassification, GPT2Config, GPT2LMHeadModel

    from imm_ray.lm.hf.encoders import tiny_encoder_config
    from imm_ray.lm.hf.finetune import SharedEncoderModel, load_shared

    tok = tokenizer_wp
    with pytest.raises(ValueError, match="model: method 'mlm' needs a masked-LM head"):
        train(tmp_path, tok, "mlm", model=tiny_shared("bert-tiny", len(tok), with_mlm=False),
              text_dir=text_dir)
    with pytest.raises(ValueError, match="mask_rate must be in"):
        train(tmp_path, tok, "mlm", mask_rate=1.0, text_dir=text_dir)
    with pytest.raises(ValueError, match=r"tokenizer vocabulary \(\d+\) is larger"):
        train(tmp_path, tok, "mlm", model=tiny_shared("bert-tiny", 10), text_dir=text_dir)
    with pytest.raises(ValueError, match="mlm must be an AutoModelForMaskedLM"):
        clf = AutoModelForSequenceClassification.from_config(
            tiny_encoder_config("bert-tiny", 60))
        SharedEncoderModel(clf, GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2)))
    folder = tmp_path / "gpt2"
    from transformers import GPT2ForSequenceClassification

    GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=8, n_head=2,
                                             vocab_size=60)).save_pretrained(folder)
    with pytest.raises(ValueError, match="has no masked-LM head"):
        load_shared(str(folder), 2, with_mlm=True)
