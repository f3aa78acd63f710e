"""Composition VAE variants: held-out reconstruction, active units and formation-energy R², several split seeds.

    .venv/bin/python bench/latent_ablation.py si '{}' atoms1000 '{"atoms": 1000}' --seeds 101 102 103
    .venv/bin/python bench/latent_ablation.py --references --seeds 101

Each NAME JSON pair lays JSON over the schema's `latent.composition_vae` defaults. A seed
is both the formula split's seed (`split_seed`) and the VAE's, so the held-out formulas
differ from the study's split 0 and no setting is chosen on the formulas the study reports.
For every variant and seed it trains the VAE on the split's training formulas as
`snakemake latent` does, scores the held-out formulas (element set right, mean L1,
active units, KL) and the L1 of as many training formulas, and cross-validates XGBoost on the latent of a `--share` of the
`mp_e_form` rows (5 folds grouped by formula, the study's XGBoost settings).
`--references` scores the raw fractions, the element set (which elements, not how
much) and Magpie on the same rows and folds instead. Two jobs at a time, one thread
each. Rows are appended to results/bench/latent_ablation.csv; a table of means and
seed ranges is printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from compgen.config import defaults, overlay

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "results" / "datasets"


def formation_energy_rows(seed: int, share: float) -> pd.DataFrame:
    from compgen.io import read_table

    rows = read_table(DATASETS / "mp_e_form.parquet")
    return rows.sample(frac=share, random_state=seed).reset_index(drop=True) if share < 1 else rows


def property_r2(X: np.ndarray, rows: pd.DataFrame, seed: int) -> dict:
    from compgen.latent.properties import cross_validate, group_folds

    s = defaults("latent")["properties"]
    fold = group_folds(rows["formula"].to_numpy(), s["folds"], seed)
    _, scores = cross_validate(X, rows["e_form"].to_numpy(float), fold, "regression", s["xgboost"], seed, 1, "e_form")
    return {"r2": scores["r2"].mean(), "mae": scores["mae"].mean()}


def run_one(name: str, vae_cfg: dict, seed: int, share: float) -> dict:
    import torch

    from compgen.latent.data import fraction_matrix
    from compgen.latent.evaluate import composition_reconstruction
    from compgen.latent.study import vae_data
    from compgen.latent.train import VAESettings, encode, latent_dimensions, load_vae, reconstruct, train_vae

    torch.set_num_threads(1)
    cfg = defaults("latent") | {"split_seed": seed}
    x, holdout = vae_data("composition", {k: DATASETS / f"{k}.parquet" for k in ("mp_e_form", "mp_gap")}, cfg)
    settings = VAESettings.from_config("composition", vae_cfg | {"seed": seed, "log_every": vae_cfg["epochs"]})
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train_vae(settings, x[~holdout], x[holdout], Path(tmp) / "vae.pt", Path(tmp) / "losses.csv")
        model = load_vae(Path(tmp) / "vae.pt")
    trained = time.perf_counter() - began
    scores = composition_reconstruction(x[holdout], reconstruct(model, x[holdout]), vae_cfg["decode_threshold"])
    # the same score on as many training formulas: equal to the held-out one means underfitting, not overfitting
    seen = np.flatnonzero(~holdout)[: int(holdout.sum())]
    train_l1 = composition_reconstruction(x[seen], reconstruct(model, x[seen]), vae_cfg["decode_threshold"])["mean_l1"]
    dimensions = latent_dimensions(model, x[holdout])
    rows = formation_energy_rows(seed, share)
    fit = property_r2(encode(model, fraction_matrix(rows["formula"])), rows, seed)
    return {"name": name, "seed": seed, "train_s": round(trained, 1), "element_set_match": scores["element_set_match"],
            "mean_l1": scores["mean_l1"], "train_l1": train_l1, "active_units": int(dimensions["active"].sum()), "kl": float(dimensions["kl"].sum()),
            **fit, "share": share, "resolved": json.dumps(vae_cfg)}  # fmt: skip


def references(seed: int, share: float) -> list[dict]:
    """The same rows and folds on features that need no VAE."""
    from compgen.latent.data import fraction_matrix
    from compgen.latent.properties import magpie_features

    rows = formation_energy_rows(seed, share)
    fractions = fraction_matrix(rows["formula"])
    features = {"raw fractions": fractions, "element set": (fractions > 0).astype(np.float32), "magpie": magpie_features(fractions)}
    return [{"name": name, "seed": seed, "share": share, **property_r2(X, rows, seed)} for name, X in features.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", help="NAME JSON NAME JSON ...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--share", type=float, default=0.25, help="of the mp_e_form rows for the R² (1: all)")
    parser.add_argument("--references", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give NAME JSON pairs")
    base = defaults("latent")["composition_vae"]
    with ProcessPoolExecutor(args.jobs) as pool:
        if args.references:
            rows = [row for seed in args.seeds for row in references(seed, args.share)]
        else:
            jobs = [(name, overlay(base, json.loads(text)), seed, args.share) for name, text in zip(args.pairs[::2], args.pairs[1::2], strict=True)
                    for seed in args.seeds]  # fmt: skip
            rows = list(pool.map(run_one, *zip(*jobs, strict=True)))
    table = pd.DataFrame(rows)
    csv = ROOT / "results" / "bench" / "latent_ablation.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    if csv.exists():
        table = pd.concat([pd.read_csv(csv), table], ignore_index=True)
    table.to_csv(csv, index=False)
    names = list(dict.fromkeys(r["name"] for r in rows))
    columns = [c for c in ("element_set_match", "mean_l1", "train_l1", "active_units", "kl", "r2", "mae", "train_s") if c in table]
    summary = table[table["name"].isin(names)].groupby("name", sort=False)[columns].agg(["mean", "min", "max"])
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
