"""Figures of the latent study, each written with the CSV of what it draws (SI Figs S2-S8)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from compgen.io import write_csv  # noqa: E402
from compgen.latent.data import ELEMENTS  # noqa: E402
from compgen.plots import save_figure  # noqa: E402

STRATEGY_LABELS = {"tpe": "TPE", "gp": "Gaussian process", "rf": "random forest", "random_box": "random point in the box",
                   "random_choice": "random material (chance)"}  # fmt: skip
STRATEGY_COLOURS = {"tpe": "tab:red", "gp": "tab:blue", "rf": "tab:purple", "random_box": "tab:green", "random_choice": "0.4"}


def _binned(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    low, high = np.nanmin([y.min(), p.min()]), np.nanmax([y.max(), p.max()])
    edges = np.linspace(low, high, bins + 1)
    counts, _, _ = np.histogram2d(y, p, bins=[edges, edges])
    centres = (edges[:-1] + edges[1:]) / 2
    yy, pp = np.meshgrid(centres, centres, indexing="ij")
    return pd.DataFrame({"y": yy.ravel(), "prediction": pp.ravel(), "count": counts.ravel().astype(int), "width": edges[1] - edges[0]})


def parity(predictions: dict[tuple[str, str], pd.DataFrame], labels: dict[str, str], png, csv, bins: int = 60) -> None:
    """Out-of-fold prediction against DFT value, as 2-D histograms (one row per task, latent | Magpie)."""
    tasks = [t for t in labels if any(key[0] == t for key in predictions)]
    features = sorted({key[1] for key in predictions})
    fig, axes = plt.subplots(len(tasks), len(features), figsize=(4.2 * len(features), 3.8 * len(tasks)), layout="constrained", squeeze=False)
    frames = []
    for row, task in enumerate(tasks):
        for col, feature in enumerate(features):
            ax = axes[row][col]
            table = predictions[(task, feature)]
            y, p = table["y"].to_numpy(), table["prediction"].to_numpy()
            binned = _binned(y, p, bins).assign(task=task, features=feature)
            frames.append(binned)
            shown = binned[binned["count"] > 0]
            ax.scatter(shown["y"], shown["prediction"], c=np.log10(shown["count"]), s=6, marker="s", cmap="viridis")
            low, high = min(y.min(), p.min()), max(y.max(), p.max())
            ax.plot([low, high], [low, high], "k--", lw=0.8)
            r2 = 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()
            ax.set_title(f"{labels[task]}\n{feature} features: R² {r2:.2f}, MAE {np.abs(y - p).mean():.3f}", fontsize=9)
            ax.set_xlabel("DFT value")
            ax.set_ylabel("predicted (out of fold)")
    write_csv(pd.concat(frames, ignore_index=True), csv)
    save_figure(fig, png)


def roc_curve(y: np.ndarray, score: np.ndarray, points: int = 400) -> pd.DataFrame:
    order = np.argsort(-score, kind="stable")
    y = np.asarray(y, dtype=bool)[order]
    tpr = np.concatenate([[0.0], np.cumsum(y) / max(y.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(~y) / max((~y).sum(), 1)])
    keep = np.unique(np.linspace(0, len(tpr) - 1, points).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def roc(predictions: dict[tuple[str, str], pd.DataFrame], labels: dict[str, str], png, csv) -> None:
    """ROC curves of the classifiers (SI Fig. S7): latent against Magpie features."""
    from compgen.latent.evaluate import roc_auc

    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    frames = []
    for (task, feature), table in sorted(predictions.items()):
        if task not in labels:
            continue
        curve = roc_curve(table["y"].to_numpy(), table["prediction"].to_numpy()).assign(task=task, features=feature)
        frames.append(curve)
        auc = roc_auc(table["y"].to_numpy(), table["prediction"].to_numpy())
        ax.plot(curve["fpr"], curve["tpr"], label=f"{labels[task]}, {feature}: AUC {auc:.3f}")
    if not frames:  # no classifier among latent.properties.tasks
        frames.append(pd.DataFrame(columns=["fpr", "tpr", "task", "features"]))
        ax.text(0.5, 0.5, "no classification task configured", ha="center", va="center")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("SI: AUC 0.93 (band gap > 0, AFLOW)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    write_csv(pd.concat(frames, ignore_index=True), csv)
    save_figure(fig, png)


def _mean_se(table: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    grouped = table.groupby(keys)[column]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    out["se"] = out["std"] / np.sqrt(out["count"])
    return out.drop(columns="std")


def _with_running_best(table: pd.DataFrame, run_keys: list[str], column: str) -> pd.DataFrame:
    table = table.sort_values([*run_keys, "evaluation"]).copy()
    table["best"] = table.groupby(run_keys)[column].cummin()
    return table


def best_so_far(runs: pd.DataFrame, pools: dict[str, np.ndarray], png, csv) -> None:
    """Best value found against evaluations, mean and standard error over seeds, per target and strategy."""
    curves = _mean_se(_with_running_best(runs, ["target", "strategy", "seed"], "value"), ["target", "strategy", "evaluation"], "best")
    write_csv(curves, csv)
    targets = list(dict.fromkeys(runs["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 4), layout="constrained", squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        pool = np.sort(pools[target])
        for strategy, curve in curves[curves["target"] == target].groupby("strategy", sort=False):
            ax.plot(curve["evaluation"], curve["mean"], color=STRATEGY_COLOURS.get(strategy), label=STRATEGY_LABELS.get(strategy, strategy))
            ax.fill_between(curve["evaluation"], curve["mean"] - curve["se"], curve["mean"] + curve["se"], color=STRATEGY_COLOURS.get(strategy), alpha=0.2)
        for p, style in ((1, ":"), (5, "--")):
            ax.axhline(np.percentile(pool, p), color="k", ls=style, lw=0.7, label=f"{p}% of the pool lie below")
        ax.axhline(pool[0], color="k", lw=0.7, label="best in the pool")
        ax.set_title(f"{target} ({len(pool)} materials)")
        ax.set_xlabel("evaluations (materials asked for)")
        ax.set_ylabel("best value so far (lower is better)")
        ax.legend(fontsize=7)
    save_figure(fig, png)


def top_reached(per_run: pd.DataFrame, top_sets: dict[str, tuple[int, int]], png, csv) -> None:
    """Share of runs that have reached the pool's top set by each evaluation, per strategy, beside the exact chance curve.

    `per_run`: evaluate.race_runs; `top_sets`: target -> (pool size, top-set size).
    """
    from compgen.latent.evaluate import chance_of_top

    frames = []
    targets = list(dict.fromkeys(per_run["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 4), layout="constrained", squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        runs = per_run[per_run["target"] == target]
        n = np.arange(1, int(runs["evaluations"].max()) + 1)
        pool, top = top_sets[target]
        curves = {s: [(group["evaluations_to_top"] <= k).mean() for k in n] for s, group in runs.groupby("strategy", sort=False)}
        curves["chance (exact)"] = chance_of_top(pool, top, n)
        seeds = runs.groupby("strategy")["seed"].nunique()
        for strategy, share in curves.items():
            exact = strategy == "chance (exact)"
            label = strategy if exact else f"{STRATEGY_LABELS.get(strategy, strategy)} ({seeds[strategy]} runs)"
            ax.plot(n, share, color="k" if exact else STRATEGY_COLOURS.get(strategy), ls="--" if exact else "-", label=label)
            frames.append(pd.DataFrame({"target": target, "strategy": strategy, "evaluation": n, "share_reached": share}))
        ax.set_title(f"{target}: top {top} of {pool} materials")
        ax.set_xlabel("evaluations (materials asked for)")
        ax.set_ylabel("share of runs that have found one")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    write_csv(pd.concat(frames, ignore_index=True), csv)
    save_figure(fig, png)


def test_functions(tests: pd.DataFrame, png, csv) -> None:
    """Fig. S8: best regret so far on 2-D test functions, mean and standard error over seeds."""
    curves = _mean_se(_with_running_best(tests, ["function", "strategy", "seed"], "regret"), ["function", "strategy", "evaluation"], "best")
    write_csv(curves, csv)
    functions = list(dict.fromkeys(tests["function"]))
    fig, axes = plt.subplots(1, len(functions), figsize=(4.4 * len(functions), 3.8), layout="constrained", squeeze=False)
    for ax, function in zip(axes[0], functions, strict=True):
        for strategy, curve in curves[curves["function"] == function].groupby("strategy", sort=False):
            colour = STRATEGY_COLOURS.get(strategy)
            ax.plot(curve["evaluation"], curve["mean"], color=colour, label=STRATEGY_LABELS.get(strategy, strategy))
            ax.fill_between(curve["evaluation"], np.maximum(curve["mean"] - curve["se"], 1e-6), curve["mean"] + curve["se"], color=colour, alpha=0.2)
        ax.set_yscale("log")
        ax.set_title(function)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best regret so far")
        ax.legend(fontsize=7)
    save_figure(fig, png)


def seconds_per_iteration(runs: pd.DataFrame, tests: pd.DataFrame, png, csv) -> None:
    """Seconds a strategy spends proposing, against how many points it has seen (the SI's scaling argument)."""
    race = _mean_se(runs.assign(space="perovskite pool (joint latent)"), ["space", "strategy", "evaluation"], "seconds")
    tested = _mean_se(tests.assign(space="test functions (2-D)"), ["space", "strategy", "evaluation"], "seconds")
    table = pd.concat([race, tested], ignore_index=True)
    write_csv(table, csv)
    spaces = list(dict.fromkeys(table["space"]))
    fig, axes = plt.subplots(1, len(spaces), figsize=(4.8 * len(spaces), 3.8), layout="constrained", squeeze=False)
    for ax, space in zip(axes[0], spaces, strict=True):
        for strategy, curve in table[table["space"] == space].groupby("strategy", sort=False):
            ax.plot(curve["evaluation"], curve["mean"], color=STRATEGY_COLOURS.get(strategy), label=STRATEGY_LABELS.get(strategy, strategy))
        ax.set_yscale("log")
        ax.set_title(space)
        ax.set_xlabel("iteration")
        ax.set_ylabel("seconds per iteration")
        ax.legend(fontsize=7)
    save_figure(fig, png)


def _tsne(z: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=min(perplexity, (len(z) - 1) / 3), random_state=seed, init="pca").fit_transform(z)


def composition_embedding(mp: pd.DataFrame, elements: list[str], points: int, perplexity: float, seed: int, png, csv) -> None:
    """SI Fig. S4: t-SNE of composition latents of MP formulas, one panel per element (formulas with it in red)."""
    from pymatgen.core import Composition

    chosen = mp.sample(n=min(points, len(mp)), random_state=seed).reset_index(drop=True)
    xy = _tsne(np.stack(chosen["z"].to_numpy()), perplexity, seed)
    table = pd.DataFrame({"formula": chosen["formula"], "x": xy[:, 0], "y": xy[:, 1]})
    for element in elements:
        table[element] = [element in Composition(f).get_el_amt_dict() for f in table["formula"]]
    write_csv(table, csv)
    fig, axes = plt.subplots(1, len(elements), figsize=(3.6 * len(elements), 3.6), layout="constrained", squeeze=False)
    for ax, element in zip(axes[0], elements, strict=True):
        ax.scatter(table["x"], table["y"], s=2, c="0.8")
        has = table[table[element]]
        ax.scatter(has["x"], has["y"], s=2, c="tab:red")
        ax.set_title(f"contains {element} ({len(has)} of {len(table)})")
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, png)


