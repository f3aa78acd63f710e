"""Hyper-parameter search of the two VAEs with hyperopt's TPE over SI Table S1's ranges (opt-in).

Each trial trains a VAE for a few epochs and scores its held-out loss. The
finished trials are kept in a JSON file beside the output; a killed job
replays them into TPE (same seeds, same proposals) and goes on from the next.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from compgen.io import atomic_path, write_csv
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


def space(vae: str) -> dict:
    from hyperopt import hp

    out = {}
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
    changes = {name: vals[name] for name in ("dropout", "l1", "l2")}
    changes.update({name: CATEGORIES[name][int(vals[name])] for name in CATEGORIES})
    changes["units"] = (int(vals["units_1"]), int(vals["units_2"]))
    if base.kind == "xrd":
        changes.update(filters=(int(vals["filters_1"]), int(vals["filters_2"]), int(vals["filters_3"])), kernel=int(vals["kernel"]),
                       pool=int(vals["pool"]))  # fmt: skip
    return VAESettings(**{**base.__dict__, **changes})


def tune(vae: str, base: VAESettings, train: np.ndarray, holdout: np.ndarray, n_evals: int, seed: int, output, workdir: Path) -> pd.DataFrame:
    """Run (or resume) `n_evals` TPE trials; write every trial and its held-out loss to `output`."""
    state_path = Path(str(output) + ".trials.json")
    settings_key = {"vae": vae, "base": base.__dict__ | {"units": list(base.units)}, "n_evals": n_evals, "seed": seed}
    done: list[dict] = []
    if state_path.exists():
        saved = json.loads(state_path.read_text())
        if saved["settings"] == json.loads(json.dumps(settings_key)):
            done = saved["trials"]
            log.info("resuming the search after %d finished trials", len(done))
    tpe = TreeParzen(0, seed, SearchSettings(initial_points=10, gp_points=1, gp_restarts=1, tpe_candidates=24), space=space(vae))
    for trial in done:  # replay: the same seeds give the same proposals
        tpe.ask_vals()
        tpe.tell_vals(trial["vals"], trial["loss"])
    progress = Progress(f"{vae} VAE search", n_evals, unit="trial", done=len(done))
    for number in range(len(done), n_evals):
        vals = tpe.ask_vals()
        trial_settings = settings_of(vals, base)
        model = workdir / f"{vae}_trial{number}.pt"
        losses = train_vae(trial_settings, train, holdout, model, workdir / f"{vae}_trial{number}_losses.csv")
        loss = float(losses["holdout_loss"].iloc[-1])
        loss = loss if np.isfinite(loss) else 1e12  # a diverged trial is a bad trial, not a crash
        tpe.tell_vals(vals, loss)
        done.append({"vals": {k: float(v) for k, v in vals.items()}, "loss": loss})
        with atomic_path(state_path) as tmp:
            tmp.write_text(json.dumps({"settings": settings_key, "trials": done}))
        model.unlink(missing_ok=True)
        progress.advance(f"held-out loss {loss:.4g} (best {min(t['loss'] for t in done):.4g})")
    table = pd.DataFrame([{**settings_of(t["vals"], base).__dict__, "holdout_loss": t["loss"], "trial": i} for i, t in enumerate(done)])
    table = table.drop(columns=["seed", "log_every", "checkpoint_every", "kind"]).sort_values("holdout_loss")
    write_csv(table, output)
    state_path.unlink(missing_ok=True)
    return table
