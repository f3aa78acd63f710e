"""Judging generated crystals by command, not by eye: the four tests of a good Pd-Ni-H candidate.

1. ternary: it holds H and both metals;
2. structurally valid as CDVAE and MatterGen define it: a finite lattice of at
   least 0.1 cubic Angstrom and no two atoms closer than 0.5 Angstrom;
3. every penalised first-neighbour distance (H-H, metal-metal) in [d1, d2],
   checked with pymatgen on the structure as written;
4. unique among the run's candidates that pass 1-3, and novel: no training
   crystal matches it (StructureMatcher with CDVAE's tolerances).
A candidate that cannot even be built (NaN, a flat cell) is a row with its
reason, never a crash.

Check 4 compares species, so a ternary never matches a binary training
crystal: for a ternary "novel" only repeats "unique". Two further columns say
what a good candidate adds (neither is part of "good", which stays the
paper's count):
- prototype_novel: with both metals mapped to one placeholder, it matches no
  training crystal (so it is no relabelled training structure, as every
  substitution of one is);
- beyond_substitution: no structure of the substitution baseline matches it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import DummySpecies, Structure

from compgen.hydrides.data import Crystals, to_structure

MIN_DISTANCE = 0.5  # Angstrom, CDVAE / MatterGen
MIN_VOLUME = 0.1  # cubic Angstrom
CHECKS = ["ternary", "valid", "in_range", "unique", "novel"]
NOVELTY = ["prototype_novel", "beyond_substitution"]  # counted among the good candidates
PLACEHOLDER = DummySpecies("X")  # every metal, for prototype matching


def matcher() -> StructureMatcher:
    return StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)


def build(lattice, coords, atoms, metals) -> tuple[Structure | None, str]:
    """The candidate as a Structure, or None and why it cannot be one."""
    values = [np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t) for t in (lattice, coords, atoms)]
    lattice_np, coords_np, atoms_np = values
    used = coords_np[atoms_np.astype(bool)]
    if not (np.isfinite(lattice_np).all() and np.isfinite(used).all()):
        return None, "non-finite lattice or coordinates"
    volume = abs(float(np.linalg.det(lattice_np)))
    if volume < MIN_VOLUME:
        return None, f"cell volume {volume:.3g} A^3 is below {MIN_VOLUME}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_structure(lattice_np, coords_np, atoms_np, metals), ""
    except Exception as err:  # pymatgen refuses some lattices in several ways
        return None, f"not a structure: {type(err).__name__}: {err}"


def searchable(structure: Structure, radius: float, max_images: int = 2000) -> bool:
    """Whether a neighbour search within `radius` stays small: a cell flat along some axis has millions of images in reach."""
    lattice = structure.lattice
    cross = [np.linalg.norm(np.cross(lattice.matrix[(k + 1) % 3], lattice.matrix[(k + 2) % 3])) for k in range(3)]
    heights = [lattice.volume / c if c > 0 else 0.0 for c in cross]
    if min(heights) <= 0:
        return False
    return float(np.prod([2 * radius / h + 1 for h in heights])) <= max_images


def penalised_neighbour_distances(structure: Structure, radius: float) -> np.ndarray:
    """Per site, the nearest same-kind neighbour (H to H, metal to metal) within `radius`; inf when none."""
    hydrogen = np.array([site.specie.symbol == "H" for site in structure])
    centres, points, _, distances = structure.get_neighbor_list(radius)
    out = np.full(len(structure), np.inf)
    same = hydrogen[centres] == hydrogen[points]
    np.minimum.at(out, centres[same], distances[same])
    return out


def judge(structure: Structure | None, metals: tuple[str, str], d1: float, d2: float) -> dict:
    """Checks 1-3 of one candidate, with the reason of the first that fails."""
    row = {"ternary": False, "valid": False, "in_range": False, "min_distance": np.nan, "reason": ""}
    if structure is None:
        return row
    elements = {el.symbol for el in structure.composition.elements}
    row["ternary"] = elements == {"H", *metals}
    distances = structure.distance_matrix
    np.fill_diagonal(distances, np.inf)
    lengths = structure.lattice.abc
    row["min_distance"] = float(distances.min()) if len(structure) > 1 else float(min(lengths))
    row["valid"] = bool(all(math.isfinite(x) for x in lengths) and structure.volume >= MIN_VOLUME and row["min_distance"] >= MIN_DISTANCE)
    row["valid"] = row["valid"] and searchable(structure, d2)  # a cell flat enough to defeat the search is no crystal
    first = penalised_neighbour_distances(structure, d2 + 1e-6) if row["valid"] else np.array([np.inf])
    row["in_range"] = bool(row["valid"] and np.all((first >= d1) & (first <= d2)))
    if not row["ternary"]:
        row["reason"] = f"not ternary: {'-'.join(sorted(elements))}"
    elif not row["valid"]:
        row["reason"] = f"two atoms {row['min_distance']:.2f} A apart" if row["min_distance"] < MIN_DISTANCE else "degenerate cell"
    elif not row["in_range"]:
        row["reason"] = f"first-neighbour distances from {first.min():.2f} to {first.max():.2f} A, outside [{d1}, {d2}]"
    return row


def prototype(structure: Structure) -> Structure:
    """The structure with every metal replaced by one placeholder species; H stays H."""
    metals = {el.symbol: PLACEHOLDER for el in structure.composition.elements if el.symbol != "H"}
    return structure.copy().replace_species(metals) if metals else structure.copy()


def matches_any(structure: Structure, others: list[Structure], sm: StructureMatcher | None = None) -> bool:
    sm = sm or matcher()
    return any(sm.fit(structure, other) for other in others)


def judge_run(
    candidates: Crystals, metals: tuple[str, str], training: list[Structure], d1: float, d2: float, substitution: list[Structure] | None = None
) -> tuple[pd.DataFrame, list]:
    """Every candidate of one generator and seed: a row of checks each, and the structures (None where unbuildable).

    `substitution`: the baseline's structures, for the beyond_substitution column (all False without them).
    """
    rows, built = [], []
    for i in range(len(candidates)):
        structure, why = build(candidates.lattice[i], candidates.coords[i], candidates.atoms[i], metals)
        row = {"candidate": i, "source": candidates.names[i], **judge(structure, metals, d1, d2)}
        row["reason"] = why or row["reason"]
        if structure is not None:
            row |= {"formula": structure.composition.reduced_formula, "n_atoms": len(structure), "volume": float(structure.volume)}
        rows.append(row)
        built.append(structure)
    table = pd.DataFrame(rows)
    table["unique"] = False
    table["novel"] = False
    sm = matcher()
    kept: list[Structure] = []
    for i in np.flatnonzero(table["in_range"] & table["ternary"]):
        if any(sm.fit(built[i], other) for other in kept):
            table.loc[i, "reason"] = "a duplicate of an earlier candidate of this run"
            continue
        kept.append(built[i])
        table.loc[i, "unique"] = True
        if any(sm.fit(built[i], known) for known in training):
            table.loc[i, "reason"] = "matches a training crystal"
            continue
        table.loc[i, "novel"] = True
    table["good"] = table["ternary"] & table["valid"] & table["in_range"] & table["unique"] & table["novel"]
    table["prototype_novel"] = False
    table["beyond_substitution"] = False
    prototypes = [prototype(known) for known in training]
    for i in np.flatnonzero(table["good"]):
        table.loc[i, "prototype_novel"] = not matches_any(prototype(built[i]), prototypes, sm)
        table.loc[i, "beyond_substitution"] = substitution is not None and not matches_any(built[i], substitution, sm)
    return table, built


def table2(candidates: pd.DataFrame) -> pd.DataFrame:
    """Per generator: candidates and those passing each check cumulatively, mean and std over seeds.

    The novelty columns count good candidates that are also prototype-novel or beyond substitution.
    """
    counts = []
    for (generator, seed), run in candidates.groupby(["generator", "seed"], sort=False):
        passed = np.ones(len(run), dtype=bool)
        row = {"generator": generator, "seed": seed, "candidates": len(run)}
        for check in CHECKS:
            passed &= run[check].to_numpy()
            row[check] = int(passed.sum())
        for column in NOVELTY:
            row[column] = int((passed & run[column].to_numpy()).sum()) if column in run else 0
        counts.append(row)
    per_seed = pd.DataFrame(counts)
    grouped = per_seed.groupby("generator", sort=False)
    columns = ["candidates", *CHECKS, *NOVELTY]
    summary = grouped[columns].mean().add_suffix("_mean").join(grouped[columns].std(ddof=0).add_suffix("_std"))
    summary.insert(0, "n_seeds", grouped.size())
    return summary.reset_index(), per_seed


def paired_comparisons(per_seed: pd.DataFrame, focus: str, measures: tuple[str, ...] = ("novel", "prototype_novel")) -> pd.DataFrame:
    """`focus` against every other generator on the same seeds: mean difference per run, paired t and Wilcoxon p, seeds for 80% power.

    Table II's per-seed counts: `novel` is the good count (the checks are cumulative). The
    substitution baseline has the same count every seed, so its comparison is a one-sample test
    of the focus generator's counts against that number.
    """
    from compgen.stats import paired_difference

    rows = []
    wide = {m: per_seed.pivot(index="seed", columns="generator", values=m) for m in measures}
    for measure, table in wide.items():
        for other in table.columns:
            if other == focus:
                continue
            test = paired_difference((table[focus] - table[other]).dropna())
            p = test["p_paired_t"] if np.isfinite(test["p_paired_t"]) else test["p_wilcoxon"]
            power = test.pop("seeds_for_80pct_power")
            rows.append({"measure": "good" if measure == "novel" else f"good_{measure}", "generator": focus, "against": other,
                         **{k: v for k, v in test.items() if k not in ("effect_size", "signed_rank_balance")},
                         "significant_at_0.05": bool(p < 0.05), "seeds_for_80pct_power": power})  # fmt: skip
    return pd.DataFrame(rows)