def xrd_embedding(perovskites: pd.DataFrame, points: int, perplexity: float, seed: int, png, csv) -> None:
    """SI Fig. S5: t-SNE of the perovskites' XRD latents, coloured by crystal system."""
    chosen = perovskites.sample(n=min(points, len(perovskites)), random_state=seed).reset_index(drop=True)
    xy = _tsne(np.stack(chosen["z_xrd"].to_numpy()), perplexity, seed)
    table = pd.DataFrame({"material_id": chosen["material_id"], "crystal_system": chosen["crystal_system"], "x": xy[:, 0], "y": xy[:, 1]})
    write_csv(table, csv)
    fig, ax = plt.subplots(figsize=(5, 4.4), layout="constrained")
    for system, part in table.groupby("crystal_system"):
        ax.scatter(part["x"], part["y"], s=3, label=f"{system} ({len(part)})")
    ax.legend(fontsize=7, markerscale=3)
    ax.set_title("XRD latents of the perovskites (t-SNE)")
    ax.set_xticks([])
    ax.set_yticks([])
    save_figure(fig, png)


def xrd_examples(true: np.ndarray, decoded: np.ndarray, grid: np.ndarray, ids: list, png, csv) -> None:
    """SI Fig. S2: held-out patterns and their decoded images."""
    frames = [pd.DataFrame({"material_id": i, "two_theta": grid, "pattern": t, "decoded": d}) for i, t, d in zip(ids, true, decoded, strict=True)]
    write_csv(pd.concat(frames, ignore_index=True), csv)
    fig, axes = plt.subplots(len(ids), 1, figsize=(7, 1.6 * len(ids)), layout="constrained", squeeze=False, sharex=True)
    for ax, frame in zip(axes[:, 0], frames, strict=True):
        ax.plot(frame["two_theta"], frame["pattern"], "k", lw=0.8, label="pattern")
        ax.plot(frame["two_theta"], frame["decoded"], "tab:red", lw=0.8, label="decoded")
        ax.set_ylabel(f"id {frame['material_id'].iloc[0]}", fontsize=7)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("2θ (degrees, Cu Kα)")
    save_figure(fig, png)


