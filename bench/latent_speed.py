"""Speed of the latent study: XRD patterns per second, VAE epochs, and seconds per TPE / GP / forest proposal.

    .venv/bin/python bench/latent_speed.py [--structures 1500] [--evaluations 50 100 200] [--threads 2]

Patterns of the first perovskites of the data mirror with 1 and `--threads`
worker processes; one epoch of each VAE at Table S1's size (the composition VAE
on 85,600 fraction vectors, the XRD VAE on the patterns just computed, scaled
to the 6,058 patterns of the study); then, over 7,572 points of an 88-number latent
(the size of the joint latent pool) projected as the race projects it, the seconds of
a TPE, GP and random-forest proposal once a run has seen 50, 100 and 200 materials
(the mean of three; the GP refits its kernel on the first, as it does every tenth
proposal in a run). Prints a table and writes results/bench/latent_speed.csv.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from compgen.config import defaults
from compgen.datasets import build_perovskites
from compgen.io import write_csv
from compgen.latent.search import Pool, SearchSettings, make_strategy, project
from compgen.latent.study import search_settings, vae_settings
from compgen.latent.train import train_vae
from compgen.latent.xrd import XRDSettings, patterns

ROOT = Path(__file__).resolve().parents[1]
STUDY_PATTERNS = 6058  # 80% of the 7,572 perovskites train the XRD VAE
STUDY_FORMULAS = 85606  # 90% of the distinct MP formulas train the composition VAE


def seconds_per_proposal(strategy: str, n: int, points: np.ndarray, values: np.ndarray, settings: SearchSettings, repeats: int = 3) -> float:
    """Mean seconds of proposals n..n+repeats-1 of one run, the run brought to n-1 evaluations by random materials first."""
    pool = Pool(points, values)
    agent = make_strategy(strategy, points.shape[1], 0, settings)
    rng = np.random.default_rng(0)
    for _ in range(n - 1):
        index = pool.random_unasked(rng)
        agent.tell(pool.points[index], pool.values[index])
    began = time.perf_counter()
    for _ in range(repeats):
        index, _ = agent.choose(pool, rng)
        agent.tell(pool.points[index], pool.values[index])
    return (time.perf_counter() - began) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=1500)
    parser.add_argument("--evaluations", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # progress lines of the search runs
    torch.set_num_threads(args.threads)
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data") / "perovskites"
    perovskites, _ = build_perovskites({f"perov_5_{s}.csv": mirror / f"perov_5_{s}.csv" for s in ("val", "test")})
    cfg = defaults("latent")
    chosen = perovskites.head(args.structures)
    rows = []
    for workers in sorted({1, args.threads}):
        began = time.perf_counter()
        table = patterns(chosen, XRDSettings(**cfg["xrd"]), workers)
        seconds = time.perf_counter() - began
        rows.append({"what": f"XRD patterns, {workers} worker(s)", "count": len(table), "seconds": seconds, "rate": len(table) / seconds})
    x_xrd = np.stack(table["pattern"].to_numpy()).astype(np.float32)
    rng = np.random.default_rng(0)
    x_composition = rng.random((STUDY_FORMULAS, 100)).astype(np.float32) * (rng.random((STUDY_FORMULAS, 100)) < 0.04)
    x_composition[:, 7] += 0.2
    x_composition /= x_composition.sum(axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        for vae, x, full in (("composition", x_composition, STUDY_FORMULAS), ("xrd", x_xrd, STUDY_PATTERNS)):
            cfg[f"{vae}_vae"].update(epochs=1, log_every=1, checkpoint_every=1)
            began = time.perf_counter()
            train_vae(vae_settings(vae, cfg), x, x[:10], Path(tmp) / f"{vae}.pt", Path(tmp) / f"{vae}.csv")
            seconds = time.perf_counter() - began
            rows.append({"what": f"{vae} VAE epoch ({args.threads} threads), scaled to the study's {full} rows", "count": len(x),
                         "seconds": seconds * full / len(x), "rate": len(x) / seconds})  # fmt: skip
    latents = rng.normal(size=(7572, 88))
    values = (latents[:, :5] ** 2).sum(axis=1)
    points = project(latents, cfg["search"]["projection"])
    settings: SearchSettings = search_settings(cfg)
    for strategy in ("tpe", "gp", "rf"):
        for n in args.evaluations:
            seconds = seconds_per_proposal(strategy, n, points, values, settings)
            rows.append({"what": f"{strategy} seconds per proposal at {n} evaluations", "count": 3, "seconds": seconds, "rate": 1 / seconds})
    result = pd.DataFrame(rows)
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    write_csv(result, ROOT / "results" / "bench" / "latent_speed.csv")


if __name__ == "__main__":
    main()
