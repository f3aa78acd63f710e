"""Figures of the hydrides study, each written with the CSV of what it draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from compgen.io import write_csv  # noqa: E402
from compgen.plots import save_figure  # noqa: E402

LABELS = {
    "substitution": "substitution (no training)",
    "noise_gan": "GAN (noise)",
    "step1_transfer": "step 1 + feature transfer",
    "crystalgan": "CrystalGAN, no constraint",
    "crystalgan_geo": "CrystalGAN, constraint",
    "crystalgan_centred": "CrystalGAN, authors' centred constraint",
    "crystalgan_printed": "CrystalGAN, eqs 12-13 as printed",
}


def loss_curves(losses: dict[tuple[str, int], str], png, csv) -> None:
    """Generator and discriminator losses (and the constraint terms) of every training job, one panel per model."""
    frames = [pd.read_csv(path).assign(model=model, seed=seed) for (model, seed), path in losses.items()]
    table = pd.concat(frames, ignore_index=True)
    write_csv(table, csv)
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), layout="constrained", squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        part = table[table["model"] == model]
        for seed, run in part.groupby("seed"):
            for column, style in (("G", "-"), ("D", "--"), ("geo1", ":")):
                if column in run and run[column].abs().sum() > 0:
                    ax.plot(run["epoch"], run[column], style, lw=0.8, label=f"{column} seed {seed}" if seed == part["seed"].min() else None)
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.legend(fontsize=7)
    save_figure(fig, png)


def distance_histograms(distances: pd.DataFrame, d1: float, d2: float, png, csv) -> None:
    """First-neighbour distances (H-H, metal-metal) of the training crystals against each generator's candidates."""
    bins = np.linspace(0, 6, 61)
    rows = []
    for (label, pair), part in distances.groupby(["set", "pair"], sort=False):
        counts, _ = np.histogram(part["distance"].clip(upper=bins[-1]), bins)
        share = counts / max(counts.sum(), 1)
        rows += [{"set": label, "pair": pair, "bin_left": lo, "bin_right": hi, "share": s} for lo, hi, s in zip(bins[:-1], bins[1:], share, strict=True)]
    table = pd.DataFrame(rows)
    write_csv(table, csv)
    pairs = ["H-H", "M-M"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    for ax, pair in zip(axes, pairs, strict=True):
        for label, part in table[table["pair"] == pair].groupby("set", sort=False):
            ax.step(part["bin_left"], part["share"], where="post", lw=2 if label == "training" else 1, label=LABELS.get(label, label))
        for d in (d1, d2):
            ax.axvline(d, color="k", ls="--", lw=0.8)
        ax.set_title(f"{pair} first-neighbour distances (d1 = {d1}, d2 = {d2} A)")
        ax.set_xlabel("distance (A; beyond 6 in the last bin)")
        ax.set_ylabel("share of atoms")
        ax.legend(fontsize=7)
    save_figure(fig, png)


def table2_bars(per_seed: pd.DataFrame, paper: dict[str, int], png, csv) -> None:
    """Good candidates (all four checks) per generator and those also prototype-novel, mean and spread over seeds, beside Table II."""
    grouped = per_seed.groupby("generator", sort=False)
    good, novel = grouped["novel"], grouped["prototype_novel"]
    table = pd.DataFrame(
        {"mean": good.mean(), "std": good.std(ddof=0), "min": good.min(), "max": good.max(),
         "prototype_novel_mean": novel.mean(), "prototype_novel_std": novel.std(ddof=0), "n_seeds": grouped.size()}
    ).reset_index()  # fmt: skip
    table["paper"] = table["generator"].map(paper)
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    x = np.arange(len(table))
    ax.bar(x - 0.27, table["mean"], 0.27, yerr=table["std"], capsize=4, label="good (mean +- std over seeds)")
    ax.bar(x, table["prototype_novel_mean"], 0.27, yerr=table["prototype_novel_std"], capsize=4, color="tab:green", label="good and prototype-novel")
    ax.bar(x + 0.27, table["paper"].fillna(0), 0.27, color="tab:gray", label="Nouira et al. 2018, Table II (judged by eye)")
    for i in np.flatnonzero(table["paper"].isna()):
        ax.text(x[i] + 0.27, 0.3, "n/a", ha="center", fontsize=7, rotation=90)
    ax.set_xticks(x, [LABELS.get(g, g) for g in table["generator"]], rotation=15, fontsize=8)
    ax.set_ylabel("Pd-Ni-H candidates per run (of 70)")
    ax.legend(fontsize=8)
    save_figure(fig, png)


def hull_figure(diagram, known: pd.DataFrame, relaxed: pd.DataFrame, metals: tuple[str, str], png, csv) -> None:
    """The ternary hull: compositions in a triangle (H at the top), colour = energy above the hull."""
    from pymatgen.core import Composition

    def xy(formula: str) -> tuple[float, float]:
        c = Composition(formula)
        a, b, h = (c.get_atomic_fraction(el) for el in (*metals, "H"))
        return b + h / 2, h * np.sqrt(3) / 2

    columns = ["name", "formula", "e_form", "e_above_hull"]
    table = pd.concat([known[columns].assign(set=known["kind"]), relaxed[columns].assign(set="candidate")], ignore_index=True)
    table = table[["set", *columns]]
    table[["x", "y"]] = [xy(f) for f in table["formula"]] if len(table) else np.zeros((0, 2))
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(6.5, 5.8), layout="constrained")
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], "k-", lw=0.8)
    for facet in diagram.facets:
        corners = [xy(diagram.qhull_entries[i].composition.reduced_formula) for i in facet]
        ax.plot(*np.array(corners + corners[:1]).T, color="0.8", lw=0.6)
    for label, marker in (("training", "o"), ("reference", "s"), ("candidate", "*")):
        part = table[table["set"] == label]
        if len(part):
            size = 90 if label == "candidate" else 30
            colour = part["e_above_hull"].clip(upper=1)
            shown = ax.scatter(part["x"], part["y"], c=colour, cmap="viridis_r", vmin=0, vmax=1, marker=marker, s=size, edgecolors="k", label=label)
    for (x, y), name in zip([(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)], [*metals, "H"], strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=12)
    fig.colorbar(shown, ax=ax, label="energy above hull (eV/atom, CHGNet; clipped at 1)")
    ax.set_axis_off()
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{metals[0]}-{metals[1]}-H hull from relaxed training crystals and references")
    save_figure(fig, png)


