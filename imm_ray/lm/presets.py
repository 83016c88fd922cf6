"""Settings of the LM sweep presets (``sweeps/lm_ptb.py --preset NAME``) and benchmark.

Each preset is ``fixed`` :class:`~imm_ray.lm.config.LMConfig` fields, ``grid`` axes (the
fields of :class:`~imm_ray.lm.grid.LMGrid`) and ``model_overrides`` (fields set per model on
top of ``fixed``; an explicit flag of the same field wins). The small presets' values were
chosen by measurement (docs/lm_ptb.md, "Measured results" and "Cost of IMM"): a 64-unit
model, Adam, an equal token budget at every train_fraction with early stopping (patience
2), and IMM on 32 sampled positions per step with k = 10 histories of L = 5 tokens.

- ``quick``: tests, about a minute.
- ``cpu``: the bigram from the whole training split, the full model on 2% / 10% of it.
- ``cpu-same``: the bigram from exactly the prefix the full model trains on.
- ``cpu-full``: the whole training split, a 2 x 200 LSTM far better than the bigram, 4
  epochs (sized for the shared 2-core machine; ``--epochs`` for more).
- ``gpu``, ``paper``: 650- and 1500-unit models (the paper's setting), for a GPU.

SGD presets use lr 20 and clipping 0.25: the training loss here is the *mean* NLL per token,
while the reference (TensorFlow, Zaremba et al.) sums it over the 35 unrolled steps, so its
"lr 1, clip 5" is lr 35, clip ~0.14 in our units; lr 20 / clip 0.25 is PyTorch's
word_language_model setting for the same models. (lr 1 on the mean loss learns ~35x too
slowly: a 2 x 200 LSTM is still at validation perplexity 616 after one PTB epoch.)
"""

from __future__ import annotations

METHODS = ["none", "noising", "reverse_kd", "imm"]
_SMALL = dict(emb_size=64, hidden_size=64, optimizer="adam", lr=1e-2, dropout=0.3,
              valid_tokens=10_000, eval_batch_size=20, token_budget=140_000, patience=2,
              imm_length=5, imm_contexts=32, k=10)
_SMALL_OVERRIDES = {"transformer": dict(dropout=0.2, lr=3e-3)}
PRESETS = {
    "quick": dict(
        fixed={**_SMALL, "emb_size": 32, "hidden_size": 32, "epochs": 1, "token_budget": 0,
               "patience": 0, "valid_tokens": 2_000, "test_tokens": 5_000,
               "imm_contexts": 8, "k": 4},
        grid=dict(models=["lstm", "transformer"], methods=["none", "imm"], imm_lambdas=[0.5],
                  ks=[4], train_fractions=[0.01], seeds=[0]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu": dict(
        fixed=dict(_SMALL),
        grid=dict(models=["lstm", "transformer"], methods=METHODS, imm_lambdas=[0.5],
                  ks=[10], train_fractions=[0.02, 0.1], seeds=[0, 1, 2]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu-same": dict(
        fixed=dict(_SMALL),
        grid=dict(models=["lstm"], methods=METHODS, imm_lambdas=[0.5], ks=[10],
                  train_fractions=[0.05, 0.1, 0.3], seeds=[0, 1, 2],
                  restricted_data=["same"]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu-full": dict(
        fixed=dict(emb_size=200, hidden_size=200, num_layers=2, dropout=0.2, optimizer="sgd",
                   lr=20.0, clip=0.25, epochs=4, patience=0, valid_tokens=0, test_tokens=0,
                   imm_length=5, imm_contexts=32, k=10),
        grid=dict(models=["lstm"], methods=METHODS, imm_lambdas=[0.2], ks=[10],
                  train_fractions=[1.0], seeds=[0]),
        model_overrides={}),
    "gpu": dict(
        fixed=dict(emb_size=650, hidden_size=650, dropout=0.5, optimizer="sgd", lr=20.0,
                   clip=0.25,
                   epochs=39, patience=6, imm_length=35, imm_contexts=128, k=10,
                   num_heads=10),  # 650 = 10 x 65 (4 heads do not divide 650)
        grid=dict(models=["lstm", "transformer"], methods=METHODS, imm_lambdas=[0.2],
                  ks=[10], train_fractions=[0.1, 1.0], seeds=[0, 1, 2]),
        model_overrides={}),
    "paper": dict(
        fixed=dict(emb_size=1500, hidden_size=1500, dropout=0.65, optimizer="sgd", lr=20.0,
                   clip=0.25,
                   epochs=55, imm_length=35, imm_contexts=0, imm_every=5, k=10,
                   imm_start_ppl=90.0, imm_chunk=2),
        grid=dict(models=["lstm"], methods=["none", "noising", "imm"], imm_lambdas=[0.2],
                  ks=[10], train_fractions=[1.0], seeds=[0]),
        model_overrides={}),
}


def preset_trial_config(preset: str, model: str) -> dict:
    """The fixed fields of ``preset`` with ``model``'s overrides and ``model`` itself."""
    p = PRESETS[preset]
    return {**p["fixed"], **p["model_overrides"].get(model, {}), "model": model}
