"""Dataset overview figures and the summary table.

Every figure is written with the CSV of the numbers it draws, so a reader can
check or re-plot it without rerunning the workflow.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pymatgen.core.periodic_table import Element  # noqa: E402

from compgen.io import atomic_path, write_csv  # noqa: E402
from compgen.registry import UNITS  # noqa: E402

# Few distinct integers (dimensionality 0-3) get one bar each, not a histogram.
_MAX_DISCRETE_VALUES = 12
_HISTOGRAM_BINS = 50


def save_figure(fig, png: os.PathLike) -> None:
    """Write a figure atomically as PNG and free it."""
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def element_frequency(elements: pd.Series) -> pd.DataFrame:
    """How many rows contain each element, in order of atomic number."""
    counts = elements.explode().value_counts()
    table = pd.DataFrame({"element": counts.index.astype(str), "rows": counts.to_numpy()})
    table["Z"] = [Element(symbol).Z for symbol in table["element"]]
    table["share"] = table["rows"] / len(elements)
    return table.sort_values("Z")[["element", "Z", "rows", "share"]].reset_index(drop=True)


def value_histogram(values: pd.Series) -> pd.DataFrame:
    """Histogram of one numeric column: one bar per value when few integers, else equal-width bins."""
    x = values.to_numpy(dtype=float)
    distinct = np.unique(x)
    if len(distinct) <= _MAX_DISCRETE_VALUES and np.all(distinct == np.round(distinct)):
        edges = np.append(distinct - 0.5, distinct[-1] + 0.5)
        counts = np.array([(x == v).sum() for v in distinct])
    else:
        counts, edges = np.histogram(x, bins=_HISTOGRAM_BINS)
    return pd.DataFrame({"column": values.name, "bin_left": edges[:-1], "bin_right": edges[1:], "count": counts})


def dataset_overview(
    df: pd.DataFrame, name: str, value_columns: list[str], png: os.PathLike, elements_csv: os.PathLike, values_csv: os.PathLike
) -> None:
    """Element frequency and the distribution of each value column, in one figure."""
    frequency = element_frequency(df["elements"])
    histograms = [value_histogram(df[column]) for column in value_columns]
    write_csv(frequency, elements_csv)
    write_csv(pd.concat(histograms, ignore_index=True), values_csv)

    panels = 1 + len(histograms)
    fig = plt.figure(figsize=(max(10, 0.18 * len(frequency)), 3.2 * panels), layout="constrained")
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    axes[0].bar(frequency["element"], frequency["rows"], color="tab:blue")
    axes[0].set_ylabel("rows containing element")
    axes[0].set_title(f"{name}: {len(df):,} rows, {len(frequency)} elements (ordered by Z)")
    axes[0].tick_params(axis="x", labelsize=7, rotation=90)
    axes[0].margins(x=0.005)
    for ax, hist in zip(axes[1:], histograms, strict=True):
        if len(hist) <= _MAX_DISCRETE_VALUES:  # one bar per integer value
            centres = (hist["bin_left"] + hist["bin_right"]) / 2
            ax.bar(centres, hist["count"], width=0.8, color="tab:orange")
            ax.set_xticks(centres)
        else:
            widths = hist["bin_right"] - hist["bin_left"]
            ax.bar(hist["bin_left"], hist["count"], width=widths, align="edge", color="tab:orange")
        column = str(hist["column"].iloc[0])
        ax.set_xlabel(f"{column} ({UNITS[column]})" if UNITS.get(column) else column)
        ax.set_ylabel("rows")
        top_two = np.sort(hist["count"].to_numpy())[-2:]
        # Metals pile up at gap 0; a log axis keeps the rest of the distribution visible.
        if len(top_two) == 2 and top_two[1] > 20 * max(top_two[0], 1):
            ax.set_yscale("log")
            ax.set_ylabel("rows (log)")
    save_figure(fig, png)


def dataset_summary(tables: dict[str, pd.DataFrame], rejects: dict[str, pd.DataFrame], values: dict[str, list[str]]) -> pd.DataFrame:
    """One row per dataset and value column: counts, element count and the column's range."""
    records = []
    for name, df in tables.items():
        base = {
            "dataset": name,
            "rows": len(df),
            "rejects": len(rejects[name]),
            "n_elements": df["elements"].explode().nunique(),
        }
        for column in values[name]:
            x = df[column].astype(float)
            records.append(base | {"value": column, "min": x.min(), "max": x.max(), "mean": x.mean()})
    return pd.DataFrame(records)
