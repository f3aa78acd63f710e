"""Property models on latent coordinates and, beside them, on Magpie features (SI Tables S3-S4).

XGBoost regressors and classifiers, scored by k-fold cross-validation in which
folds are cut by formula: polymorphs share a composition, and a composition
model must not be scored on a formula it was fitted on.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compgen.latent.data import ELEMENTS
from compgen.latent.evaluate import classification_scores, regression_scores
from compgen.workflow import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One property model: where its rows come from and what it predicts."""

    dataset: str  # 'mp_e_form', 'mp_gap', 'mp_structures' (source mp_api only) or 'perovskites'
    target: str  # a column of the dataset
    kind: str  # 'regression' or 'classification' (target > 0)
    latent: str  # 'composition' (24 numbers) or 'joint' (composition + XRD, 88)
    label: str
    paper: dict  # the SI's numbers on its own data, for the summary table
    # how the SI got them, where it differs from ours (the table says so beside them); {source}: matbench or mp_api
    paper_protocol: str = ""

    def protocol(self, source: str, features: str) -> str:
        """What a row's model read: whose rows, and which features."""
        rows = {"perovskites": "perov_5 perovskites", "mp_structures": "MP structures of the mp_api snapshot"}.get(
            self.dataset, f"MP formulas ({'matbench' if source == 'matbench' else 'mp_api snapshot'})"
        )
        if features != "latent":
            return f"{rows}; {features} features"
        return f"{rows}; {'concatenated composition + XRD latents (the SI)' if self.latent == 'joint' else 'composition latent only'}"


SI_FORMATION_ENERGY = {"r2": 0.93, "mae": 0.19, "rmse": 0.29}
TASKS = {
    "mp_formation_energy": Task("mp_e_form", "e_form", "regression", "composition", "MP formation energy (eV/atom)", SI_FORMATION_ENERGY,
                                "not comparable: the SI's model reads the concatenated composition and XRD latents of 130,998 MP structures; "
                                "ours reads the composition latent of {source} formulas (no structures)"),
    # source mp_api only: the SI's own protocol, on a subsample of MP structures (latent.mp_structures)
    "mp_formation_energy_si": Task("mp_structures", "e_form", "regression", "joint", "MP formation energy, SI protocol (eV/atom)",
                                   SI_FORMATION_ENERGY,
                                   "the SI's protocol (concatenated composition + XRD latents of MP structures) on a subsample of today's MP, "
                                   "against its 130,998 structures of about 2020"),
    "mp_metal": Task("mp_gap", "band_gap", "classification", "composition", "MP non-metal (band gap > 0)",
                     {"roc_auc": 0.93, "accuracy": 0.90, "f1": 0.87},
                     "not comparable: the SI's classifier is of 28,737 AFLOW materials on concatenated latents; ours of MP formulas"),
    "perovskite_heat": Task("perovskites", "heat_ref", "regression", "joint", "perovskite heat of formation (eV)", {}),
    "perovskite_gap": Task("perovskites", "ind_gap", "regression", "joint", "perovskite band gap (eV)", {}),
}  # fmt: skip
FEATURES = ("latent", "magpie", "fractions", "element_set")


def feature_matrix(features: str, latent: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """A property model's inputs: the latent, Magpie statistics, or the references that need no model (raw fractions, element set)."""
    if features == "latent":
        return latent
    if features == "magpie":
        return magpie_features(fractions)
    if features == "fractions":
        return fractions
    if features == "element_set":
        return (fractions > 0).astype(np.float32)
    raise ValueError(f"unknown property features {features!r}; known: {', '.join(FEATURES)}")


@functools.cache
def magpie_table() -> tuple[np.ndarray, list[str]]:
    """Magpie's 22 element properties of Z = 1..100 (NaN where Magpie has none), as matminer's preset reads them."""
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Element

    featurizer = ElementProperty.from_preset("magpie")
    table = np.array(
        [[featurizer.data_source.get_elemental_property(Element(symbol), name) for name in featurizer.features] for symbol in ELEMENTS],
        dtype=float,
    )
    return table, list(featurizer.features)


MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")


def magpie_features(fractions: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """matminer's 132 Magpie statistics (ElementProperty 'magpie' preset) of fraction vectors, vectorised.

    Same values as matminer's featurize (tests compare them), without building
    a Composition per row: 132,000 formulas in seconds rather than minutes.
    Order: for each property, minimum, maximum, range, mean, avg_dev, mode.
    """
    table, _ = magpie_table()
    out = np.empty((len(fractions), table.shape[1] * len(MAGPIE_STATS)))
    for start in range(0, len(fractions), chunk):
        w = np.asarray(fractions[start : start + chunk], dtype=float)
        present = w > 0
        values = np.where(present[:, :, None], table[None], np.nan)  # rows x elements x properties
        missing = (present[:, :, None] & np.isnan(table)[None]).any(axis=1)
        filled = np.where(present[:, :, None], np.nan_to_num(table)[None], 0.0)
        weights = w / w.sum(axis=1, keepdims=True)
        minimum, maximum = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
        mean = np.einsum("ne,nep->np", weights, filled)
        avg_dev = np.einsum("ne,nep->np", weights, np.abs(filled - mean[:, None, :]) * present[:, :, None])
        most = present & np.isclose(weights, weights.max(axis=1, keepdims=True))
        mode = np.nanmin(np.where(most[:, :, None], values, np.nan), axis=1)
        stats = np.stack([minimum, maximum, maximum - minimum, mean, avg_dev, mode], axis=2)
        stats[np.repeat(missing[:, :, None], len(MAGPIE_STATS), axis=2)] = np.nan
        out[start : start + len(w)] = stats.reshape(len(w), -1)
    return out


def group_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number for every row; rows of one group share a fold, groups are dealt out in a seeded order."""
    unique, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = np.empty(len(unique), dtype=int)
    fold_of_group[order] = np.arange(len(unique)) % folds
    return fold_of_group[inverse]


def cross_validate(
    X: np.ndarray, y: np.ndarray, fold: np.ndarray, kind: str, params: dict, seed: int, threads: int, what: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Out-of-fold predictions (class-1 probabilities for a classifier) and each fold's scores."""
    import xgboost

    model_type = xgboost.XGBRegressor if kind == "regression" else xgboost.XGBClassifier
    target = y if kind == "regression" else (y > 0).astype(int)
    prediction = np.empty(len(y))
    rows = []
    folds = np.unique(fold)
    progress = Progress(what, len(folds), unit="fold")
    for k in folds:
        test = fold == k
        model = model_type(**params, random_state=seed, n_jobs=threads, tree_method="hist")
        model.fit(X[~test], target[~test])
        prediction[test] = model.predict(X[test]) if kind == "regression" else model.predict_proba(X[test])[:, 1]
        scores = regression_scores(target[test], prediction[test]) if kind == "regression" else classification_scores(target[test], prediction[test])
        rows.append({"fold": int(k), "n_test": int(test.sum()), **scores})
        progress.advance(" ".join(f"{name} {value:.3f}" for name, value in scores.items()))
    return prediction, pd.DataFrame(rows)