def composition_examples(true: np.ndarray, decoded: np.ndarray, formulas: list[str], png, csv) -> None:
    """SI Fig. S3: held-out compositions and their decoded fractions (elements above 1% in either)."""
    rows = []
    for formula, t, d in zip(formulas, true, decoded, strict=True):
        for index in np.flatnonzero((t > 0.01) | (d > 0.01)):
            rows.append({"formula": formula, "element": ELEMENTS[index], "fraction": float(t[index]), "decoded": float(d[index])})
    table = pd.DataFrame(rows)
    write_csv(table, csv)
    fig, axes = plt.subplots(1, len(formulas), figsize=(2.6 * len(formulas), 3), layout="constrained", squeeze=False)
    for ax, (formula, part) in zip(axes[0], table.groupby("formula", sort=False), strict=False):
        x = np.arange(len(part))
        ax.bar(x - 0.2, part["fraction"], 0.4, label="formula")
        ax.bar(x + 0.2, part["decoded"], 0.4, label="decoded")
        ax.set_xticks(x, part["element"], fontsize=7)
        ax.set_title(formula, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, png)


def loss_curves(losses: dict[str, pd.DataFrame], png, csv) -> None:
    """Training and held-out loss of each VAE per epoch."""
    table = pd.concat([frame.assign(vae=vae) for vae, frame in losses.items()], ignore_index=True)
    write_csv(table, csv)
    fig, axes = plt.subplots(1, len(losses), figsize=(4.4 * len(losses), 3.6), layout="constrained", squeeze=False)
    for ax, (vae, frame) in zip(axes[0], losses.items(), strict=True):
        for column in ("loss", "holdout_loss", "kl"):
            ax.plot(frame["epoch"], frame[column], label=column)
        ax.set_title(f"{vae} VAE")
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    save_figure(fig, png)

