"""The elpasolite study as the workflow runs it (Türk et al., Chem. Mater. 2022)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from compgen.elpasolite.metrics import (
    N_CLASSES,
    class_edges,
    class_table,
    discovery_curve,
    energy_class,
    generation_metrics,
    js_distance,
    label_space,
    prevalence_baseline,
    site_distributions,
    uniform_baseline,
)
from compgen.elpasolite.oracle import augmented_dft, build_oracle
from compgen.elpasolite.space import ELEMENTS, SPACE_SIZE, keys
from compgen.io import atomic_path, read_table, write_csv, write_table

log = logging.getLogger(__name__)

# Class sizes of the full space reported in the paper (Faber et al.'s oracle).
PAPER_CLASS_SIZES = {1: 3757, 2: 20097, 5: 907094}

SPACE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.int64(), nullable=False),
        *(pa.field(site, pa.int8(), nullable=False) for site in "ABCD"),  # element index, see `elements`
        pa.field("e_form", pa.float64(), nullable=False),  # eV/atom
        pa.field("source", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("energy_class", pa.int8(), nullable=False),
    ],
    metadata={"elements": json.dumps(ELEMENTS)},
)


def space_job(dft: pd.DataFrame, cfg: dict, outputs) -> None:
    """Fit the oracle, label all 1,974,024 compositions, and write class sizes and reference JS distances."""
    from compgen.elpasolite.plots import oracle_figure

    training = augmented_dft(dft)
    log.info("DFT set with A/B swaps: %d rows", len(training))
    chosen, search, curve, grid = build_oracle(training, cfg["oracle"])
    write_csv(curve, outputs["oracle_metrics"])
    write_csv(search, outputs["oracle_search"])
    oracle_figure(curve, outputs["oracle_png"])

    edges = class_edges(dft["e_form"].to_numpy())
    space = label_space(grid, training, edges)
    if len(space) != SPACE_SIZE:
        raise AssertionError(f"enumerated {len(space)} compositions, expected {SPACE_SIZE}")
    write_table(space, outputs["space"], SPACE_SCHEMA)
    with atomic_path(outputs["class_table"]) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, class_table(space))

    training["energy_class"] = energy_class(training["e_form"].to_numpy(), edges)
    rows = []
    for c in range(1, N_CLASSES + 1):
        in_space = space.loc[space["energy_class"] == c, list("ABCD")].to_numpy()
        in_training = training.loc[training["energy_class"] == c, list("ABCD")].to_numpy()
        rows.append(
            {
                "energy_class": c,
                "e_min": edges[c - 1],
                "e_max": edges[c],
                "n_space": len(in_space),
                "n_space_paper": PAPER_CLASS_SIZES.get(c),
                "n_training": len(in_training),
                "js_training_vs_space": js_distance(site_distributions(in_training), site_distributions(in_space)) if len(in_training) else np.nan,
            }
        )
    classes = pd.DataFrame(rows)
    write_csv(classes, outputs["classes"])
    Path(outputs["oracle_json"]).write_text(json.dumps({**chosen, "class_edges": edges.tolist()}, indent=1))
    log.info("class sizes: %s", classes.set_index("energy_class")["n_space"].to_dict())


METRICS = ["precision_right", "precision_neigh", "coverage_right", "coverage_neigh", "js"]


def summarise_metrics(per_seed: pd.DataFrame) -> pd.DataFrame:
    """model, target_class, n_samples, n_seeds, then mean and std of each metric (Tables 1 and 2)."""
    grouped = per_seed.groupby(["model", "target_class"], sort=False)
    summary = grouped.agg(n_samples=("n_samples", "max"), n_seeds=("seed", "nunique"))
    for metric in METRICS:
        summary[f"{metric}_mean"] = grouped[metric].mean()
        summary[f"{metric}_std"] = grouped[metric].std(ddof=0)
    return summary.reset_index()


def training_rows(dft: pd.DataFrame, n_train: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Element indices and classes of the DFT set with A/B swaps: what every generator trains on.

    With `n_train`, a random subset of n_train / 2 compositions with their swaps
    (paper Fig. 8: the DFT calculations a subset costs is half its rows).
    """
    training = augmented_dft(dft)
    if n_train is not None:
        if not 2 <= n_train <= len(training):
            raise ValueError(f"training-set size {n_train} is outside 2..{len(training)}, the DFT set with A/B swaps")
        twins = np.unique(training["twin"].to_numpy())
        chosen = np.random.default_rng(seed).choice(twins, n_train // 2, replace=False)
        training = training[training["twin"].isin(chosen)]
    classes = energy_class(training["e_form"].to_numpy(), class_edges(dft["e_form"].to_numpy()))
    return training[list("ABCD")].to_numpy(), classes


def parse_model(name: str) -> tuple[str, int | None]:
    """'cvae' -> ('cvae', None); 'dqn_class5' -> ('dqn', 5): an agent is trained for one target class."""
    kind, _, target = name.partition("_class")
    return kind, int(target) if target else None


def train_job(dft: pd.DataFrame, model: str, settings: dict, seed: int, n_train: str, output, threads: int) -> None:
    """Train one generator on the full training set (`n_train` 'all') or a seeded subset of it."""
    import torch

    from compgen.elpasolite.generators import GENERATORS

    torch.set_num_threads(threads)
    kind, target = parse_model(model)
    indices, classes = training_rows(dft, None if n_train == "all" else int(n_train), seed)
    log.info("%s seed %d on %d training rows (%d in class 1)", model, seed, len(indices), int((classes == 1).sum()))
    extra = {"target_class": target} if target is not None else {}
    GENERATORS[kind].train(GENERATORS[kind].settings(**settings, **extra, seed=seed), indices, classes, output)


def generate(models: dict[tuple[str, int], str], seed: int, target: int, n: int) -> dict[str, tuple[np.ndarray, int]]:
    """Valid samples (in generation order) and the invalid count of every trained generator of `seed`."""
    from compgen.elpasolite.generators import load_generator
    from compgen.elpasolite.training import sample_valid

    out = {}
    for (model, model_seed), path in models.items():
        kind, agent_target = parse_model(model)
        if model_seed == seed and agent_target in (None, target):
            out[kind] = sample_valid(load_generator(path), target, n, seed)
    return out


def evaluate_job(dft: pd.DataFrame, space_path, cfg: dict, models: dict[tuple[str, int], str], outputs) -> None:
    """Metrics of every generator and baseline for every target class and seed (Tables 1 and 2)."""
    space = read_table(space_path)
    lookup = class_table(space)
    indices, classes = training_rows(dft)
    minority = cfg["targets"][0]["energy_class"]
    rows, curves, balance = [], [], []
    figure_sets: dict[str, np.ndarray] = {}  # samples of the first target and seed, for Figs 5-6
    for target in cfg["targets"]:
        c, n = target["energy_class"], target["n_samples"]
        for seed in cfg["seeds"]:
            rng = np.random.default_rng(seed)
            generated = {"uniform": (uniform_baseline(n, rng), 0), "prevalence": (prevalence_baseline(n, indices[classes == c], rng), 0)}
            generated.update(generate(models, seed, c, n))
            for name, (samples, invalid) in generated.items():
                metrics = generation_metrics(samples, lookup, space, c)
                rows.append({"model": name, "target_class": c, "seed": seed, "n_invalid": invalid, **metrics})
                log.info("%s, class %d, seed %d: %s", name, c, seed, {k: round(v, 3) for k, v in metrics.items()})
                if seed == cfg["seeds"][0]:
                    curves.append(discovery_curve(samples, keys(indices), lookup, c).assign(model=name, target_class=c))
                    if c == minority:
                        figure_sets[name] = samples
                if c == minority:
                    balance.append(charge_balance_row(name, seed, samples, lookup, c))
    per_seed = pd.DataFrame(rows)
    write_csv(per_seed, outputs["per_seed"])
    write_csv(summarise_metrics(per_seed), outputs["summary"])
    in_class = space.loc[space["energy_class"] == minority, list("ABCD")].to_numpy()
    balance += [charge_balance_row(f"full space, class {minority}", None, in_class, lookup, minority)]
    balance += [charge_balance_row(f"training set, class {minority}", None, indices[classes == minority], lookup, minority)]
    write_csv(pd.DataFrame(balance), outputs["charge_balance"])

    from compgen.elpasolite.plots import discovery_curves

    discovery_curves(pd.concat(curves, ignore_index=True), outputs["discovery_png"], outputs["discovery_csv"])
    sample_figures(space, indices, classes, minority, figure_sets, outputs)


def charge_balance_row(name: str, seed: int | None, samples: np.ndarray, lookup: np.ndarray, target: int) -> dict:
    """Share of the unique compositions, and of those in the target class, that SMACT calls charge-balanced."""
    from compgen.elpasolite.charge import charge_balanced

    unique = samples[np.unique(keys(samples), return_index=True)[1]]
    balanced = charge_balanced(unique)
    hit = lookup[keys(unique)] == target
    return {
        "set": name,
        "seed": seed,
        "n_unique": len(unique),
        "share_balanced": float(balanced.mean()) if len(unique) else np.nan,
        "n_in_class": int(hit.sum()),
        "share_balanced_in_class": float(balanced[hit].mean()) if hit.any() else np.nan,
    }


def sample_figures(space: pd.DataFrame, indices, classes, target: int, samples: dict[str, np.ndarray], outputs) -> None:
    """Fig. 5 (energies of unique samples) and Fig. 6 (p(Z|S)) for one target class."""
    from compgen.elpasolite.plots import energy_histograms, site_heatmaps

    samples = {name: run[np.unique(keys(run), return_index=True)[1]] for name, run in samples.items()}
    energy = pd.Series(space["e_form"].to_numpy(), index=space["key"].to_numpy())
    in_class = space.loc[space["energy_class"] == target, list("ABCD")].to_numpy()
    training = indices[classes == target]
    energies = {"training set": energy[keys(training)].to_numpy()}
    energies.update({name: energy[keys(unique)].to_numpy() for name, unique in samples.items()})
    energy_histograms(energies, outputs["energy_png"], outputs["energy_csv"])
    distributions = {f"full space, class {target}": site_distributions(in_class), f"training set, class {target}": site_distributions(training)}
    distributions.update({name: site_distributions(unique) for name, unique in samples.items()})
    site_heatmaps(distributions, outputs["sites_png"], outputs["sites_csv"])


def sweep_job(dft: pd.DataFrame, space_path, cfg: dict, models: dict[tuple[str, int, int], str], outputs) -> None:
    """Minority-class metrics against training-set size (paper Fig. 8); the full set is the last size."""
    from compgen.elpasolite.plots import training_size_figure
    from compgen.elpasolite.generators import load_generator
    from compgen.elpasolite.training import sample_valid

    space = read_table(space_path)
    lookup = class_table(space)
    c, n = cfg["targets"][0]["energy_class"], cfg["targets"][0]["n_samples"]
    full = len(training_rows(dft)[0])
    rows = []
    for (model, n_train, seed), path in models.items():
        n_train = full if n_train == "all" else n_train
        samples, invalid = sample_valid(load_generator(path), c, n, seed)
        metrics = generation_metrics(samples, lookup, space, c)
        rows.append({"model": parse_model(model)[0], "n_train": n_train, "seed": seed, "target_class": c, "n_invalid": invalid, **metrics})
        log.info("%s, %d training rows, seed %d: %s", model, n_train, seed, {k: round(v, 3) for k, v in metrics.items()})
    per_seed = pd.DataFrame(rows).sort_values(["model", "n_train", "seed"], kind="stable")
    write_csv(per_seed, outputs["per_seed"])
    training_size_figure(per_seed, METRICS, outputs["png"], outputs["csv"])
