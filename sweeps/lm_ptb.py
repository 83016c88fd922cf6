"""Language modelling on Penn Treebank: a Kneser-Ney bigram helps full-history LMs.

What it shows: LSTM and transformer LMs trained on a fraction of PTB with the main loss
only (``none``, dropout), KN bigram noising, reverse KD from the bigram, and sampled IMM
(the bigram is estimated on the whole training split, the "restricted model from a larger
auxiliary dataset" case). IMM's test perplexity is below ``none``'s and ``noising``'s, and
the gap grows as ``train_fraction`` shrinks.

Run (local Ray; ``--address`` joins a cluster, ``--resume`` continues a stopped sweep)::

    python sweeps/lm_ptb.py                    # preset cpu: ~30 min, idle 2 cores (est.)
    python sweeps/lm_ptb.py --quick            # about 35 s (tests)
    python sweeps/lm_ptb.py --analyze results/A results/B --name merged   # no training
    python sweeps/lm_ptb.py --preset paper --gpus-per-trial 0.5 --data-dir /data/ptb

Axes (``--methods``, ``--models``, ``--lams``, ``--ks``, ``--train-fractions``,
``--seeds``) override the preset's grid; ``--set FIELD=VALUE`` any other LMConfig field
(it wins over the preset's per-model settings too); ``--epochs N`` trains N epochs instead
of the preset's epochs or token budget; ``--asha`` stops poor trials early (it needs a
fixed epoch count: with the ``cpu`` preset's token budget, pass ``--epochs``). Ends with
``results: <CSV>`` (a row per trial: model, method, lambda, k, train_fraction, seed,
valid_ppl, test_ppl, ...) and ``plot: <PNG>`` lines.

Measured (preset cpu, seeds 0-2, full test split, mean ± 95% CI; the whole table, with
reverse KD, is in the README): test perplexity at train_fraction 0.02 / 0.1

    LSTM         none 768.7 ± 14.6 / 375.0 ± 14.4   noising 723.5 ± 111 / 383.6 ± 9.8
                 imm  499.0 ± 22.0 / 294.0 ± 8.2
    transformer  none 696.0 ± 27.6 / 360.5 ± 3.6    noising 660.3 ± 1.7 / 367.1 ± 4.1
                 imm  494.2 ± 6.7  / 296.3 ± 3.6

(the KN bigram alone: 185.7). ``--quick`` takes about 35 s on 2 cores.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from imm_ray import analysis, tune_cli
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig, parse_assignments
from imm_ray.lm.presets import PRESETS, model_overrides
from imm_ray.lm.train import TRIAL_KEY, train_lm

EXPERIMENT = "lm_ptb"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ptb"
COLORS = {"none": "black", "noising": "tab:orange", "reverse_kd": "tab:green",
          "imm": "tab:blue"}
CSV_COLUMNS = ["model", "method", "lambda", "k", "train_fraction", "seed", "valid_ppl",
               "test_ppl"]

# ----------------------------------------------------------------------------- config


def parse_args(argv=None):
    """Flags -> args; every bad flag or grid value is reported before Ray starts."""
    p = tune_cli.sweep_parser(__doc__.split("\n")[0], EXPERIMENT)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA),
                   help="folder with ptb.{train,valid,test}.txt; '' loads the hub dataset "
                        "ptb_text_only (needs network)")
    p.add_argument("--cache-dir", default=None, help="tokenised corpus cache "
                   "(default $IMM_RAY_CACHE or ~/.cache/imm_ray; must be visible to workers)")
    for axis, tp in [("methods", str), ("models", str), ("lams", float), ("ks", int),
                     ("train-fractions", float), ("seeds", int)]:
        p.add_argument(f"--{axis}", nargs="+", type=tp, default=None,
                       help=f"grid axis (default: the preset's {axis})")
    p.add_argument("--epochs", type=int, default=None,
                   help="train this many epochs (replaces the preset's epochs or token budget)")
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="override an LMConfig field (not a grid axis) for every trial; "
                        "wins over the preset and its per-model settings")
    p.add_argument("--asha", action="store_true",
                   help="ASHA early stopping on valid ppl (needs a fixed epoch count)")
    p.add_argument("--analyze", nargs="+", default=None, metavar="EXPERIMENT_DIR",
                   help="no training: merge finished trials of these experiment folders "
                        "(first finished run of each grid point wins) into one CSV + plots")
    args = p.parse_args(argv)
    if args.quick:
        args.preset = "quick"
    try:
        if not args.analyze:
            build_grid(args)  # before validate_common, which creates the experiment folder
        tune_cli.validate_common(args)
    except ValueError as e:
        p.error(str(e))
    return args


GRID_AXES = [("method", "methods"), ("model", "models"), ("lam", "lams"), ("k", "ks"),
             ("train_fraction", "train_fractions"), ("seed", "seeds")]
"""(LMConfig field, its flag's dest): the per-trial fields; --set cannot change them."""


def build_grid(args) -> tuple[dict, list[dict]]:
    """The preset's fixed config (with overrides) and one dict per trial."""
    preset = PRESETS[args.preset]
    fixed = dict(preset["fixed"])
    if args.epochs is not None:  # the trainer prefers a token budget over epochs
        fixed.update(epochs=args.epochs, token_budget=0)
    sets = parse_assignments(args.set, flag="--set")
    for key, flag in GRID_AXES:
        if key in sets:
            raise ValueError(f"--set {key}: a grid axis; use --{flag.replace('_', '-')}")
    fixed.update(sets)
    if args.asha and fixed.get("token_budget", LMConfig.token_budget) > 0:
        raise ValueError("--asha needs a fixed epoch count: pass --epochs")
    fixed["threads"] = max(1, int(args.cpus_per_trial))
    fixed["device"] = "auto" if args.gpus_per_trial > 0 else "cpu"
    grid = dict(preset["grid"])
    for key, flag in GRID_AXES:
        if getattr(args, flag) is not None:
            grid[key] = getattr(args, flag)
    trials = []
    for model, method, frac, seed in itertools.product(
            grid["model"], grid["method"], grid["train_fraction"], grid["seed"]):
        lams = grid["lam"] if method in ("imm", "reverse_kd") else [0.0]
        ks = grid["k"] if method == "imm" else [fixed.get("k", LMConfig.k)]
        extra = {name: value for name, value in model_overrides(args.preset, model).items()
                 if name not in sets}  # an explicit --set wins over per-model settings
        for lam, k in itertools.product(lams, ks):
            trial = {**extra, "model": model, "method": method, "lam": lam, "k": k,
                     "train_fraction": frac, "seed": seed}
            LMConfig(**{**fixed, **trial})  # fail here, before Ray, on a bad value
            trials.append(trial)
    return fixed, trials


# ----------------------------------------------------------------------------- run


def run(args, fixed: dict, trials: list[dict]):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    data_dir = args.data_dir or None
    fixed["data_path"] = str(lmdata.prepare_corpus(data_dir, args.cache_dir))
    tune_cli.init_ray(args)
    max_t = fixed.get("epochs", LMConfig.epochs)  # build_grid rejects --asha with a budget
    scheduler = ASHAScheduler(max_t=max_t, grace_period=1) if args.asha else None
    space = {**fixed, TRIAL_KEY: tune.grid_search(trials)}
    return tune_cli.run_tuner(train_lm, space, args, metric="eval/valid_ppl", mode="min",
                              scheduler=scheduler,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


# ----------------------------------------------------------------------------- analysis


def collect(grid) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per trial, one row per trial and epoch) from a ResultGrid."""
    rows, curves = [], []
    for r in grid:
        if not r.config:  # an interrupted sweep: this trial never started
            continue
        trial = r.config.get(TRIAL_KEY, {})
        base = {"model": trial.get("model"), "method": trial.get("method"),
                "lambda": trial.get("lam") if trial.get("method") in ("imm", "reverse_kd")
                else 0.0,
                "k": trial.get("k") if trial.get("method") == "imm" else 0,
                "imm_contexts": (r.config.get("imm_contexts", LMConfig.imm_contexts)
                                 if trial.get("method") == "imm" else 0),
                "train_fraction": trial.get("train_fraction"), "seed": trial.get("seed")}
        m = r.metrics or {}
        rows.append({**base, "valid_ppl": m.get("valid_ppl", np.nan),
                     "test_ppl": m.get("test_ppl", np.nan),
                     "best_epoch_valid_ppl": _best(r), "epochs": m.get("epoch", 0),
                     "n_train_tokens": m.get("n_train_tokens", np.nan),
                     "train_seconds": m.get("time/total_s", np.nan),
                     "error": "" if r.error is None else str(r.error).splitlines()[0][:200]})
        hist = r.metrics_dataframe
        if hist is not None and "eval/valid_ppl" in hist:
            for _, h in hist.iterrows():
                curves.append({**base, "epoch": h["epoch"], "valid_ppl": h["eval/valid_ppl"]})
    extra = ["best_epoch_valid_ppl", "epochs", "n_train_tokens", "train_seconds", "error"]
    return (pd.DataFrame(rows, columns=CSV_COLUMNS + ["imm_contexts"] + extra),
            pd.DataFrame(curves, columns=CSV_COLUMNS[:6] + ["imm_contexts", "epoch",
                                                            "valid_ppl"]))


def _best(result) -> float:
    df = result.metrics_dataframe
    return float(df["eval/valid_ppl"].min()) if df is not None and "eval/valid_ppl" in df \
        else np.nan


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean test/valid perplexity with 95% CIs per model, method, fraction, lambda, k."""
    by = ["model", "train_fraction", "method", "lambda", "k", "imm_contexts"]
    test = analysis.aggregate(df.dropna(subset=["test_ppl"]), by, "test_ppl")
    valid = analysis.aggregate(df.dropna(subset=["valid_ppl"]), by, "valid_ppl")
    return test.merge(valid[by + ["mean"]].rename(columns={"mean": "valid_mean"}), on=by)


def markdown_table(summary: pd.DataFrame) -> str:
    lines = ["| model | train_fraction | method | lambda | k | IMM positions/step | seeds | "
             "valid ppl | test ppl (mean ± 95% CI) |", "|---|---|---|---|---|---|---|---|---|"]
    for _, s in summary.iterrows():
        half = (s.ci_high - s.ci_low) / 2
        lines.append(f"| {s.model} | {s.train_fraction:g} | {s.method} | {s['lambda']:g} | "
                     f"{int(s.k)} | {int(s.imm_contexts) or '-'} | {int(s['count'])} | "
                     f"{s.valid_mean:.1f} | "
                     f"{s['mean']:.1f} ± {half:.1f} |")
    return "\n".join(lines)


def main_imm_setting(df: pd.DataFrame) -> pd.DataFrame:
    """Drop IMM rows other than those with the most common positions-per-step setting
    (merged experiments may hold several)."""
    imm = df[df.method == "imm"]
    if imm.empty:
        return df
    m = imm.imm_contexts.value_counts().idxmax()
    return df[(df.method != "imm") | (df.imm_contexts == m)]


def gap_table(df: pd.DataFrame) -> str:
    """How much lower IMM's mean test perplexity is than each baseline's, per fraction."""
    df = main_imm_setting(df)
    means = df.groupby(["model", "train_fraction", "method"]).test_ppl.mean().unstack()
    if "imm" not in means:
        return ""
    lines = ["| model | train_fraction | " + " | ".join(
        f"{b} - imm" for b in ("none", "noising", "reverse_kd") if b in means) + " |"]
    lines.append("|---|---|" + "---|" * (lines[0].count("|") - 3))
    for (model, frac), row in means.iterrows():
        cells = [f"{row[b] - row['imm']:+.1f} ({(row[b] - row['imm']) / row[b]:+.1%})"
                 for b in ("none", "noising", "reverse_kd") if b in means]
        lines.append(f"| {model} | {frac:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_all(df: pd.DataFrame, curves: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    df, curves = main_imm_setting(df), main_imm_setting(curves)
    specs = [("valid_vs_epoch", curves, "epoch", "valid_ppl", "validation perplexity"),
             ("test_vs_train_fraction", df, "train_fraction", "test_ppl", "test perplexity"),
             ("test_vs_k", df[df.method == "imm"], "k", "test_ppl", "IMM test perplexity")]
    for name, frame, x, y, label in specs:
        frame = frame.dropna(subset=[y])
        panels = sorted(frame.model.unique()) if len(frame) else []
        fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.5 * max(1, len(panels)),
                                                                  4.0), squeeze=False)
        for ax, model in zip(axes[0], panels, strict=False):
            part = frame[frame.model == model]
            hue = "method"
            if name == "valid_vs_epoch":
                part = part[part.train_fraction == part.train_fraction.min()]
            agg = analysis.aggregate(part, [hue, x], y)
            ax.set_prop_cycle(color=[COLORS.get(m, "tab:gray")
                                     for m in sorted(agg[hue].unique())])
            analysis.plot_with_ci(agg, x=x, hue=hue, path=None, ylabel=label, ax=ax,
                                  logx=(x == "train_fraction"),
                                  title=f"{model}" + (f", train_fraction "
                                                      f"{part.train_fraction.min():g}"
                                                      if name == "valid_vs_epoch" else ""))
            if name == "test_vs_k":
                _baseline_lines(ax, df[(df.model == model) & (df.method != "imm")])
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _baseline_lines(ax, base: pd.DataFrame) -> None:
    """Dashed horizontal lines: each baseline's mean test ppl at the smallest fraction."""
    if base.empty:
        return
    base = base[base.train_fraction == base.train_fraction.min()]
    for method, part in base.groupby("method"):
        ax.axhline(part.test_ppl.mean(), ls="--", lw=1, label=f"{method} (baseline)",
                   color=COLORS.get(method, "tab:gray"))
    ax.legend(fontsize=8)


