"""The hydrides study as the workflow runs it (Nouira, Sokolovska, Crivello 2018): CrystalGAN on Pd-H and Ni-H.

Each function is what one rule script calls. The domains are config values:
any two metals of the `hydrides` dataset (metal A, metal B) work.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from compgen.datasets import structure_columns, structure_from_columns
from compgen.hydrides.data import Crystals, crystals_from_table, structures, unflatten
from compgen.hydrides.evaluate import judge_run, table2
from compgen.hydrides.geometry import image_ranges
from compgen.hydrides.models import feature_mask
from compgen.hydrides.train import (
    GANSettings,
    feature_transfer,
    load_noise_generator,
    load_translators,
    train_cross_domain,
    train_noise_gan,
    translate,
)
from compgen.io import atomic_path, write_csv
from compgen.registry import HYDRIDES_STEP2
from compgen.training import use_threads

log = logging.getLogger(__name__)

PAPER_TABLE2 = {"noise_gan": 0, "discogan": 0, "crystalgan": 4, "crystalgan_geo": 9}  # Pd-Ni-H, Table II


def domains(dataset: pd.DataFrame, cfg: dict) -> tuple[Crystals, Crystals, tuple[str, str]]:
    """The binary crystals of metal A and metal B, each in identifier order, as tensors."""
    metals = tuple(cfg["domains"])
    found = sorted(set(dataset["metal"]))
    batches = []
    for metal in metals:
        rows = dataset[dataset["metal"] == metal].sort_values("identifier")
        if rows.empty:
            raise ValueError(f"hydrides.domains: no {metal}-H crystal in the hydrides dataset (it has {found})")
        batches.append(crystals_from_table(rows, metals))
    return batches[0], batches[1], metals


def gan_settings(cfg: dict, step: int, constraint: str, seed: int) -> GANSettings:
    training = cfg["training"]
    return GANSettings(
        step=step, hidden=cfg["network"]["hidden"], layers=cfg["network"]["layers"], epochs=training["epochs"], batch=training["batch"],
        lr=training["lr"], beta1=training["beta1"], lambdas=cfg["lambdas"], constraint=constraint, d1=cfg["d1"], d2=cfg["d2"],
        latent=training["latent"], seed=1000 * seed + step, log_every=cfg["log_every"], checkpoint_every=cfg["checkpoint_every"],
    )  # fmt: skip


def step1_job(dataset: pd.DataFrame, cfg: dict, seed: int, output, losses, threads: int) -> None:
    use_threads(threads)
    a, b, metals = domains(dataset, cfg)
    log.info("step 1: %d %s-H <-> %d %s-H crystals", len(a), metals[0], len(b), metals[1])
    train_cross_domain(gan_settings(cfg, 1, "none", seed), a, b, output, losses)


def transferred(a: Crystals, b: Crystals, cfg: dict, step1_model) -> tuple[Crystals, Crystals]:
    """AHB_g and BHA_g of the binary domains a and b from a trained step 1."""
    g_ab, g_ba, _ = load_translators(step1_model)
    return feature_transfer(g_ab, g_ba, a, b, cfg["transfer"])


def step2_job(dataset: pd.DataFrame, cfg: dict, variant: str, seed: int, step1_model, output, losses, threads: int) -> None:
    use_threads(threads)
    a, b, _ = domains(dataset, cfg)
    x, y = transferred(a, b, cfg, step1_model)
    ranges = image_ranges(torch.cat([a.lattice, b.lattice]))  # the most skewed real cell
    first = x.counts()[0].tolist()
    log.info("step 2 (%s): %d AHB_g <-> %d BHA_g crystals; atoms per block of the first: %s; image cells %s", variant, len(x), len(y), first, ranges)
    train_cross_domain(gan_settings(cfg, 2, HYDRIDES_STEP2[variant], seed), x, y, output, losses, ranges=ranges)


def noise_gan_job(dataset: pd.DataFrame, cfg: dict, seed: int, step1_model, output, losses, threads: int) -> None:
    """The plain GAN learns the same ternaries step 2 learns from, from noise and their atom masks."""
    use_threads(threads)
    a, b, _ = domains(dataset, cfg)
    x, y = transferred(a, b, cfg, step1_model)
    train_noise_gan(gan_settings(cfg, 0, "none", seed), Crystals.concat(x, y), output, losses)


def candidates_of(generator: str, seed: int, x: Crystals, y: Crystals, models: dict) -> Crystals:
    """The 70 candidates of one generator and seed from that seed's step-2 inputs: one per input, in the same order for all four."""
    if generator == "discogan":  # step 1 alone: its feature-transferred crystals
        return Crystals.concat(x, y)
    if generator == "noise_gan":
        net, s = load_noise_generator(models[(generator, seed)])
        atoms = torch.cat([x.atoms, y.atoms])
        z = torch.randn(len(atoms), s.latent, generator=torch.Generator().manual_seed(s.seed))
        with torch.no_grad():
            return unflatten(net(z, atoms, feature_mask(atoms)), atoms, [f"noise {n}" for n in x.names + y.names])
    g_ab, g_ba, _ = load_translators(models[(generator, seed)])
    ab, ba = translate(g_ab, x, swap_atoms=False), translate(g_ba, y, swap_atoms=False)
    return Crystals.concat(ab, ba)