def best_structures(relaxed: pd.DataFrame, png, csv, n: int = 4) -> None:
    """Pictures of the relaxed candidates closest to the hull (atoms in the cell, ase's plotter)."""
    from ase.visualize.plot import plot_atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    from compgen.datasets import structure_from_columns

    best = relaxed.sort_values("e_above_hull").head(n) if len(relaxed) else relaxed
    write_csv(best.drop(columns=[c for c in ("lattice", "species", "frac_coords", "structure") if c in best]), csv)
    fig, axes = plt.subplots(1, max(len(best), 1), figsize=(4 * max(len(best), 1), 4), layout="constrained", squeeze=False)
    if best.empty:
        axes[0, 0].text(0.5, 0.5, "no good candidate to relax", ha="center", va="center")
        axes[0, 0].set_axis_off()
    for ax, row in zip(axes[0], best.itertuples(), strict=False):
        structure = row.structure if hasattr(row, "structure") else structure_from_columns(row._asdict())
        plot_atoms(AseAtomsAdaptor.get_atoms(structure), ax, rotation="10x,20y,0z", radii=0.4)
        ax.set_title(f"{row.name}\n{row.formula}, {row.e_above_hull:.3f} eV/atom above hull", fontsize=8)
        ax.set_axis_off()
    save_figure(fig, png)
