"""The elpasolite study as the workflow runs it (Türk et al., Chem. Mater. 2022)."""

from __future__ import annotations

import json
import logging

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
    prevalence_draw,
    site_distributions,
    uniform_draw,
)
from compgen.elpasolite.space import ELEMENTS, SPACE_SIZE, SampleCounts, augmented_dft, count_valid, keys
from compgen.io import atomic_path, read_table, write_csv, write_table
from compgen.registry import parse_generator

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


def space_job(dft: pd.DataFrame, cfg: dict, outputs, threads: int) -> None:
    """Fit the oracle, label all 1,974,024 compositions, and write class sizes and reference JS distances."""
    from compgen.elpasolite.oracle import build_oracle
    from compgen.elpasolite.plots import oracle_figure
    from compgen.training import use_threads

    use_threads(threads)
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
    with atomic_path(outputs["oracle_json"]) as tmp:
        tmp.write_text(json.dumps({**chosen, "class_edges": edges.tolist()}, indent=1))
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


def read_class_table(path) -> np.ndarray:
    """The 39^4 key -> class lookup written by the space job (-1 outside the space)."""
    return np.load(path, allow_pickle=False)


def train_job(dft: pd.DataFrame, model: str, settings: dict, seed: int, n_train: str, output, threads: int) -> None:
    """Train one generator on the full training set (`n_train` 'all') or a seeded subset of it."""
    from compgen.elpasolite.generators import GENERATORS
    from compgen.training import use_threads

    use_threads(threads)
    kind, target = parse_generator(model)
    indices, classes = training_rows(dft, None if n_train == "all" else int(n_train), seed)
    log.info("%s seed %d on %d training rows (%d in class 1)", model, seed, len(indices), int((classes == 1).sum()))
    extra = {"target_class": target} if target is not None else {}
    GENERATORS[kind].train(GENERATORS[kind].settings(**settings, **extra, seed=seed), indices, classes, output)


# One row per distinct composition a run drew: how often, and where among the valid samples it first came.
SAMPLES_SCHEMA = pa.schema(
    [pa.field("key", pa.int32(), nullable=False), pa.field("count", pa.int64(), nullable=False), pa.field("first", pa.int64(), nullable=False)]
)
SAMPLE_BATCH = 100_000  # draws per generator call: large enough to keep the network busy, small in memory


def sampler_draw(dft: pd.DataFrame, sampler: str, target: int, seed: int, model_path=None):
    """A function that returns the next batch of draws (element indices) of a baseline or trained generator for class `target`."""
    rng = np.random.default_rng(seed)
    if sampler == "uniform":
        return uniform_draw(rng, SAMPLE_BATCH)
    if sampler == "prevalence":
        indices, classes = training_rows(dft)
        return prevalence_draw(indices[classes == target], rng, SAMPLE_BATCH)
    from compgen.elpasolite.generators import load_generator
    from compgen.elpasolite.training import generator_draw

    return generator_draw(load_generator(model_path), target, seed, SAMPLE_BATCH)


def sample_job(dft: pd.DataFrame, sampler: str, target: int, n: int, seed: int, model_path, output, threads: int) -> None:
    """Draw n valid samples of one generator (or baseline), target class and seed, streamed into counts, and write them once for every reader."""
    from compgen.training import use_threads

    use_threads(threads)
    counts = count_valid(n, sampler_draw(dft, sampler, target, seed, model_path), f"{sampler} for class {target}")
    log.info("%s, class %d, seed %d: %d valid samples (%d distinct), %d invalid draws", sampler, target, seed, n, len(counts.key), counts.n_invalid)
    metadata = {"sampler": sampler, "target_class": str(target), "seed": str(seed), "n_invalid": str(counts.n_invalid)}
    table = pd.DataFrame({"key": counts.key.astype(np.int32), "count": counts.count, "first": counts.first})
    write_table(table, output, SAMPLES_SCHEMA.with_metadata(metadata))