def load_offline(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``collect`` over finished trials of several experiment folders, deduplicated."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    key = CSV_COLUMNS[:6] + ["imm_contexts"]
    frames, curve_frames = [], []
    for i, path in enumerate(paths):
        df, curves = collect(ResultGrid(ExperimentAnalysis(str(Path(path).resolve()))))
        df = df.dropna(subset=["test_ppl"]).assign(source=Path(path).name, order=i)
        frames.append(df)
        curve_frames.append(curves.merge(df[key + ["order"]], on=key))
    df = pd.concat(frames).sort_values("order").drop_duplicates(key)
    curves = pd.concat(curve_frames).merge(df[key + ["order"]], on=key + ["order"])
    return df.drop(columns="order"), curves.drop(columns="order")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.analyze:
        df, curves = load_offline(args.analyze)
    else:
        fixed, trials = build_grid(args)
        print(f"preset {args.preset}: {len(trials)} trials")
        df, curves = collect(run(args, fixed, trials))
        import ray

        ray.shutdown()  # flush Ray's log lines before the final results/plot lines
    out = tune_cli.output_dir(args)
    csv = analysis.write_csv(df, out / "results.csv", required=CSV_COLUMNS)
    if df.test_ppl.isna().all():
        print("no trial finished; the CSV has no results (resume with --resume)",
              file=sys.stderr)
        tune_cli.print_outputs(csv, [])
        return
    summary = summarize(df)
    summary.to_csv(out / "summary.csv", index=False)
    text = markdown_table(summary) + "\n\n" + gap_table(df)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    tune_cli.print_outputs(csv, plot_all(df, curves, out))
    if (df.error != "").any():
        print(f"warning: {(df.error != '').sum()} trial(s) errored; see the error column",
              file=sys.stderr)


if __name__ == "__main__":
    main()
