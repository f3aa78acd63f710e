"""Bayesian search of the Augmented CycleGAN settings (the paper's Table 1), resumable.

The objective is the mean Δ_sample over the cross-validation folds. Every
call is appended to a progress table as soon as it finishes; a restarted job
reads that table back and hands the finished calls to gp_minimize as x0/y0,
so an interruption costs at most the call in flight.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from skopt import gp_minimize
from skopt.space import Integer, Real

from compgen.atmo.data import AminePools
from compgen.atmo.evaluate import evaluate_fold
from compgen.atmo.train import TrainSettings, load_model, train_stack
from compgen.io import atomic_path, write_csv
from compgen.training import use_threads
from compgen.workflow import Progress

log = logging.getLogger(__name__)

SPACE = [
    Integer(5, 25, name="blocks"),
    Real(1.0, 10.0, name="lr_divider"),
    Real(0.9, 0.9999, name="lr_slowdown_param"),
    Real(0.01, 10.0, prior="log-uniform", name="cyc_weight"),
    Real(0.01, 10.0, prior="log-uniform", name="lambda_z"),
]
NAMES = [dimension.name for dimension in SPACE]


def mean_delta_sample(pools: AminePools, base: TrainSettings, n_folds: int, n_sample: int, seed: int, stack: bool = True) -> float:
    """Train on every fold with `base` settings (as one stack, or one after another) and return the mean Δ_sample over all test C_B."""
    values = []
    folds = [pools.fold(fold) for fold in range(n_folds)]
    with tempfile.TemporaryDirectory() as scratch:
        paths = [Path(scratch) / f"fold{fold}.pt" for fold in range(n_folds)]
        settings = [dataclasses.replace(base, seed=base.seed + fold) for fold in range(n_folds)]
        a = pools.vectors[folds[0]["train_a"]]  # the same in every fold
        bs = [pools.vectors[rows["train_b"]] for rows in folds]
        if stack:
            train_stack(settings, a, bs, paths)
        else:
            for one, b, path in zip(settings, bs, paths, strict=True):
                train_stack([one], a, [b], [path])
        for fold, (rows, path) in enumerate(zip(folds, paths, strict=True)):
            model, _ = load_model(path)
            deltas, _ = evaluate_fold(pools.vectors, pools.table, rows["test_b"], model, None, n_sample, n_sample, np.array([0.0]), seed=seed + fold)
            values.extend(deltas.loc[deltas["method"] == "augcyc_sample", "delta"])
    return float(np.mean(values))


def tune(pools: AminePools, base: TrainSettings, n_folds: int, n_sample: int, n_calls: int, seed: int, progress: Path, stack: bool = True) -> pd.DataFrame:
    """Run (or finish) the search; returns every call made, old and new."""
    done = pd.read_csv(progress) if progress.exists() else pd.DataFrame(columns=[*NAMES, "mean_delta_sample"])
    if len(done):
        log.info("resuming: %d of %d calls already in %s", len(done), n_calls, progress)

    calls = Progress("atmo tuning", n_calls, unit="call", done=len(done))

    def objective(x: list) -> float:
        settings = dataclasses.replace(base, **dict(zip(NAMES, (v.item() if hasattr(v, "item") else v for v in x), strict=True)))
        value = mean_delta_sample(pools, settings, n_folds, n_sample, seed, stack)
        nonlocal done
        call = pd.DataFrame([[*x, value]], columns=done.columns)
        done = call if done.empty else pd.concat([done, call], ignore_index=True)
        with atomic_path(progress) as tmp:
            done.to_csv(tmp, index=False)
        calls.advance(f"{dict(zip(NAMES, x, strict=True))} -> mean Δ_sample {value:.4f}")
        return value

    remaining = n_calls - len(done)
    if remaining > 0:
        x0 = done[NAMES].values.tolist() or None
        y0 = done["mean_delta_sample"].tolist() or None
        # Up to 10 random calls before the Gaussian process takes over, finished ones included.
        n_initial = max(0, min(10, n_calls) - len(done))
        gp_minimize(objective, SPACE, n_calls=remaining, n_initial_points=n_initial, x0=x0, y0=y0, random_state=seed + len(done))
    return done


def write_results(calls: pd.DataFrame, calls_csv, best_json) -> None:
    write_csv(calls, calls_csv)
    best = calls.loc[calls["mean_delta_sample"].idxmin()].to_dict()
    with atomic_path(best_json) as tmp:
        Path(tmp).write_text(json.dumps(best, indent=1))


def tune_job(pools: AminePools, cfg: dict, outputs, threads: int) -> None:
    from compgen.atmo.study import stack_min_models, train_settings

    use_threads(threads)
    base = train_settings(cfg, "augcyc", 0, cfg["seeds"][0], len(pools.elements))
    settings = cfg["tuning"]
    progress = Path(outputs["calls"]).with_suffix(".progress.csv")
    stack = cfg["n_folds"] >= stack_min_models(cfg)
    calls = tune(pools, base, cfg["n_folds"], cfg["evaluation"]["n_sample"], settings["n_calls"], settings["seed"], progress, stack)
    write_results(calls, outputs["calls"], outputs["best"])
