"""The atmo study as the workflow runs it: config -> pools -> training jobs -> Δ tables.

Each function here is what one workflow script calls; they share how the
config is read so a setting means the same thing in every job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from compgen.atmo.data import AminePools, build_pools, seen_in_training, write_split
from compgen.atmo.evaluate import evaluate_fold, generate, summarise
from compgen.atmo.train import TrainSettings, load_model, train_stack
from compgen.io import atomic_path, write_csv, write_table
from compgen.registry import ATMO_MODELS
from compgen.training import pick_device, use_threads

log = logging.getLogger(__name__)


def pools_from_config(atmo: pd.DataFrame, cfg: dict) -> AminePools:
    return build_pools(atmo, cfg["amine_a"], cfg["amine_b"], cfg["n_folds"], cfg["split_seed"])


def split_job(atmo: pd.DataFrame, cfg: dict, output) -> None:
    """Pools, folds and composition vectors, once; every later job of the study reads them."""
    pools = pools_from_config(atmo, cfg)
    t = pools.table
    log.info(
        "%d elements; pool A %d (%d can pair), pool B %d (%d can pair)",
        len(pools.elements), (t["pool"] == "A").sum(), (t["can_pair"] & (t["pool"] == "A")).sum(),
        (t["pool"] == "B").sum(), (t["can_pair"] & (t["pool"] == "B")).sum(),
    )  # fmt: skip
    write_split(pools, output)


def train_settings(cfg: dict, model: str, fold: int, seed: int, n_elements: int) -> TrainSettings:
    """Settings of one training job; width null means the paper's 2 x n_elements."""
    net = dict(cfg["model"])
    if model == "cyclegan":
        net.update(cfg["cyclegan_model"])
    net["width"] = net["width"] or 2 * n_elements
    return TrainSettings(
        augmented=ATMO_MODELS[model],
        seed=1000 * seed + fold,
        log_every=cfg["log_every"],
        checkpoint_every=cfg["checkpoint_every"],
        **net,
    )


@dataclass(frozen=True)
class ModelSpec:
    """One model a training job writes: which network, fold and seed, which data, which files."""

    model: str  # a key of ATMO_MODELS
    fold: int
    seed: int
    output: str
    losses: str
    paired_fraction: float | None = None  # of all can-pair B (the Fig. 6 sweep); None keeps all
    with_unpaired: bool = True


def train_job(pools: AminePools, cfg: dict, specs: list[ModelSpec], threads: int) -> None:
    """Train every model asked for; those sharing a network and pool A (so every batch shape) as one stack."""
    use_threads(threads)
    stacks: dict[tuple[str, bool], list[ModelSpec]] = {}
    for spec in specs:
        stacks.setdefault((spec.model, spec.with_unpaired), []).append(spec)
    for (model, with_unpaired), members in stacks.items():
        rows = [pools.fold(spec.fold, spec.paired_fraction, with_unpaired) for spec in members]
        settings = [train_settings(cfg, model, spec.fold, spec.seed, len(pools.elements)) for spec in members]
        for spec, fold_rows in zip(members, rows, strict=True):
            log.info(
                "%s fold %d seed %d%s: %d A, %d B", model, spec.fold, spec.seed,
                "" if spec.paired_fraction is None else f", paired fraction {spec.paired_fraction} {'with' if with_unpaired else 'without'} unpaired",
                len(fold_rows["train_a"]), len(fold_rows["train_b"]),
            )  # fmt: skip
        a = pools.vectors[rows[0]["train_a"]]  # pool A depends on with_unpaired alone
        bs = [pools.vectors[fold_rows["train_b"]] for fold_rows in rows]
        if len(members) >= stack_min_models(cfg):
            log.info("training %d %s models as one stack; %s", len(members), model, settings[0])
            train_stack(settings, a, bs, [spec.output for spec in members], [spec.losses for spec in members])
            continue
        log.info("training %d %s models one after another; %s", len(members), model, settings[0])
        for s, b, spec in zip(settings, bs, members, strict=True):
            train_stack([s], a, [b], [spec.output], [spec.losses])


