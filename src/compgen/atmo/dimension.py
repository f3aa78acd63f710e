"""Framework dimensionality (0-3) from composition, and its tandem use on generated C'_B.

Three classifiers (k-nearest neighbours with Manhattan distance, logistic
regression, random forest) are tuned with scikit-optimize's BayesSearchCV and
scored by 5-fold cross-validated accuracy against the majority class. The
same comparison runs on matminer's Magpie composition features to see
whether they beat plain mole fractions.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from pymatgen.core import Composition
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skopt import BayesSearchCV
from skopt.space import Categorical, Integer, Real

from compgen.atmo.data import composition_matrix, element_order
from compgen.workflow import Progress

log = logging.getLogger(__name__)


def fraction_features(atmo: pd.DataFrame, elements: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Mole fractions over every element of the dataset (or the given order)."""
    order = elements or element_order(atmo["elements"].explode())
    return composition_matrix(atmo["elements"], atmo["fractions"], order), order


def magpie_features(vectors: np.ndarray, elements: list[str]) -> np.ndarray:
    """matminer's 132 Magpie statistics of each composition vector."""
    from matminer.featurizers.composition import ElementProperty

    featurizer = ElementProperty.from_preset("magpie")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for vector in vectors:
            present = vector > 0
            rows.append(featurizer.featurize(Composition(dict(zip(np.asarray(elements)[present], vector[present], strict=True)))))
    return np.asarray(rows, dtype=float)


def classifiers(seed: int) -> dict[str, tuple[object, dict]]:
    """Each classifier and its BayesSearchCV space."""
    return {
        "knn": (
            KNeighborsClassifier(metric="manhattan"),
            {"n_neighbors": Integer(1, 30), "weights": Categorical(["uniform", "distance"])},
        ),
        "logistic": (
            # lbfgs on the 132 collinear Magpie features needs ~1000 iterations (11 s a fit)
            # to converge fully at C = 100; 200 cost < 0.01 training accuracy.
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)),
            {"logisticregression__C": Real(1e-3, 1e2, prior="log-uniform")},
        ),
        "random_forest": (
            RandomForestClassifier(random_state=seed, n_jobs=1),
            # Trees grow to full depth; wide max_features made the forests worse here.
            {"n_estimators": Integer(100, 500), "max_features": Real(0.05, 0.5), "min_samples_leaf": Integer(1, 4)},
        ),
    }


def cross_validated_accuracy(features: dict[str, np.ndarray], y: np.ndarray, n_iter: int, seed: int, threads: int) -> tuple[pd.DataFrame, dict]:
    """Accuracy mean and std over 5 folds for each feature set and tuned classifier.

    Hyperparameters are chosen by BayesSearchCV on one 5-fold split; the
    reported accuracy comes from a second, independently shuffled split.
    Returns the table and the tuned estimators (fitted on all data).
    """
    tune_cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    score_cv = StratifiedKFold(5, shuffle=True, random_state=seed + 1)
    majority = np.bincount(y).max() / len(y)
    rows = [{"features": "-", "model": "majority_class", "accuracy_mean": majority, "accuracy_std": 0.0, "params": ""}]
    tuned = {}
    # BayesSearchCV says nothing for minutes: one line per evaluated setting, with rate and ETA.
    progress = Progress("classifier search", len(features) * len(classifiers(seed)) * n_iter, unit="evaluation")
    for feature_name, X in features.items():
        for model_name, (estimator, space) in classifiers(seed).items():
            search = BayesSearchCV(clone(estimator), space, n_iter=n_iter, cv=tune_cv, random_state=seed, n_jobs=threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(X, y, callback=lambda result, f=feature_name, m=model_name: progress.advance(f"{f} / {m}"))
                scores = cross_val_score(search.best_estimator_, X, y, cv=score_cv, n_jobs=threads)
            params = dict(search.best_params_)
            log.info("%s / %s: accuracy %.3f +- %.3f with %s", feature_name, model_name, scores.mean(), scores.std(), params)
            rows.append({"features": feature_name, "model": model_name, "accuracy_mean": scores.mean(), "accuracy_std": scores.std(), "params": repr(params)})
            tuned[(feature_name, model_name)] = search.best_estimator_
    one_nn = cross_val_score(KNeighborsClassifier(1, metric="manhattan"), features["fractions"], y, cv=score_cv)
    rows.append(
        {"features": "fractions", "model": "1nn_manhattan", "accuracy_mean": one_nn.mean(), "accuracy_std": one_nn.std(), "params": "{'n_neighbors': 1}"}
    )
    return pd.DataFrame(rows), tuned


def plain_params(params: dict) -> dict:
    """BayesSearchCV's numpy-typed best parameters as plain JSON-able values."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def tuned_forest(params: dict, seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(random_state=seed, n_jobs=1, **params)


def tandem_predictions(
    forest: RandomForestClassifier, classifier_elements: list[str], generated: np.ndarray, generator_elements: list[str]
) -> np.ndarray:
    """Predicted dimensionality of generated vectors laid out over the generator's elements."""
    index = {symbol: i for i, symbol in enumerate(classifier_elements)}
    missing = [s for s in generator_elements if s not in index]
    if missing:
        raise ValueError(f"the classifier was not trained on element(s) {missing}")
    features = np.zeros((len(generated), len(classifier_elements)))
    features[:, [index[s] for s in generator_elements]] = generated
    return forest.predict(features)