def candidates_job(dataset: pd.DataFrame, cfg: dict, models: dict, outputs) -> None:
    """Judge every candidate of every generator and seed; Table II, the per-candidate table and the good structures."""
    from compgen.hydrides.plots import distance_histograms, table2_bars

    a, b, metals = domains(dataset, cfg)
    training = structures(a, metals) + structures(b, metals)
    tables, distances = [], []
    structure_dir = Path(outputs["structures"])
    structure_dir.mkdir(parents=True, exist_ok=True)
    inputs = {seed: transferred(a, b, cfg, models[("step1", seed)]) for seed in cfg["seeds"]}  # once per seed, for every generator
    for generator in cfg["generators"]:
        for seed in cfg["seeds"]:
            crystals = candidates_of(generator, seed, *inputs[seed], models)
            table, built = judge_run(crystals, metals, training, cfg["d1"], cfg["d2"])
            table.insert(0, "seed", seed)
            table.insert(0, "generator", generator)
            stored = [structure_columns(s) if s is not None else None for s in built]
            for column in ("lattice", "species", "frac_coords"):
                table[column] = [c[column] if c is not None else None for c in stored]
            for i in np.flatnonzero(table["good"]):
                write_structure(built[i], structure_dir / f"{generator}_seed{seed}_{i:02d}")
            distances.append(first_neighbour_table(built, generator, seed, cfg))
            log.info("%s seed %d: %s", generator, seed, {c: int(table[c].sum()) for c in ("ternary", "valid", "in_range", "unique", "novel", "good")})
            tables.append(table)
    candidates = pd.concat(tables, ignore_index=True)
    with atomic_path(outputs["candidates"]) as tmp:
        candidates.to_parquet(tmp, index=False)
    summary, per_seed = table2(candidates)
    summary["paper_pd_ni_h"] = summary["generator"].map(PAPER_TABLE2)
    write_csv(summary, outputs["table2"])
    write_csv(per_seed, outputs["table2_per_seed"])
    table2_bars(per_seed, PAPER_TABLE2, outputs["table2_png"], outputs["table2_csv"])
    training_distances = first_neighbour_table(training, "training", -1, cfg)
    distances = pd.concat([training_distances, *distances], ignore_index=True)
    distance_histograms(distances, cfg["d1"], cfg["d2"], outputs["distances_png"], outputs["distances_csv"])


def first_neighbour_table(built: list, label: str, seed: int, cfg: dict) -> pd.DataFrame:
    """Penalised first-neighbour distances of every buildable structure, for the histograms."""
    from compgen.hydrides.evaluate import penalised_neighbour_distances, searchable

    rows = []
    for i, structure in enumerate(built):
        if structure is None or not searchable(structure, 6.0):
            continue
        d = penalised_neighbour_distances(structure, 6.0)
        kinds = ["H-H" if site.specie.symbol == "H" else "M-M" for site in structure]
        rows += [{"set": label, "seed": seed, "candidate": i, "pair": k, "distance": v} for k, v in zip(kinds, d, strict=True) if np.isfinite(v)]
    return pd.DataFrame(rows, columns=["set", "seed", "candidate", "pair", "distance"])


