"""Hyper-parameter search of the two VAEs with hyperopt's TPE over SI Table S1's ranges (opt-in).

Beside Table S1's architecture ranges it searches the levers that decide how much
a latent keeps: the learning rate, the number of epochs and, for the composition
VAE, the atoms its fractions are read as (the likelihood's scale against the KL
term; `atoms` x NLL + KL is the same objective as NLL + KL / atoms, a beta-VAE).
Each trial trains on the training rows less a seeded validation share and is
scored by its reconstruction of that share: mean L1 of the fractions, or 1 - mean
cosine of the patterns. The ELBO is no score here, since it changes with `atoms`;
and the study's held-out rows are never seen, so the study reports numbers no
setting was chosen on. The finished trials are kept in a JSON file beside the
output; a killed job replays them into TPE (same seeds, same proposals) and goes
on from the next.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from compgen.io import atomic_path, write_csv
from compgen.latent.data import material_split
from compgen.latent.search import SearchSettings, TreeParzen
from compgen.latent.train import VAESettings, train_vae
from compgen.workflow import Progress

log = logging.getLogger(__name__)

CATEGORIES = {
    "initialiser": ["lecun_normal", "he_normal", "he_uniform"],
    "activation": ["tanh", "selu", "elu", "relu"],
    "optimiser": ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"],
}
# Table S1: integer ranges (inclusive), uniform and log-uniform ranges, per VAE.
RANGES = {
    "composition": {"units_1": (48, 96), "units_2": (20, 64), "dropout": ("uniform", 0.0, 0.1)},
    "xrd": {"filters_1": (8, 16), "filters_2": (16, 32), "filters_3": (32, 64), "kernel": (2, 5), "pool": (2, 5), "units_1": (512, 1024),
            "units_2": (256, 512), "dropout": ("uniform", 0.0, 0.06)},
}  # fmt: skip
REGULARISER_RANGE = (1e-7, 3e-5)
LR_RANGE = (1e-4, 1e-2)
ATOMS_RANGE = (1e2, 1e5)  # composition only


def space(vae: str, epochs: tuple[int, int]) -> dict:
    from hyperopt import hp

    out = {"epochs": hp.quniform("epochs", epochs[0] - 0.5, epochs[1] + 0.5, 1), "lr": hp.loguniform("lr", *np.log(LR_RANGE))}
    if vae == "composition":
        out["atoms"] = hp.loguniform("atoms", *np.log(ATOMS_RANGE))
    for name, bounds in RANGES[vae].items():
        if bounds[0] == "uniform":
            out[name] = hp.uniform(name, bounds[1], bounds[2])
        else:
            out[name] = hp.quniform(name, bounds[0] - 0.5, bounds[1] + 0.5, 1)
    for name in ("l1", "l2"):
        out[name] = hp.loguniform(name, np.log(REGULARISER_RANGE[0]), np.log(REGULARISER_RANGE[1]))
    for name, options in CATEGORIES.items():
        out[name] = hp.choice(name, options)
    return out


def settings_of(vals: dict, base: VAESettings) -> VAESettings:
    """A trial's VAE settings: the proposal laid over the configured ones."""
    changes = {name: float(vals[name]) for name in ("dropout", "l1", "l2", "lr")}
    changes["epochs"] = int(vals["epochs"])
    if base.kind == "composition":
        changes["atoms"] = float(vals["atoms"])
    changes.update({name: CATEGORIES[name][int(vals[name])] for name in CATEGORIES})
    changes["units"] = (int(vals["units_1"]), int(vals["units_2"]))
    if base.kind == "xrd":
        changes.update(filters=(int(vals["filters_1"]), int(vals["filters_2"]), int(vals["filters_3"])), kernel=int(vals["kernel"]),
                       pool=int(vals["pool"]))  # fmt: skip
    return VAESettings(**{**base.__dict__, **changes})


def validation_score(vae: str, model, rows: np.ndarray) -> float:
    """Reconstruction error of rows the trial never trained on (lower is better)."""
    from compgen.latent.evaluate import composition_reconstruction, xrd_reconstruction
    from compgen.latent.train import reconstruct

    decoded = reconstruct(model, rows)
    if vae == "composition":
        return composition_reconstruction(rows, decoded, threshold=0.0)["mean_l1"]
    return 1.0 - xrd_reconstruction(rows, decoded)["cosine_mean"]


def tune(vae: str, base: VAESettings, rows: np.ndarray, n_evals: int, seed: int, epochs: tuple[int, int], validation: float, output,
         workdir: Path) -> pd.DataFrame:  # fmt: skip
    """Run (or resume) `n_evals` TPE trials on the training `rows`; write every trial and its validation score to `output`."""
    from compgen.latent.train import load_vae

    state_path = Path(str(output) + ".trials.json")
    settings_key = {"vae": vae, "base": base.__dict__ | {"units": list(base.units)}, "n_evals": n_evals, "seed": seed, "epochs": list(epochs),
                    "validation": validation}  # fmt: skip
    done: list[dict] = []
    if state_path.exists():
        saved = json.loads(state_path.read_text())
        if saved["settings"] == json.loads(json.dumps(settings_key)):
            done = saved["trials"]
            log.info("resuming the search after %d finished trials", len(done))
    held = material_split(np.arange(len(rows)), validation, seed)
    tpe = TreeParzen(0, seed, SearchSettings(initial_points=10, gp_points=1, gp_restarts=1, tpe_candidates=24, forest_trees=1), space=space(vae, epochs))
    for trial in done:  # replay: the same seeds give the same proposals
        tpe.ask_vals()
        tpe.tell_vals(trial["vals"], trial["score"])
    progress = Progress(f"{vae} VAE search", n_evals, unit="trial", done=len(done))
    for number in range(len(done), n_evals):
        vals = tpe.ask_vals()
        trial_settings = settings_of(vals, base)
        model = workdir / f"{vae}_trial{number}.pt"
        train_vae(trial_settings, rows[~held], rows[held], model, workdir / f"{vae}_trial{number}_losses.csv")
        score = validation_score(vae, load_vae(model), rows[held])
        score = score if np.isfinite(score) else 1e12  # a diverged trial is a bad trial, not a crash
        tpe.tell_vals(vals, score)
        done.append({"vals": {k: float(v) for k, v in vals.items()}, "score": score})
        with atomic_path(state_path) as tmp:
            tmp.write_text(json.dumps({"settings": settings_key, "trials": done}))
        model.unlink(missing_ok=True)
        progress.advance(f"validation score {score:.4g} (best {min(t['score'] for t in done):.4g})")
    table = pd.DataFrame([{**settings_of(t["vals"], base).__dict__, "validation_score": t["score"], "trial": i} for i, t in enumerate(done)])
    table = table.drop(columns=["seed", "log_every", "checkpoint_every", "kind"]).sort_values("validation_score", kind="stable")
    write_csv(table, output)
    state_path.unlink(missing_ok=True)
    return table
