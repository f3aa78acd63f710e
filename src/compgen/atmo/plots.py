"""Figures of the atmo study (paper Figs. 5 and S2, loss curves), each with its CSV."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from compgen.atmo.data import element_ratios  # noqa: E402
from compgen.io import write_csv  # noqa: E402
from compgen.plots import save_figure  # noqa: E402

# Random is left out of the violins as in the paper: its spread hides the rest.
VIOLIN_METHODS = ["augcyc_opt", "augcyc_sample", "cyclegan", "identity"]
LABELS = {
    "augcyc_opt": "Δ opt",
    "augcyc_sample": "Δ sample",
    "cyclegan": "CycleGAN",
    "identity": "identity",
    "random": "random",
}


def delta_distributions(deltas: pd.DataFrame, png, csv) -> None:
    """Violin plot and cumulative distribution of Δ per method (Fig. 5)."""
    methods = [m for m in LABELS if m in set(deltas["method"])]
    rows = []
    for method in methods:
        values = np.sort(deltas.loc[deltas["method"] == method, "delta"].to_numpy())
        rows.append(pd.DataFrame({"method": method, "delta": values, "cdf": np.arange(1, len(values) + 1) / len(values)}))
    table = pd.concat(rows, ignore_index=True)
    write_csv(table, csv)

    fig, (violin, cdf) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    shown = [m for m in VIOLIN_METHODS if m in methods]
    violin.violinplot([table.loc[table["method"] == m, "delta"] for m in shown], showmedians=True)
    violin.set_xticks(range(1, len(shown) + 1), [LABELS[m] for m in shown])
    violin.set_ylabel("Δ (mean |x' − x| over elements of C_B)")
    for method in methods:
        part = table[table["method"] == method]
        cdf.step(part["delta"], part["cdf"], where="post", label=f"{LABELS[method]} (mean {part['delta'].mean():.4f})")
    cdf.set_xscale("log")
    cdf.set_xlabel("Δ")
    cdf.set_ylabel("cumulative fraction of test C_B")
    cdf.legend(fontsize=8)
    save_figure(fig, png)


def nsample_curve(curves: pd.DataFrame, png, csv) -> None:
    """Mean Δ_sample against the number of z_B samples (Fig. S2), pooled over folds and seeds."""
    weighted = curves.assign(weighted=curves["mean_delta"] * curves["n_test"])
    pooled = weighted.groupby("n_sample")[["weighted", "n_test"]].sum()
    table = pd.DataFrame({"n_sample": pooled.index, "mean_delta": (pooled["weighted"] / pooled["n_test"]).to_numpy()})
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    ax.plot(table["n_sample"], table["mean_delta"], marker=".")
    ax.set_xlabel("N_sample (z_B draws per C_A)")
    ax.set_ylabel("mean Δ_sample")
    save_figure(fig, png)


def loss_curves(loss_files: dict[tuple[str, int, int], str], png, csv) -> None:
    """Generator, discriminator and cycle losses of every training job (keyed model, fold, seed), one panel per fold."""
    frames = []
    for (model, fold, seed), path in loss_files.items():
        frames.append(pd.read_csv(path).assign(model=model, fold=fold, seed=seed))
    table = pd.concat(frames, ignore_index=True)
    write_csv(table, csv)
    folds = sorted(table["fold"].unique())
    fig, axes = plt.subplots(1, len(folds), figsize=(4.5 * len(folds), 3.8), layout="constrained", squeeze=False)
    for ax, fold in zip(axes[0], folds, strict=True):
        for (model, seed), part in table[table["fold"] == fold].groupby(["model", "seed"]):
            for column, style in (("G", "-"), ("D", "--"), ("cyc_B", ":")):
                ax.plot(part["epoch"], part[column], style, label=f"{model} s{seed} {column}", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"fold {fold}")
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("loss")
    axes[0][-1].legend(fontsize=7)
    save_figure(fig, png)


def element_ratio(generated: np.ndarray, real: np.ndarray, elements: list[str], numerator: str, denominator: str, png, csv) -> None:
    """Distribution of an element ratio (C/N) in generated and in real C_B (Fig. 8)."""
    frames = []
    for label, vectors in (("generated C'_B", generated), ("real C_B", real)):
        frames.append(pd.DataFrame({"set": label, "ratio": element_ratios(vectors, elements, numerator, denominator)}))
    table = pd.concat(frames, ignore_index=True)
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    upper = np.quantile(table["ratio"], 0.995)
    bins = np.linspace(0, max(upper, 1e-9), 60)
    for label, part in table.groupby("set"):
        ax.hist(part["ratio"].clip(upper=upper), bins=bins, density=True, alpha=0.55, label=f"{label} (n={len(part)})")
    ax.set_xlabel(f"{numerator}/{denominator} ratio")
    ax.set_ylabel("density")
    ax.legend()
    save_figure(fig, png)


def umap_embedding(groups: dict[str, np.ndarray], seed: int, png, csv) -> None:
    """2-D UMAP (Minkowski p = 1) of several sets of composition vectors in one embedding (Fig. 7)."""
    import umap

    labels = np.concatenate([[name] * len(vectors) for name, vectors in groups.items()])
    stacked = np.concatenate(list(groups.values()))
    reducer = umap.UMAP(metric="minkowski", metric_kwds={"p": 1}, random_state=seed, n_jobs=1)
    xy = reducer.fit_transform(stacked)
    table = pd.DataFrame({"set": labels, "umap_1": xy[:, 0], "umap_2": xy[:, 1]})
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    styles = {0: ("o", 10, 0.25), 1: ("s", 14, 0.9), 2: ("^", 14, 0.9)}
    for k, (name, part) in enumerate(table.groupby("set", sort=False)):
        marker, size, alpha = styles.get(k, ("x", 10, 0.6))
        ax.scatter(part["umap_1"], part["umap_2"], s=size, marker=marker, alpha=alpha, label=f"{name} ({len(part)})")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.legend(fontsize=8)
    save_figure(fig, png)


def accuracy_bars(table: pd.DataFrame, png) -> None:
    """Cross-validated accuracy per classifier and feature set, majority class as a line."""
    majority = table.loc[table["model"] == "majority_class", "accuracy_mean"].iloc[0]
    shown = table[table["model"] != "majority_class"]
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    labels = [f"{m}\n{f}" for f, m in zip(shown["features"], shown["model"], strict=True)]
    ax.bar(labels, shown["accuracy_mean"], yerr=shown["accuracy_std"], capsize=4, color="tab:green")
    ax.axhline(majority, color="grey", linestyle="--", label=f"majority class {majority:.3f}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("5-fold accuracy")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend()
    save_figure(fig, png)


def tandem_figures(generated, predicted, real_vectors, real: pd.DataFrame, system: str, seed: int, outputs) -> None:
    """Fig. 9: share of each dimensionality, generated vs real; Fig. 10: UMAP coloured by dimensionality."""
    import umap

    shares = pd.concat(
        [
            pd.DataFrame({"set": "generated C'_B (predicted)", "dimension": predicted}),
            real.assign(set="real B (all)")[["set", "dimension"]],
        ]
    )
    counts = shares.groupby(["set", "dimension"]).size().unstack(fill_value=0).reindex(columns=range(4), fill_value=0)
    proportions = counts.div(counts.sum(1), axis=0)
    write_csv(proportions.reset_index(), outputs["bars_csv"])
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    width = 0.8 / len(proportions)
    for k, (name, row) in enumerate(proportions.iterrows()):
        ax.bar(np.arange(4) + k * width, row.to_numpy(), width=width, label=f"{name} (n={counts.loc[name].sum()})")
    ax.set_xticks(np.arange(4) + 0.4 - width / 2, [f"{d}D" for d in range(4)])
    ax.set_ylabel("share")
    ax.set_title(system)
    ax.legend(fontsize=8)
    save_figure(fig, outputs["bars_png"])

    stacked = np.concatenate([generated, real_vectors])
    xy = umap.UMAP(metric="minkowski", metric_kwds={"p": 1}, random_state=seed, n_jobs=1, n_neighbors=min(15, len(stacked) - 1)).fit_transform(stacked)
    points = pd.DataFrame(
        {
            "set": ["generated C'_B"] * len(generated) + real["set"].tolist(),
            "dimension": np.concatenate([predicted, real["dimension"].to_numpy()]),
            "umap_1": xy[:, 0],
            "umap_2": xy[:, 1],
        }
    )
    write_csv(points, outputs["umap_csv"])
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    colours = plt.get_cmap("viridis", 4)
    markers = {"generated C'_B": ("o", 12, 0.3), "real B (training)": ("s", 40, 1.0), "real B (test, fold 0)": ("^", 50, 1.0)}
    for name, part in points.groupby("set"):
        marker, size, alpha = markers[name]
        shown = ax.scatter(
            part["umap_1"], part["umap_2"], c=part["dimension"], cmap=colours, vmin=-0.5, vmax=3.5,
            marker=marker, s=size, alpha=alpha, edgecolors="k" if alpha == 1 else "none", label=name,
        )  # fmt: skip
    fig.colorbar(shown, ax=ax, ticks=range(4), label="framework dimensionality")
    ax.legend(fontsize=8)
    ax.set_title(f"{system}: colour = dimensionality (predicted for C'_B)")
    save_figure(fig, outputs["umap_png"])


def fraction_sweep(table: pd.DataFrame, png) -> None:
    """Mean Δ_sample against the share of can-pair B in training, with and without unpaired data (Fig. 6)."""
    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    for unpaired, part in table.groupby("unpaired"):
        stats = part.groupby("paired_fraction")["mean_delta_sample"].agg(["mean", "std", "size"])
        label = f"{unpaired} unpaired data ({stats['size'].max()} seeds)"
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=4, label=label)
    ax.set_xlabel("fraction of can-pair B used in training")
    ax.set_ylabel("mean Δ_sample")
    ax.legend()
    save_figure(fig, png)
