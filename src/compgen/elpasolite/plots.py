"""Figures of the elpasolite study, each with the CSV of its numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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
