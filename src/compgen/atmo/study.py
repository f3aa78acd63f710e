"""The atmo study as the workflow runs it: config -> pools -> training jobs -> Δ tables.

Each function here is what one workflow script calls; they share how the
config is read so a setting means the same thing in every job.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from compgen.atmo.data import AminePools, build_pools, seen_in_training
from compgen.atmo.evaluate import evaluate_fold, generate, summarise
from compgen.atmo.train import TrainSettings, load_model, pick_device, train
from compgen.io import write_csv, write_table

log = logging.getLogger(__name__)

MODELS = {"augcyc": True, "cyclegan": False}  # name -> augmented


def pools_from_config(atmo: pd.DataFrame, cfg: dict) -> AminePools:
    return build_pools(atmo, cfg["amine_a"], cfg["amine_b"], cfg["n_folds"], cfg["split_seed"])


def train_settings(cfg: dict, model: str, fold: int, seed: int, n_elements: int) -> TrainSettings:
    """Settings of one training job; width null means the paper's 2 x n_elements."""
    net = dict(cfg["model"])
    net["width"] = net["width"] or 2 * n_elements
    return TrainSettings(
        augmented=MODELS[model],
        seed=1000 * seed + fold,
        log_every=cfg["log_every"],
        checkpoint_every=cfg["checkpoint_every"],
        **net,
    )


def write_split(pools: AminePools, path: str | Path) -> None:
    """The pools and fold parts as a table a person can read."""
    columns = ["identifier", "pool", "chemical_system", "dimension", "can_pair", "part"]
    write_csv(pools.table[columns], path)


def train_job(atmo: pd.DataFrame, cfg: dict, model: str, fold: int, seed: int, output, losses_csv, threads: int) -> None:
    torch.set_num_threads(threads)
    pools = pools_from_config(atmo, cfg)
    rows = pools.fold(fold)
    settings = train_settings(cfg, model, fold, seed, len(pools.elements))
    log.info("training %s on fold %d (seed %d): %d A, %d B; %s", model, fold, seed, len(rows["train_a"]), len(rows["train_b"]), settings)
    losses = train(settings, pools.vectors[rows["train_a"]], pools.vectors[rows["train_b"]], output)
    write_csv(losses, losses_csv)


def evaluate_job(atmo: pd.DataFrame, cfg: dict, models: dict[tuple[str, int, int], str], outputs) -> None:
    """Δ for every fold and seed; writes the per-composition table, summaries and the N_sample curve."""
    pools = pools_from_config(atmo, cfg)
    evaluation = cfg["evaluation"]
    z_grid = np.linspace(evaluation["z_min"], evaluation["z_max"], evaluation["z_points"])
    device = pick_device()
    tables, curves = [], []
    for seed in cfg["seeds"]:
        for fold in range(cfg["n_folds"]):
            rows = pools.fold(fold)
            augcyc, _ = load_model(models[("augcyc", fold, seed)], device)
            cyclegan, _ = load_model(models[("cyclegan", fold, seed)], device)
            deltas, curve = evaluate_fold(
                pools.vectors, pools.table, rows["test_b"], augcyc, cyclegan,
                evaluation["n_sample"], evaluation["n_sample_max"], z_grid,
                seed=evaluation["seed"] + 1000 * seed + fold,
            )  # fmt: skip
            seen = seen_in_training(pools.vectors, rows["test_b"], np.concatenate([rows["train_a"], rows["train_b"]]))
            seen_ids = set(pools.table.loc[rows["test_b"][seen], "identifier"])
            deltas["seen_in_training"] = deltas["identifier"].isin(seen_ids)
            tables.append(deltas.assign(fold=fold, seed=seed))
            curves.append(pd.DataFrame({"n_sample": np.arange(1, curve.shape[1] + 1), "mean_delta": curve.mean(0), "n_test": len(curve), "fold": fold, "seed": seed}))
            log.info("fold %d seed %d: %d test B, %d also in training", fold, seed, len(rows["test_b"]), int(seen.sum()))
    deltas = pd.concat(tables, ignore_index=True)
    write_table(deltas, outputs["deltas"], DELTA_SCHEMA)
    summary = summarise(deltas)
    write_csv(summary, outputs["summary"])
    write_csv(summarise(deltas[~deltas["seen_in_training"]]), outputs["summary_unseen"])
    write_csv(pd.concat(curves, ignore_index=True), outputs["nsample_curve"])
    pooled = summary[summary["fold"] == "all"].set_index("method")["mean"]
    log.info("pooled mean Δ: %s", ", ".join(f"{m} {v:.4f}" for m, v in pooled.items()))


