"""Δ of the atmo Augmented CycleGAN for variants of its settings, every fold and several seeds.

    .venv/bin/python bench/atmo_ablation.py default '{}' no_skip '{"input_skip": false}' --seeds 0 1 2
    .venv/bin/python bench/atmo_ablation.py default '{}' --pair CNC NCC --seeds 0

Each NAME JSON pair lays JSON over the schema's `atmo.model` defaults (and `--base`
JSON over those first, to compare variants of a setting other than the default). For every
variant, seed and fold it trains the Augmented CycleGAN on the workflow's folds
(the protocol of `snakemake atmo`: test B never in training, the same 50 draws
of z_B for Δ_sample, the z grid for Δ_opt) and scores the fold's test B, with
the identity and random baselines beside it, and the median C/N (`atmo.evaluation.ratio`) of
generated and real test C_B (Fig. 8 as one number). Runs two jobs at a time, one
thread each. Models are kept under results/bench/atmo_ablation/<pair>/<name>/ and a
rerun reuses those trained with the same settings; rows go to results/bench/atmo_ablation.csv (one per
variant x pair x seed x fold) and a pooled table is printed, with what choosing among every
run in that file by its test-fold Δ would report (the optimism of tuning on the test folds).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from compgen.atmo.data import build_pools, element_ratios, pair_label
from compgen.atmo.evaluate import delta, evaluate_fold, generate
from compgen.atmo.study import train_settings
from compgen.atmo.train import load_model, train
from compgen.config import defaults
from compgen.datasets import build_atmo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench" / "atmo_ablation"


def pools_of(pair: tuple[str, str], cfg: dict):
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    atmo, _ = build_atmo({"atmo.csv": mirror / "atmo" / "atmo.csv"})
    return build_pools(atmo, *pair, cfg["n_folds"], cfg["split_seed"])


def run_one(name: str, overrides: dict, pair: tuple[str, str], fold: int, seed: int) -> dict:
    """Train (or reuse) one model and score its fold: one row of the ablation table."""
    import torch

    torch.set_num_threads(1)
    cfg = defaults("atmo")
    cfg["model"] = {**cfg["model"], **overrides}
    pools = pools_of(pair, cfg)
    rows = pools.fold(fold)
    settings = train_settings(cfg, "augcyc", fold, seed, len(pools.elements))
    path = OUT / pair_label(*pair) / name / f"fold{fold}_seed{seed}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A kept model is reused only if it was trained with these settings: a name's meaning can
    # change with the schema's defaults, which '{}' and every partial override inherit.
    seconds = float("nan")  # reused: the table keeps the time of the run that trained it
    model, stored = load_model(path) if path.exists() else (None, None)
    if stored != settings:
        began = time.perf_counter()
        train(settings, pools.vectors[rows["train_a"]], pools.vectors[rows["train_b"]], path)
        seconds = time.perf_counter() - began
        model, _ = load_model(path)
    evaluation = cfg["evaluation"]
    z_grid = np.linspace(evaluation["z_min"], evaluation["z_max"], evaluation["z_points"])
    deltas, _ = evaluate_fold(
        pools.vectors, pools.table, rows["test_b"], model, None,
        evaluation["n_sample"], evaluation["n_sample_max"], z_grid, seed=evaluation["seed"] + 1000 * seed + fold,
    )  # fmt: skip
    means = deltas.groupby("method")["delta"].mean()
    return {
        "variant": name, "pair": pair_label(*pair), "seed": seed, "fold": fold, "n_test": len(rows["test_b"]), **means.to_dict(),
        **nearest_training_b(pools, rows), **median_ratios(pools, rows, model, evaluation, seed), "train_seconds": seconds,
    }  # fmt: skip


def median_ratios(pools, rows: dict, model, evaluation: dict, seed: int) -> dict:
    """Median element ratio (`atmo.evaluation.ratio`, C/N by default) of this fold's C'_B and real test C_B.

    C'_B are drawn as for the workflow's Fig. 8: `n_generate` z_B per C_A of every test system.
    """
    import torch

    c_a = torch.as_tensor(pools.vectors[pools.sources(rows["test_b"])], dtype=torch.float32)
    with torch.no_grad():
        fake = generate(model, c_a, evaluation["n_generate"], torch.Generator().manual_seed(evaluation["seed"] + seed))
    fake = fake.double().numpy().reshape(-1, len(pools.elements))

    def median(vectors: np.ndarray) -> float:
        return float(np.median(element_ratios(vectors, pools.elements, *evaluation["ratio"])))

    return {"ratio_generated": median(fake), "ratio_real_b": median(pools.vectors[rows["test_b"]])}


def nearest_training_b(pools, rows: dict) -> dict:
    """Δ of a model that only recalls training B: the closest training C_B of the test C_B's chemical system.

    A reference for how far translation must generalise, not a method: test C_B whose system has
    no training B are left out (their count is returned beside the mean).
    """
    table, vectors = pools.table, pools.vectors
    train_b = rows["train_b"]
    systems = table.loc[train_b, "chemical_system"].to_numpy()
    found = []
    for i in rows["test_b"]:
        same_system = systems == table.at[i, "chemical_system"]
        if same_system.any():
            found.append(delta(vectors[train_b[same_system]], vectors[i]).min())
    return {"nearest_train_b": float(np.mean(found)) if found else np.nan, "n_with_train_b": len(found)}


METHODS = ["augcyc_sample", "augcyc_opt", "identity", "random"]


def pooled_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """Each method's Δ pooled over the folds (weighted by test size), one row per variant, pair and seed."""
    weighted = rows.assign(**{m: rows[m] * rows["n_test"] for m in METHODS})
    per_seed = weighted.groupby(["variant", "pair", "seed"])[[*METHODS, "n_test"]].sum()
    return per_seed[METHODS].div(per_seed["n_test"], axis=0)


