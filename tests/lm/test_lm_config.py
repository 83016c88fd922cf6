"""LMConfig validation (each bad value named) and the presets that must still construct."""

from __future__ import annotations

import math

import pytest

from imm_ray.lm.config import LMConfig, parse_assignments
from imm_ray.lm.presets import MODEL_OVERRIDES, PRESETS, model_overrides, preset_trial_config

BAD = [
    ("method", "kd"), ("model", "gru"), ("optimizer", "rmsprop"),
    ("history_source", "test"), ("k", 0), ("imm_length", 0), ("imm_every", 0),
    ("epochs", 0), ("batch_size", 0), ("bptt", 0), ("eval_batch_size", 0),
    ("token_budget", -1), ("patience", -1), ("valid_tokens", -1), ("test_tokens", -1),
    ("imm_contexts", -1), ("imm_chunk", -1), ("imm_start_step", -1), ("threads", -1),
    ("train_fraction", 0.0), ("train_fraction", 1.5), ("train_fraction", math.nan),
    ("dropout", -0.1), ("dropout", 1.0), ("dropout", math.nan),
    ("noise_gamma", -0.1), ("noise_gamma", 1.1), ("noise_gamma", math.nan),
    ("lam", -0.5), ("lam", math.nan), ("lam", math.inf),
    ("lam_schedule", "no_such_preset"), ("lam_schedule", '{"slope": 1.0}'),
    ("lam_schedule", "{not json"),
    ("lam_schedule", '{"slope": 0, "intercept": 0.3, "max_ratio": 1.0}'),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_value_is_rejected_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        LMConfig(**{field: value})


@pytest.mark.parametrize(("field", "value"), [
    ("train_fraction", 1.0), ("dropout", 0.0), ("noise_gamma", 0.0), ("noise_gamma", 1.0),
    ("lam", 0.0), ("token_budget", 0), ("threads", 0), ("eval_batch_size", 1),
    ("lam_schedule", "reference_rl"), ("lam_schedule", '{"slope": 0, "intercept": 0.3}'),
])
def test_edge_values_are_accepted(field, value):
    LMConfig(**{field: value})


def test_schedule_overrides_lam():
    assert LMConfig().schedule() is None
    cfg = LMConfig(lam=0.1, lam_schedule='{"slope": 0, "intercept": 0.5}')
    assert cfg.schedule()(1000) == pytest.approx(1.0)  # r = 0.5 -> lambda = 1


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_every_preset_constructs(preset, model):
    cfg = LMConfig(**preset_trial_config(preset, model))
    assert cfg.model == model


def test_model_overrides_only_in_small_presets():
    assert model_overrides("cpu", "transformer") == MODEL_OVERRIDES["transformer"]
    assert model_overrides("paper", "transformer") == {}
    assert model_overrides("cpu", "lstm") == {}


@pytest.mark.parametrize("item,expected", [
    ("tie_weights=YES", {"tie_weights": True}), ("tie_weights=1", {"tie_weights": True}),
    ("tie_weights=false", {"tie_weights": False}), ("tie_weights=No", {"tie_weights": False}),
    ("epochs=4", {"epochs": 4}), ("lr=1e-3", {"lr": 1e-3}), ("lam=2", {"lam": 2.0}),
    ("optimizer=sgd", {"optimizer": "sgd"}), ("lam_schedule=", {"lam_schedule": ""}),
])
def test_assignments_are_typed_as_the_field(item, expected):
    out = parse_assignments([item])
    assert out == expected
    assert all(type(v) is type(getattr(LMConfig, k)) for k, v in out.items())


@pytest.mark.parametrize("item,message", [
    ("lr", "--set lr: expected FIELD=VALUE"),
    ("learning_rate=0.1", "--set learning_rate: unknown LMConfig field"),
    ("tie_weights=maybe", r"--set tie_weights: expected a bool \(1/true/yes or 0/false/no\)"),
    ("tie_weights=", "--set tie_weights: expected a bool"),
    ("epochs=2.5", "--set epochs: expected an int, got '2.5'"),
    ("epochs=", "--set epochs: expected an int, got ''"),
    ("lr=fast", "--set lr: expected a float, got 'fast'"),
])
def test_bad_assignment_names_the_flag_and_field(item, message):
    with pytest.raises(ValueError, match=message):
        parse_assignments([item])
