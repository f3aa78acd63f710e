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
from compgen.hydrides.evaluate import CHECKS, NOVELTY, judge_run, matches_any, paired_comparisons, prototype, table2
from compgen.hydrides.geometry import image_ranges
from compgen.hydrides.models import feature_mask
from compgen.hydrides.substitution import substitution_candidates
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
from compgen.registry import HYDRIDES_BASELINE, HYDRIDES_STEP2
from compgen.training import use_threads

log = logging.getLogger(__name__)

# Pd-Ni-H, Table II. The paper's DiscoGAN row (0) is step 1 without the feature transfer, which
# writes binaries only; `step1_transfer` is step 1 with it, a generator the paper did not judge.
PAPER_TABLE2 = {"noise_gan": 0, "crystalgan": 4, "crystalgan_geo": 9}



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
    """One job's settings. Without the constraint, the constraint's settings are fixed, so that a job
    given only the keys it reads (`job_config`) stores the same settings whatever the rest of the config."""
    training = cfg["training"]
    geometric = constraint != "none"
    lambdas = list(cfg["lambdas"][:4]) + (list(cfg["lambdas"][4:]) if geometric else [0.0, 0.0])
    keep = dict(cfg["constraint"]) if geometric else {"margin": 0.0, "keep": "last"}
    if constraint != "intended":
        keep["margin"] = 0.0  # only the intended form reads it: another value would retrain for nothing
    if constraint == "printed":
        keep["keep"] = "last"  # its L_geo2 has no lower bound: its "lowest" epoch means nothing
    return GANSettings(
        step=step, hidden=cfg["network"]["hidden"], layers=cfg["network"]["layers"], epochs=training["epochs"], batch=training["batch"],
        lr=training["lr"], beta1=training["beta1"], lambdas=lambdas, constraint=constraint,
        d1=cfg["d1"] if geometric else 0.0, d2=cfg["d2"] if geometric else 0.0, margin=keep["margin"], keep=keep["keep"],
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
    """The 70 candidates of one network generator and seed from that seed's step-2 inputs: one per input, in the same order for all."""
    if generator == "step1_transfer":  # step 1 alone: its feature-transferred crystals
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
    baseline = substitution_candidates(a, b, cfg["substitution"]["ordering"])
    baseline_structures = structures(baseline, metals)
    networks = [g for g in cfg["generators"] if g != HYDRIDES_BASELINE]
    # step-2 inputs once per seed, for every generator that reads them
    inputs = {seed: transferred(a, b, cfg, models[("step1", seed)]) for seed in cfg["seeds"]} if networks else {}
    judged_baseline = None
    for generator in cfg["generators"]:
        for seed in cfg["seeds"]:
            if generator == HYDRIDES_BASELINE:  # deterministic: judged once, the same row for every seed
                judged_baseline = judged_baseline or judge_run(baseline, metals, training, cfg["d1"], cfg["d2"], baseline_structures)
                table, built = judged_baseline[0].copy(), judged_baseline[1]
            else:
                crystals = candidates_of(generator, seed, *inputs[seed], models)
                table, built = judge_run(crystals, metals, training, cfg["d1"], cfg["d2"], baseline_structures)
            table.insert(0, "seed", seed)
            table.insert(0, "generator", generator)
            stored = [structure_columns(s) if s is not None else None for s in built]
            for column in ("lattice", "species", "frac_coords"):
                table[column] = [c[column] if c is not None else None for c in stored]
            for i in np.flatnonzero(table["good"]):
                write_structure(built[i], structure_dir / f"{generator}_seed{seed}_{i:02d}")
            distances.append(first_neighbour_table(built, generator, seed, cfg))
            log.info("%s seed %d: %s", generator, seed, {c: int(table[c].sum()) for c in (*CHECKS, "good", *NOVELTY)})
            tables.append(table)
    candidates = pd.concat(tables, ignore_index=True)
    with atomic_path(outputs["candidates"]) as tmp:
        candidates.to_parquet(tmp, index=False)
    summary, per_seed = table2(candidates)
    summary["paper_pd_ni_h"] = summary["generator"].map(PAPER_TABLE2)
    write_csv(summary, outputs["table2"])
    write_csv(per_seed, outputs["table2_per_seed"])
    focus = "crystalgan_geo" if "crystalgan_geo" in cfg["generators"] else cfg["generators"][-1]
    write_csv(paired_comparisons(per_seed, focus), outputs["comparisons"])
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
    from compgen.hydrides.relax import references, relax_all

    use_threads(threads)
    metals = tuple(cfg["domains"])
    known = {row["identifier"]: structure_from_columns(row) for _, row in dataset[dataset["metal"].isin(metals)].iterrows()}
    refs = references(metals)
    named = {**{f"reference {el}": s for el, s in refs.items()}, **known}
    table = relax_all(relax_settings(cfg), named, "relaxed", relax_cell={"reference H": False}, workers=threads)
    table["kind"] = ["reference" if n.startswith("reference ") else "training" for n in table["name"]]
    write_relaxed(table, output)


def relax_settings(cfg: dict) -> tuple:
    relax = cfg["relax"]
    return relax["model"], relax["fmax"], relax["steps"], relax["max_seconds"]


def to_relax(good: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """The good candidates the relaxation takes: at most `relax.max_per_run` of each run of the generators in `relax.generators`, drawn with the run's seed.

    The baseline's candidates are the same every seed, so only its first seed's are taken.
    """
    cap = cfg["relax"]["max_per_run"]
    first_seed = min(cfg["seeds"])
    runs = []
    for (generator, seed), run in good.groupby(["generator", "seed"], sort=False):
        if generator not in cfg["relax"]["generators"] or (generator == HYDRIDES_BASELINE and seed != first_seed):
            continue
        if cap is not None and len(run) > cap:
            run = run.iloc[np.sort(np.random.default_rng(seed).choice(len(run), cap, replace=False))]
        runs.append(run)
    return pd.concat(runs) if runs else good.iloc[:0]


def relaxed_generators(cfg: dict) -> list[str]:
    return [g for g in cfg["generators"] if g in cfg["relax"]["generators"]]


def write_relaxed(table: pd.DataFrame, output) -> None:
    stored = [structure_columns(s) for s in table.pop("structure")]
    for column in ("lattice", "species", "frac_coords"):
        table[column] = [s[column] for s in stored]
    with atomic_path(output) as tmp:
        table.to_parquet(tmp, index=False)


def relax_candidates_job(candidates_path, known_path, cfg: dict, outputs, threads: int) -> None:
    """Relax every good candidate; formation energy, energy above the hull, S.U.N. counts per generator and seed."""
    from compgen.hydrides.plots import best_structures, hull_figure
    from compgen.hydrides.relax import above_hull, chemical_potentials, formation_energy, phase_diagram, relax_all

    use_threads(threads)
    relax = cfg["relax"]
    candidates = pd.read_parquet(candidates_path)
    known = pd.read_parquet(known_path)
    good = candidates[candidates["good"]]
    chosen = to_relax(good, cfg)
    named = {f"{r.generator}_seed{r.seed}_{r.candidate:02d}": structure_from_columns(r._asdict()) for r in chosen.itertuples()}
    log.info("relaxing %d of %d good candidates (at most %s per generator and seed)", len(named), len(good), relax["max_per_run"])
    relaxed = relax_all(relax_settings(cfg), named, "candidate", workers=threads)
    first_seed = min(cfg["seeds"])
    copies = [
        relaxed[relaxed["name"].str.startswith(f"{HYDRIDES_BASELINE}_seed{first_seed}_")].assign(
            name=lambda t, seed=seed: t["name"].str.replace(f"_seed{first_seed}_", f"_seed{seed}_", regex=False)
        )
        for seed in cfg["seeds"] if seed != first_seed and HYDRIDES_BASELINE in relaxed_generators(cfg)
    ]  # fmt: skip
    relaxed = pd.concat([relaxed, *copies], ignore_index=True)
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
    # Novelty after relaxation: a candidate that relaxes into a training prototype was no new structure.
    prototypes = [prototype(structure_from_columns(row)) for _, row in known[known["kind"] == "training"].iterrows()]
    relaxed["prototype_novel"] = [not matches_any(prototype(st), prototypes) for st in relaxed["structure"]]
    write_csv(known.drop(columns=["lattice", "species", "frac_coords"]), outputs["known"])
    write_relaxed(relaxed.copy(), outputs["relaxed"])
    counts = []
    for generator in relaxed_generators(cfg):
        for seed in cfg["seeds"]:
            mine = relaxed[(relaxed["generator"] == generator) & (relaxed["seed"] == seed)]
            n_good = int(((good["generator"] == generator) & (good["seed"] == seed)).sum())
            failed = int((~np.isfinite(mine["e_above_hull"].astype(float))).sum())
            counts.append({
                "generator": generator, "seed": seed, "good": n_good, "relaxed": len(mine), "failed": failed, "sun": int(mine["stable"].sum()),
                "sun_prototype_novel": int((mine["stable"] & mine["prototype_novel"]).sum()),
            })  # fmt: skip
    sun = pd.DataFrame(counts)
    # Where only a sample was relaxed, the run's S.U.N. count is estimated as its share among the relaxed times its good count.
    judged = sun["relaxed"] - sun["failed"]  # a failed relaxation has no energy: it says nothing about stability
    share = judged.where(judged > 0)
    sun["sun_estimate"] = (sun["good"] * sun["sun"] / share).fillna(0.0)
    sun["sun_prototype_novel_estimate"] = (sun["good"] * sun["sun_prototype_novel"] / share).fillna(0.0)
    write_csv(sun, outputs["sun"])
    once = relaxed[~relaxed["name"].str.startswith(tuple(f"{HYDRIDES_BASELINE}_seed{seed}_" for seed in cfg["seeds"] if seed != first_seed))]
    hull_figure(diagram, known, once, tuple(cfg["domains"]), outputs["hull_png"], outputs["hull_csv"])
    best_structures(once, outputs["best_png"], outputs["best_csv"])
