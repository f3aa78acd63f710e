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


def training_rows(dft: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Element indices and classes of the DFT set with A/B swaps: what every generator trains on."""
    training = augmented_dft(dft)
    classes = energy_class(training["e_form"].to_numpy(), class_edges(dft["e_form"].to_numpy()))
    return training[list("ABCD")].to_numpy(), classes


def train_cvae_job(dft: pd.DataFrame, settings: dict, seed: int, output, threads: int) -> None:
    import torch

    from compgen.elpasolite.cvae import CVAESettings, train_cvae

    torch.set_num_threads(threads)
    indices, classes = training_rows(dft)
    train_cvae(CVAESettings(**settings, seed=seed), indices, classes, output)


def evaluate_job(dft: pd.DataFrame, space_path, cfg: dict, models: dict[tuple[str, int], str], outputs) -> None:
    """Metrics of every generator and baseline for every target class and seed (Tables 1 and 2)."""
    from compgen.elpasolite.cvae import load_cvae, sample_valid

    space = read_table(space_path)
    lookup = class_table(space)
    indices, classes = training_rows(dft)
    rows = []
    figure_sets: dict[str, np.ndarray] = {}  # unique samples of the first target and seed, for Figs 5-6
    for target in cfg["targets"]:
        c, n = target["energy_class"], target["n_samples"]
        for seed in cfg["seeds"]:
            rng = np.random.default_rng(seed)
            generated = {"uniform": (uniform_baseline(n, rng), 0), "prevalence": (prevalence_baseline(n, indices[classes == c], rng), 0)}
            if ("cvae", seed) in models:
                generated["cvae"] = sample_valid(load_cvae(models[("cvae", seed)]), c, n, seed)
            for name, (samples, invalid) in generated.items():
                if target is cfg["targets"][0] and seed == cfg["seeds"][0]:
                    figure_sets[name] = samples  # in generation order
                metrics = generation_metrics(samples, lookup, space, c)
                rows.append({"model": name, "target_class": c, "seed": seed, "n_invalid": invalid, **metrics})
                log.info("%s, class %d, seed %d: %s", name, c, seed, {k: round(v, 3) for k, v in metrics.items()})
    per_seed = pd.DataFrame(rows)
    write_csv(per_seed, outputs["per_seed"])
    write_csv(summarise_metrics(per_seed), outputs["summary"])
    sample_figures(space, lookup, indices, classes, cfg["targets"][0]["energy_class"], figure_sets, outputs)


def sample_figures(space: pd.DataFrame, lookup: np.ndarray, indices, classes, target: int, samples: dict[str, np.ndarray], outputs) -> None:
    """Fig. 5 (energies of unique samples) and Fig. 6 (p(Z|S)) for one target class."""
    from compgen.elpasolite.plots import energy_histograms, site_heatmaps

    from compgen.elpasolite.plots import discovery_curves

    curves = [discovery_curve(run, keys(indices), lookup, target).assign(model=name) for name, run in samples.items()]
    discovery_curves(pd.concat(curves, ignore_index=True), outputs["discovery_png"], outputs["discovery_csv"])
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