def read_samples(path) -> SampleCounts:
    """The counts of a sample file (`sample_job`)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = (table.column(name).to_numpy().astype(np.int64) for name in ("key", "count", "first"))
    return SampleCounts(*columns, n_invalid=int(table.schema.metadata[b"n_invalid"]))


def evaluate_job(dft: pd.DataFrame, space_path, class_table_path, cfg: dict, samples: dict[tuple, str], outputs) -> None:
    """Metrics of every generator and baseline for every target class and seed (Tables 1 and 2), and charge balance."""
    space = read_table(space_path, columns=["key", *"ABCD", "energy_class"])
    lookup = read_class_table(class_table_path)
    indices, classes = training_rows(dft)
    minority = cfg["targets"][0]["energy_class"]
    rows, balance = [], []
    for (sampler, _, target, seed), path in samples.items():
        drawn = read_samples(path)
        name = parse_generator(sampler)[0]
        metrics = generation_metrics(drawn, lookup, space, target)
        rows.append({"model": name, "target_class": target, "seed": seed, "n_invalid": drawn.n_invalid, **metrics})
        log.info("%s, class %d, seed %d: %s", name, target, seed, {k: round(v, 3) for k, v in metrics.items()})
        if target == minority:
            balance.append(charge_balance_row(name, seed, drawn.indices(), lookup, target))
    per_seed = pd.DataFrame(rows)
    write_csv(per_seed, outputs["per_seed"])
    write_csv(summarise_metrics(per_seed), outputs["summary"])
    in_class = space.loc[space["energy_class"] == minority, list("ABCD")].to_numpy()
    balance += [charge_balance_row(f"full space, class {minority}", None, in_class, lookup, minority)]
    balance += [charge_balance_row(f"training set, class {minority}", None, indices[classes == minority], lookup, minority)]
    write_csv(pd.DataFrame(balance), outputs["charge_balance"])


def figures_job(dft: pd.DataFrame, space_path, class_table_path, cfg: dict, samples: dict[tuple, str], outputs) -> None:
    """Discovery curves of the first seed for every target (Figs 4 and 7), energies and p(Z|S) of the minority target (Figs 5-6)."""
    from compgen.elpasolite.plots import discovery_curves

    space = read_table(space_path, columns=["key", *"ABCD", "e_form", "energy_class"])
    lookup = read_class_table(class_table_path)
    indices, classes = training_rows(dft)
    minority, first_seed = cfg["targets"][0]["energy_class"], cfg["seeds"][0]
    curves, figure_sets = [], {}
    for (sampler, _, target, seed), path in samples.items():
        if seed != first_seed:
            continue
        drawn = read_samples(path)
        name = parse_generator(sampler)[0]
        curves.append(discovery_curve(drawn, keys(indices), lookup, target).assign(model=name, target_class=target))
        if target == minority:
            figure_sets[name] = drawn.indices()
    discovery_curves(pd.concat(curves, ignore_index=True), outputs["discovery_png"], outputs["discovery_csv"])
    sample_figures(space, indices, classes, minority, figure_sets, outputs)


def charge_balance_row(name: str, seed: int | None, samples: np.ndarray, lookup: np.ndarray, target: int) -> dict:
    """Share of the distinct compositions, and of those in the target class, that SMACT calls charge-balanced."""
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
    """Fig. 5 (energies of unique samples) and Fig. 6 (p(Z|S)) for one target class; `samples`: each run's distinct compositions."""
    from compgen.elpasolite.plots import energy_histograms, site_heatmaps

    energy = pd.Series(space["e_form"].to_numpy(), index=space["key"].to_numpy())
    in_class = space.loc[space["energy_class"] == target, list("ABCD")].to_numpy()
    training = indices[classes == target]
    energies = {"training set": energy[keys(training)].to_numpy()}
    energies.update({name: energy[keys(unique)].to_numpy() for name, unique in samples.items()})
    energy_histograms(energies, outputs["energy_png"], outputs["energy_csv"])
    distributions = {f"full space, class {target}": site_distributions(in_class), f"training set, class {target}": site_distributions(training)}
    distributions.update({name: site_distributions(unique) for name, unique in samples.items()})
    site_heatmaps(distributions, outputs["sites_png"], outputs["sites_csv"])


def sweep_job(dft: pd.DataFrame, space_path, class_table_path, cfg: dict, samples: dict[tuple, str], outputs) -> None:
    """Minority-class metrics against training-set size (paper Fig. 8); the full set is the last size."""
    from compgen.elpasolite.plots import training_size_figure

    space = read_table(space_path, columns=["key", *"ABCD", "energy_class"])
    lookup = read_class_table(class_table_path)
    full = len(training_rows(dft)[0])
    rows = []
    for (sampler, n_train, target, seed), path in samples.items():
        n_train = full if n_train == "all" else n_train
        drawn = read_samples(path)
        metrics = generation_metrics(drawn, lookup, space, target)
        rows.append({"model": parse_generator(sampler)[0], "n_train": n_train, "seed": seed, "target_class": target, "n_invalid": drawn.n_invalid, **metrics})
        log.info("%s, %d training rows, seed %d: %s", sampler, n_train, seed, {k: round(v, 3) for k, v in metrics.items()})
    per_seed = pd.DataFrame(rows).sort_values(["model", "n_train", "seed"], kind="stable")
    write_csv(per_seed, outputs["per_seed"])
    training_size_figure(per_seed, METRICS, outputs["png"], outputs["csv"])
