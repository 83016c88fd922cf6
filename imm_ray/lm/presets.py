"""Settings of the LM sweep presets (``sweeps/lm_ptb.py --preset NAME``) and benchmark.

Each preset is ``fixed`` LMConfig fields plus ``grid`` axes; ``MODEL_OVERRIDES`` adjusts
the small (CPU) presets per model (an explicit ``--set`` of the same field wins). The
small presets' values were chosen by measurement (see the README sections "Measured
results (preset `cpu`, 3 seeds)" and "Cost of IMM"): a 64-unit model, Adam, an equal
token budget at every train_fraction with early stopping (patience 2), and IMM on 32
sampled positions per step with k = 10 histories of L = 5 tokens.
"""

from __future__ import annotations

_SMALL = dict(emb_size=64, hidden_size=64, optimizer="adam", lr=1e-2, dropout=0.3,
              valid_tokens=10_000, eval_batch_size=20, token_budget=140_000, patience=2,
              imm_length=5, imm_contexts=32, k=10)
PRESETS = {
    "quick": dict(
        fixed={**_SMALL, "emb_size": 32, "hidden_size": 32, "epochs": 1, "token_budget": 0,
               "patience": 0, "valid_tokens": 2_000, "test_tokens": 5_000,
               "imm_contexts": 8, "k": 4},
        grid=dict(model=["lstm", "transformer"], method=["none", "imm"], lam=[0.5], k=[4],
                  train_fraction=[0.01], seed=[0])),
    "cpu": dict(
        fixed=dict(_SMALL),
        grid=dict(model=["lstm", "transformer"],
                  method=["none", "noising", "reverse_kd", "imm"], lam=[0.5], k=[10],
                  train_fraction=[0.02, 0.1], seed=[0, 1, 2])),
    "cpu-full": dict(
        fixed=dict(emb_size=200, hidden_size=200, num_layers=2, dropout=0.2, optimizer="sgd",
                   lr=1.0, epochs=6, patience=0, valid_tokens=0, test_tokens=0,
                   imm_length=5, imm_contexts=32, k=10),
        grid=dict(model=["lstm"], method=["none", "noising", "reverse_kd", "imm"], lam=[0.2],
                  k=[10], train_fraction=[1.0], seed=[0])),
    "gpu": dict(
        fixed=dict(emb_size=650, hidden_size=650, dropout=0.5, optimizer="sgd", lr=1.0,
                   epochs=39, patience=6, imm_length=35, imm_contexts=128, k=10,
                   device="auto"),
        grid=dict(model=["lstm", "transformer"],
                  method=["none", "noising", "reverse_kd", "imm"], lam=[0.2], k=[10],
                  train_fraction=[0.1, 1.0], seed=[0, 1, 2])),
    "paper": dict(
        fixed=dict(emb_size=1500, hidden_size=1500, dropout=0.65, optimizer="sgd", lr=1.0,
                   epochs=55, imm_length=35, imm_contexts=0, imm_every=5, k=10,
                   imm_start_ppl=90.0, imm_chunk=2, device="auto"),
        grid=dict(model=["lstm"], method=["none", "noising", "imm"], lam=[0.2], k=[10],
                  train_fraction=[1.0], seed=[0])),
}
MODEL_OVERRIDES = {"transformer": dict(dropout=0.2, lr=3e-3)}
"""Per-model settings applied on top of a small preset's fixed config."""
SMALL_PRESETS = ("quick", "cpu")
"""The presets that ``MODEL_OVERRIDES`` applies to."""


def model_overrides(preset: str, model: str) -> dict:
    """``model``'s ``MODEL_OVERRIDES`` in a small preset, else nothing."""
    return dict(MODEL_OVERRIDES.get(model, {})) if preset in SMALL_PRESETS else {}


def preset_trial_config(preset: str, model: str) -> dict:
    """The fixed fields of ``preset`` with ``model``'s overrides (small presets only)."""
    return {**PRESETS[preset]["fixed"], **model_overrides(preset, model), "model": model}
