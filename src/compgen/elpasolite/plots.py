"""Figures of the elpasolite study, each with the CSV of its numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from compgen.plots import save_figure  # noqa: E402


def oracle_figure(curve: pd.DataFrame, png) -> None:
    """Learning curve of the rebuilt oracle (its CSV is oracle_metrics.csv)."""
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    ax.loglog(curve["n_train"], curve["mae"], "o-", label="MAE")
    ax.loglog(curve["n_train"], curve["rmse"], "s--", label="RMSE")
    ax.axhline(0.1, color="grey", linestyle=":", label="Faber et al. 0.1 eV/atom at 10k")
    ax.set_xlabel("training rows (with A/B swaps)")
    ax.set_ylabel("held-out error (eV/atom)")
    ax.legend()
    save_figure(fig, png)


def site_heatmaps(distributions: dict[str, np.ndarray], png, csv) -> None:
    """p(Z|S) of each set as a 4 x 39 map (Fig. 6), one row of panels per set."""
    from compgen.elpasolite.space import ELEMENTS, SITES
    from compgen.io import write_csv

    rows = [
        {"set": name, "site": SITES[s], "element": ELEMENTS[z], "p": p[s, z]}
        for name, p in distributions.items()
        for s in range(4)
        for z in range(len(ELEMENTS))
    ]
    write_csv(pd.DataFrame(rows), csv)
    fig, axes = plt.subplots(len(distributions), 1, figsize=(11, 1.3 * len(distributions) + 0.6), layout="constrained", squeeze=False)
    vmax = max(float(np.max(p)) for p in distributions.values())
    for ax, (name, p) in zip(axes[:, 0], distributions.items(), strict=True):
        # Square-root scale: one element at p = 1 (F on D) would otherwise flatten the rest.
        image = ax.imshow(p, aspect="auto", cmap="magma", norm=matplotlib.colors.PowerNorm(0.5, vmin=0, vmax=vmax))
        ax.set_yticks(range(4), list(SITES))
        ax.set_xticks([])
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xticks(range(len(ELEMENTS)), ELEMENTS, fontsize=7, rotation=90)
    fig.colorbar(image, ax=axes[:, 0], label="p(Z | site)")
    save_figure(fig, png)


def energy_histograms(energies: dict[str, np.ndarray], png, csv) -> None:
    """Formation energies of unique samples of each model against the training set (Fig. 5)."""
    from compgen.io import write_csv

    write_csv(pd.concat([pd.DataFrame({"set": k, "e_form": v}) for k, v in energies.items()], ignore_index=True), csv)
    everything = np.concatenate(list(energies.values()))
    bins = np.linspace(everything.min(), everything.max(), 50)
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for name, values in energies.items():
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.5, label=f"{name} ({len(values)})")
    ax.set_xlabel("formation energy (eV/atom)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    save_figure(fig, png)


def discovery_curves(curves: pd.DataFrame, png, csv) -> None:
    """Cumulative discoveries against samples generated: a row of panels per target class, one per model (Figs. 4 and 7)."""
    from compgen.io import write_csv

    write_csv(curves, csv)
    models = list(dict.fromkeys(curves["model"]))
    targets = list(dict.fromkeys(curves["target_class"]))
    fig, axes = plt.subplots(
        len(targets), len(models), figsize=(3.6 * len(models), 3.3 * len(targets)), layout="constrained", squeeze=False, sharey="row"
    )
    for row, target in zip(axes, targets, strict=True):
        for ax, model in zip(row, models, strict=True):
            part = curves[(curves["model"] == model) & (curves["target_class"] == target)]
            for column in ("novel_target", "novel_neighbours", "novel_other", "repetitions", "rediscoveries"):
                # zero is drawn at 0.5: a log axis has no 0
                ax.loglog(part["n_generated"], part[column].clip(lower=0.5), label=column.replace("_", " "))
            ax.set_title(f"{model}, target class {target}", fontsize=9)
            ax.set_xlabel("valid samples generated")
        row[0].set_ylabel("count")
    axes[0][-1].legend(fontsize=7)
    save_figure(fig, png)


def training_size_figure(per_seed: pd.DataFrame, metrics: list[str], png, csv) -> None:
    """Each metric against training-set size, mean and one standard deviation over seeds per model (Fig. 8)."""
    from compgen.io import write_csv

    grouped = per_seed.groupby(["model", "n_train"])[metrics]
    table = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=0).add_suffix("_std")).join(grouped.size().rename("n_seeds"))
    table = table.reset_index()
    write_csv(table, csv)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.4), layout="constrained", squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for model, part in table.groupby("model", sort=False):
            mean, std = part[f"{metric}_mean"], part[f"{metric}_std"]
            ax.plot(part["n_train"], mean, "o-", label=model)
            ax.fill_between(part["n_train"], mean - std, mean + std, alpha=0.25)
        ax.set_xscale("log")
        ax.set_xlabel("training rows (with A/B swaps)")
        ax.set_title(metric.replace("_", " "), fontsize=9)
    axes[0][0].legend(fontsize=8)
    save_figure(fig, png)
