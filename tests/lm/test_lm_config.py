"""LMConfig validation (each bad value named) and the presets that must still construct."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imm_ray.experiments.lm_ptb.config import PRESETS, preset_trial_config
from imm_ray.lm.config import LMConfig

BAD = [
    ("method", "kd"), ("model", "gru"), ("optimizer", "rmsprop"),
    ("history_source", "test"), ("restricted_data", "half"), ("device", "gpu"),
    ("k", 0), ("imm_length", 0), ("imm_every", 0),
    ("epochs", 0), ("batch_size", 0), ("bptt", 0), ("eval_batch_size", 0),
    ("emb_size", 0), ("hidden_size", 0), ("num_layers", 0), ("num_heads", 0),
    ("token_budget", -1), ("patience", -1), ("valid_tokens", -1), ("test_tokens", -1),
    ("imm_contexts", -1), ("imm_chunk", -1), ("imm_start_step", -1), ("threads", -1),
    ("seed", -1),
    ("train_fraction", 0.0), ("train_fraction", 1.5), ("train_fraction", math.nan),
    ("dropout", -0.1), ("dropout", 1.0), ("dropout", math.nan),
    ("noise_gamma", -0.1), ("noise_gamma", 1.1), ("noise_gamma", math.nan),
    ("imm_lambda", -0.5), ("imm_lambda", math.nan), ("imm_lambda", math.inf),
    ("lr", 0.0), ("lr", math.nan), ("lr", math.inf), ("lr", -1.0),
    ("lr_decay", 0.0), ("lr_decay", 1.5), ("clip", -1.0), ("clip", math.nan),
    ("imm_start_ppl", math.nan), ("imm_start_ppl", -1.0), ("imm_start_ppl", math.inf),
    ("imm_lambda_schedule", "no_such_preset"), ("imm_lambda_schedule", '{"slope": 1.0}'),
    ("imm_lambda_schedule", "{not json"),
    ("imm_lambda_schedule", '{"slope": 0, "intercept": 0.3, "max_ratio": 1.0}'),
    ("k", 2.5), ("k", True), ("lr", "fast"), ("tie_weights", 1), ("method", None),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_value_is_rejected_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        LMConfig(**{field: value})


@pytest.mark.parametrize(("field", "value"), [
    ("train_fraction", 1.0), ("dropout", 0.0), ("noise_gamma", 0.0), ("noise_gamma", 1.0),
    ("imm_lambda", 0.0), ("token_budget", 0), ("threads", 0), ("eval_batch_size", 1),
    ("imm_lambda_schedule", "reference_rl"),
    ("imm_lambda_schedule", '{"slope": 0, "intercept": 0.3}'), ("lr_decay", 1.0),
    ("clip", 0.0), ("restricted_data", "same"), ("device", "cuda"),
])
def test_edge_values_are_accepted(field, value):
    LMConfig(**{field: value})


def test_numpy_scalars_become_python_values():
    cfg = LMConfig(k=np.int64(3), lr=np.float32(0.5), imm_lambda=1)
    assert type(cfg.k) is int and type(cfg.lr) is float and cfg.lr == 0.5
    assert type(cfg.imm_lambda) is float


@pytest.mark.parametrize("kw,message", [
    (dict(model="transformer", emb_size=30, num_heads=4), "num_heads .4. must divide emb_size"),
    (dict(model="lstm", tie_weights=True, emb_size=30, hidden_size=20), "tie_weights needs"),
])
def test_model_shape_combinations(kw, message):
    with pytest.raises(ValueError, match=message):
        LMConfig(**kw)
    LMConfig(**{**kw, "model": "lstm" if kw["model"] == "transformer" else "transformer",
                "num_heads": 2})


def test_schedule_overrides_imm_lambda():
    assert LMConfig().schedule() is None
    cfg = LMConfig(imm_lambda=0.1, imm_lambda_schedule='{"slope": 0, "intercept": 0.5}')
    assert cfg.schedule()(1000) == pytest.approx(1.0)  # r = 0.5 -> lambda = 1


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_every_preset_constructs(preset, model):
    cfg = LMConfig(**preset_trial_config(preset, model))
    assert cfg.model == model


def test_model_overrides_only_in_small_presets():
    assert preset_trial_config("cpu", "transformer")["lr"] == 3e-3
    assert preset_trial_config("cpu", "lstm")["lr"] == PRESETS["cpu"]["fixed"]["lr"]
    assert preset_trial_config("paper", "transformer")["lr"] == PRESETS["paper"]["fixed"]["lr"]