def picked_on_test_folds(rows: pd.DataFrame) -> tuple[int, float, float]:
    """(seed-runs, best pooled Δ_sample of one run, pooled Δ_sample of each fold's best model) of one pair.

    What choosing among all these runs by their test-fold Δ would report, as a
    tuning scored on the test folds does: a measure of that choice's optimism.
    """
    runs = pooled_per_seed(rows)["augcyc_sample"]
    best = rows.loc[rows.groupby("fold")["augcyc_sample"].idxmin()]
    return len(runs), float(runs.min()), float((best["augcyc_sample"] * best["n_test"]).sum() / best["n_test"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="NAME JSON NAME JSON ...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pair", nargs=2, action="append", help="amine A and B (repeatable); default CNC NCCN")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--base", default="{}", help="JSON laid over the schema's defaults before each variant's own")
    args = parser.parse_args()
    if len(args.variants) % 2:
        parser.error("variants come as NAME JSON pairs")
    base = json.loads(args.base)
    variants = {name: {**base, **json.loads(text)} for name, text in zip(args.variants[::2], args.variants[1::2], strict=True)}
    pairs = [tuple(p) for p in args.pair or [("CNC", "NCCN")]]
    n_folds = defaults("atmo")["n_folds"]
    tasks = [(name, overrides, pair, fold, seed) for name, overrides in variants.items() for pair in pairs for seed in args.seeds for fold in range(n_folds)]
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for done, row in enumerate(pool.map(run_one, *zip(*tasks, strict=True)), 1):
            rows.append(row)
            seconds = row["train_seconds"]
            trained = "reused" if np.isnan(seconds) else f"trained in {seconds:.0f} s"
            print(f"[{done}/{len(tasks)}] {row['variant']} {row['pair']} seed {row['seed']} fold {row['fold']}: "
                  f"Δ_sample {row['augcyc_sample']:.4f} Δ_opt {row['augcyc_opt']:.4f} ({trained})", flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    out = ROOT / "results" / "bench" / "atmo_ablation.csv"
    previous = pd.read_csv(out) if out.exists() else pd.DataFrame()
    keys = ["variant", "pair", "seed", "fold"]
    # the newest value of each column per row; groupby's last() skips NaN, so a reused model keeps its training time
    merged = pd.concat([previous, table]).groupby(keys, sort=False).last().reset_index() if len(previous) else table
    out.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(out, index=False)
    summary = pooled_per_seed(table).groupby(["variant", "pair"]).agg(["mean", "min", "max"])
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    ratios = table.groupby(["variant", "pair"])[["ratio_generated", "ratio_real_b"]].mean()
    print(f"median {'/'.join(defaults('atmo')['evaluation']['ratio'])} per fold, mean over folds and seeds:")
    print(ratios.to_string(float_format=lambda v: f"{v:.2f}"))
    folds = table.drop_duplicates(["pair", "fold"])  # the folds, so this reference, do not depend on variant or seed
    recall = folds.assign(weighted=folds["nearest_train_b"] * folds["n_with_train_b"]).groupby("pair")[["weighted", "n_with_train_b", "n_test"]].sum()
    for pair, row in recall.iterrows():
        print(f"{pair}: nearest training B of the same system {row['weighted'] / row['n_with_train_b']:.4f} "
              f"over the {row['n_with_train_b']:.0f} of {row['n_test']:.0f} test C_B whose system has one")  # fmt: skip
    for pair in recall.index:
        n_runs, best_run, best_per_fold = picked_on_test_folds(merged[merged["pair"] == pair].reset_index(drop=True))
        print(f"{pair}: picked by test-fold Δ among all {n_runs} seed-runs in {out.name}: best run {best_run:.4f}, "
              f"best model of each fold {best_per_fold:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