def stack_min_models(cfg: dict) -> int:
    """From how many models a job trains them as one stack: `auto` is 2 on a GPU and 6 on the CPU.

    On two CPU cores a batched matrix product is slower than its parts, so a stack
    gains only where per-operation overhead dominates: 0.87x for 3 default networks, 1.4x
    for 9, 1.7x for 18, 0.78x for 3 paper-size ones (bench/atmo_stack.py).
    """
    value = cfg.get("stack_min_models", "auto")
    if value == "auto":
        return 2 if pick_device().type == "cuda" else 6
    return int(value)


def evaluate_job(pools: AminePools, cfg: dict, models: dict[tuple[str, int, int], str], outputs) -> None:
    """Δ for every fold and seed; writes the per-composition table, summaries and the N_sample curve."""
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
            n_sample = np.arange(1, curve.shape[1] + 1)
            curves.append(pd.DataFrame({"n_sample": n_sample, "mean_delta": curve.mean(0), "n_test": len(curve), "fold": fold, "seed": seed}))
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


def generate_job(pools: AminePools, cfg: dict, models: dict[tuple[str, int, int], str], output) -> None:
    """C'_B from every C_A sharing a system with a test C_B of each fold (first seed), N draws each."""
    n_draws = cfg["evaluation"]["n_generate"]
    seed = cfg["seeds"][0]
    device = pick_device()
    generator = torch.Generator().manual_seed(cfg["evaluation"]["seed"])
    t = pools.table
    rows = []
    for fold in range(cfg["n_folds"]):
        model, _ = load_model(models[("augcyc", fold, seed)], device)
        sources = pools.sources(pools.fold(fold)["test_b"])
        c_a = torch.as_tensor(pools.vectors[sources], dtype=torch.float32, device=device)
        generated = generate(model, c_a, n_draws, generator).double().cpu().numpy()
        for position, source in enumerate(sources):
            for draw in range(n_draws):
                identifier, system = t.at[source, "identifier"], t.at[source, "chemical_system"]
                rows.append({"fold": fold, "source": identifier, "chemical_system": system, "draw": draw, "vector": generated[position, draw]})
    write_table(pd.DataFrame(rows), output, GENERATED_SCHEMA)


def generated_figures(pools: AminePools, generated: pd.DataFrame, cfg: dict, outputs) -> None:
    """Element ratio (Fig. 8) and UMAP (Fig. 7) of the generated C'_B against the real test C_B."""
    from compgen.atmo.plots import element_ratio, umap_embedding

    test_b = np.concatenate([pools.fold(k)["test_b"] for k in range(cfg["n_folds"])])
    sources = pools.sources(test_b)
    fake_b = np.stack(generated["vector"].to_numpy())
    numerator, denominator = cfg["evaluation"]["ratio"]
    for symbol in (numerator, denominator):
        if symbol not in pools.elements:
            raise ValueError(f"atmo.evaluation.ratio: element {symbol!r} occurs in neither pool")
    element_ratio(fake_b, pools.vectors[test_b], pools.elements, numerator, denominator, outputs["ratio_png"], outputs["ratio_csv"])
    groups = {"generated C'_B": fake_b, "C_A": pools.vectors[sources], "real C_B": pools.vectors[test_b]}
    umap_embedding(groups, cfg["evaluation"]["seed"], outputs["umap_png"], outputs["umap_csv"])


def dimension_job(atmo: pd.DataFrame, cfg: dict, outputs, threads: int) -> None:
    """Cross-validated accuracy of the tuned classifiers on fractions (and Magpie), and the tuned parameters."""
    import json

    from compgen.atmo.dimension import cross_validated_accuracy, fraction_features, magpie_features, plain_params
    from compgen.atmo.plots import accuracy_bars

    settings = cfg["dimension"]
    X, elements = fraction_features(atmo)
    features = {"fractions": X}
    if settings["magpie"]:
        features["magpie"] = magpie_features(X, elements)
    y = atmo["dimension"].to_numpy()
    table, tuned = cross_validated_accuracy(features, y, settings["n_iter"], settings["seed"], threads)
    write_csv(table, outputs["accuracy"])
    accuracy_bars(table, outputs["png"])
    forest = tuned[("fractions", "random_forest")]
    params = plain_params({k: v for k, v in forest.get_params().items() if k in ("n_estimators", "max_features", "min_samples_leaf")})
    with atomic_path(outputs["params"]) as tmp:
        tmp.write_text(json.dumps({"random_forest": params, "elements": elements}, indent=1))


