"""Test perplexity against the training fraction, one line per method (and estimator),
with the bigram's perplexity as a dashed line (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imm_ray import analysis


def plot(rows: pd.DataFrame, out: Path, bigram_test_ppl: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = rows.assign(run=[m if e == "-" else f"{m} ({e}, λ={lam:g})" for m, e, lam in
                             zip(rows.method, rows.estimator, rows.imm_lambda, strict=True)])
    agg = analysis.aggregate(frame, ["run", "train_fraction"], "test_ppl")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    analysis.plot_with_ci(agg, x="train_fraction", hue="run", path=None, ax=ax,
                          ylabel="test perplexity", logx=agg.train_fraction.nunique() > 1,
                          title="GPT-2-style LM on PTB (BPE), mean and 95% CI over seeds")
    ax.axhline(bigram_test_ppl, ls="--", color="gray", label="KN bigram")
    ax.legend(fontsize=7)
    path = out / "lm_transformers.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