def write_structure(structure, stem: Path) -> None:
    """POSCAR and CIF of one structure, each written atomically."""
    from pymatgen.io.cif import CifWriter

    with atomic_path(stem.with_suffix(".POSCAR")) as tmp:
        structure.to(filename=str(tmp), fmt="poscar")
    with atomic_path(stem.with_suffix(".cif")) as tmp:
        CifWriter(structure).write_file(tmp)


def relax_known_job(dataset: pd.DataFrame, cfg: dict, output, threads: int) -> None:
    """Relax the training crystals and the elemental references: the ground the hull stands on."""
    from compgen.hydrides.relax import Relaxer, references

    use_threads(threads)
    metals = tuple(cfg["domains"])
    relax = cfg["relax"]
    relaxer = Relaxer(relax["model"], relax["fmax"], relax["steps"], relax["max_seconds"])
    known = {row["identifier"]: structure_from_columns(row) for _, row in dataset[dataset["metal"].isin(metals)].iterrows()}
    refs = references(metals)
    named = {**{f"reference {el}": s for el, s in refs.items()}, **known}
    table = relaxer.relax_all(named, "relaxed", relax_cell={"reference H": False})
    table["kind"] = ["reference" if n.startswith("reference ") else "training" for n in table["name"]]
    write_relaxed(table, output)


def write_relaxed(table: pd.DataFrame, output) -> None:
    stored = [structure_columns(s) for s in table.pop("structure")]
    for column in ("lattice", "species", "frac_coords"):
        table[column] = [s[column] for s in stored]
    with atomic_path(output) as tmp:
        table.to_parquet(tmp, index=False)


def relax_candidates_job(candidates_path, known_path, cfg: dict, outputs, threads: int) -> None:
    """Relax every good candidate; formation energy, energy above the hull, S.U.N. counts per generator and seed."""
    from compgen.hydrides.plots import best_structures, hull_figure
    from compgen.hydrides.relax import Relaxer, above_hull, chemical_potentials, formation_energy, phase_diagram

    use_threads(threads)
    relax = cfg["relax"]
    candidates = pd.read_parquet(candidates_path)
    known = pd.read_parquet(known_path)
    good = candidates[candidates["good"]]
    named = {f"{r.generator}_seed{r.seed}_{r.candidate:02d}": structure_from_columns(r._asdict()) for r in good.itertuples()}
    relaxed = Relaxer(relax["model"], relax["fmax"], relax["steps"], relax["max_seconds"]).relax_all(named, "candidate")
    relaxed_dir = Path(outputs["structures"])
    relaxed_dir.mkdir(parents=True, exist_ok=True)
    for row in relaxed.itertuples():
        write_structure(row.structure, relaxed_dir / row.name)
    mu = chemical_potentials(known[known["kind"] == "reference"])
    diagram = phase_diagram(known)
    for frame in (known, relaxed):
        frame["e_form"] = [formation_energy(f, e, mu) for f, e in zip(frame["formula"], frame["energy_per_atom"], strict=True)]
        frame["e_above_hull"] = [above_hull(diagram, f, e) for f, e in zip(frame["formula"], frame["energy_per_atom"], strict=True)]
    relaxed["generator"] = [n.rsplit("_seed", 1)[0] for n in relaxed["name"]]
    relaxed["seed"] = [int(n.rsplit("_seed", 1)[1].split("_")[0]) for n in relaxed["name"]]
    relaxed["stable"] = relaxed["e_above_hull"] <= relax["hull_threshold"]
    write_csv(known.drop(columns=["lattice", "species", "frac_coords"]), outputs["known"])
    write_relaxed(relaxed.copy(), outputs["relaxed"])
    counts = []
    for generator in cfg["generators"]:
        for seed in cfg["seeds"]:
            mine = relaxed[(relaxed["generator"] == generator) & (relaxed["seed"] == seed)]
            counts.append({"generator": generator, "seed": seed, "good": len(mine), "sun": int(mine["stable"].sum()) if len(mine) else 0})
    sun = pd.DataFrame(counts)
    write_csv(sun, outputs["sun"])
    hull_figure(diagram, known, relaxed, tuple(cfg["domains"]), outputs["hull_png"], outputs["hull_csv"])
    best_structures(relaxed, outputs["best_png"], outputs["best_csv"])