def tandem_job(atmo: pd.DataFrame, pools: AminePools, cfg: dict, model_path: str, params_path: str, outputs) -> None:
    """Dimensionality of C'_B generated for one chemical system against the real B structures (Figs. 9-10)."""
    import json

    from compgen.atmo.dimension import fraction_features, tandem_predictions, tuned_forest
    from compgen.atmo.plots import tandem_figures

    settings = cfg["tandem"]
    system = "-".join(sorted(settings["system"].split("-")))
    saved = json.loads(Path(params_path).read_text())
    X, elements = fraction_features(atmo, saved["elements"])
    forest = tuned_forest(saved["random_forest"], cfg["dimension"]["seed"]).fit(X, atmo["dimension"].to_numpy())

    t = pools.table
    sources = t.index[(t["pool"] == "A") & (t["chemical_system"] == system)]
    real_b = t.index[(t["pool"] == "B") & (t["chemical_system"] == system)]
    if len(sources) == 0:
        raise ValueError(f"atmo.tandem.system {system!r}: no {cfg['amine_a']} structure has this chemical system")
    device = pick_device()
    model, _ = load_model(model_path, device)
    c_a = torch.as_tensor(pools.vectors[sources], dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(settings["seed"])
    generated = generate(model, c_a, settings["n_draws"], generator).double().cpu().numpy().reshape(-1, len(pools.elements))
    predicted = tandem_predictions(forest, elements, generated, pools.elements)
    fold0_test = set(pools.fold(0)["test_b"])
    real = pd.DataFrame(
        {"set": ["real B (test, fold 0)" if i in fold0_test else "real B (training)" for i in real_b], "dimension": t.loc[real_b, "dimension"].to_numpy()}
    )
    log.info("%s: %d C_A -> %d C'_B; %d real B", system, len(sources), len(generated), len(real_b))
    tandem_figures(generated, predicted, pools.vectors[real_b], real, system, settings["seed"], outputs)


def sweep_fold(seed: int, cfg: dict) -> int:
    """The fold a sweep point of this seed is trained and scored on: seeds rotate through the folds."""
    return seed % cfg["n_folds"]


def sweep_evaluate_job(pools: AminePools, cfg: dict, models: dict[tuple[str, str, int], str], outputs) -> None:
    """Mean Δ_sample of every sweep point, and the figure of Fig. 6."""
    from compgen.atmo.plots import fraction_sweep

    evaluation = cfg["evaluation"]
    device = pick_device()
    rows = []
    for (fraction, unpaired, seed), path in sorted(models.items()):
        fold = sweep_fold(seed, cfg)
        model, _ = load_model(path, device)
        deltas, _ = evaluate_fold(
            pools.vectors, pools.table, pools.fold(fold)["test_b"], model, None,
            evaluation["n_sample"], evaluation["n_sample"], np.array([0.0]), seed=evaluation["seed"] + seed,
        )  # fmt: skip
        sample = deltas.loc[deltas["method"] == "augcyc_sample", "delta"]
        point = {"paired_fraction": float(fraction), "unpaired": unpaired, "seed": seed, "fold": fold}
        rows.append({**point, "n": len(sample), "mean_delta_sample": sample.mean()})
        log.info("fraction %s, %s unpaired, seed %d: mean Δ_sample %.4f", fraction, unpaired, seed, sample.mean())
    table = pd.DataFrame(rows)
    write_csv(table, outputs["csv"])
    fraction_sweep(table, outputs["png"])