DELTA_SCHEMA = pa.schema(
    [
        pa.field("identifier", pa.string(), nullable=False),
        pa.field("chemical_system", pa.string(), nullable=False),
        pa.field("n_candidates", pa.int64(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("delta", pa.float64(), nullable=False),
        pa.field("seen_in_training", pa.bool_(), nullable=False),
        pa.field("fold", pa.int64(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
    ]
)


GENERATED_SCHEMA = pa.schema(
    [
        pa.field("fold", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # identifier of the C_A translated
        pa.field("chemical_system", pa.string(), nullable=False),
        pa.field("draw", pa.int64(), nullable=False),
        pa.field("vector", pa.list_(pa.float64()), nullable=False),
    ]
)


def generate_job(atmo: pd.DataFrame, cfg: dict, models: dict[tuple[str, int, int], str], output) -> None:
    """C'_B from every C_A sharing a system with a test C_B of each fold (first seed), N draws each."""
    pools = pools_from_config(atmo, cfg)
    n_draws = cfg["evaluation"]["n_generate"]
    seed = cfg["seeds"][0]
    device = pick_device()
    generator = torch.Generator().manual_seed(cfg["evaluation"]["seed"])
    t = pools.table
    rows = []
    for fold in range(cfg["n_folds"]):
        model, _ = load_model(models[("augcyc", fold, seed)], device)
        systems = set(t.loc[pools.fold(fold)["test_b"], "chemical_system"])
        sources = t.index[(t["pool"] == "A") & t["chemical_system"].isin(systems)]
        c_a = torch.as_tensor(pools.vectors[sources], dtype=torch.float32, device=device)
        generated = generate(model, c_a, n_draws, generator).double().cpu().numpy()
        for position, source in enumerate(sources):
            for draw in range(n_draws):
                rows.append(
                    {"fold": fold, "source": t.at[source, "identifier"], "chemical_system": t.at[source, "chemical_system"], "draw": draw, "vector": generated[position, draw]}
                )
    write_table(pd.DataFrame(rows), output, GENERATED_SCHEMA)


def generated_figures(atmo: pd.DataFrame, generated: pd.DataFrame, cfg: dict, outputs) -> None:
    """Element ratio (Fig. 8) and UMAP (Fig. 7) of the generated C'_B against the real test C_B."""
    from compgen.atmo.plots import element_ratio, umap_embedding

    pools = pools_from_config(atmo, cfg)
    t = pools.table
    test_b = np.concatenate([pools.fold(k)["test_b"] for k in range(cfg["n_folds"])])
    sources = t.index[(t["pool"] == "A") & t["chemical_system"].isin(set(t.loc[test_b, "chemical_system"]))]
    fake_b = np.stack(generated["vector"].to_numpy())
    numerator, denominator = cfg["evaluation"]["ratio"]
    for symbol in (numerator, denominator):
        if symbol not in pools.elements:
            raise ValueError(f"atmo.evaluation.ratio: element {symbol!r} occurs in neither pool")
    element_ratio(fake_b, pools.vectors[test_b], pools.elements, numerator, denominator, outputs["ratio_png"], outputs["ratio_csv"])
    groups = {"generated C'_B": fake_b, "C_A": pools.vectors[sources], "real C_B": pools.vectors[test_b]}
    umap_embedding(groups, cfg["evaluation"]["seed"], outputs["umap_png"], outputs["umap_csv"])
