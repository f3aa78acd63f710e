"""Time one full-batch training step of the atmo Augmented CycleGAN and count its FLOPs.

    .venv/bin/python bench/atmo_step.py [--threads 2] [--steps 10] [--device cpu|cuda]

Builds the default pair's pools from the mirror (COMPGEN_DATA_MIRROR or
../shared/data), then times the paper-size network (20 blocks, width
2 x 66, all 314 C_A per step) and the laptop default, in fp32 and with bf16
autocast. Prints a table and writes results/bench/atmo_step.csv.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from compgen.atmo.data import build_pools
from compgen.atmo.models import CompositionGAN
from compgen.atmo.train import TrainSettings, adam, train_step
from compgen.config import defaults, paper_settings
from compgen.datasets import build_atmo

ROOT = Path(__file__).resolve().parents[1]


def matmul_peak_gflops(device: torch.device, dtype=torch.float32, size: int = 2048, repeats: int = 10) -> float:
    """Sustained GFLOP/s of a large square matmul: the practical peak to compare against."""
    x = torch.randn(size, size, device=device, dtype=dtype)
    y = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        x @ y
    sync(device)
    began = time.perf_counter()
    for _ in range(repeats):
        x @ y
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - began) / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_step(settings: TrainSettings, a: torch.Tensor, b: torch.Tensor, steps: int) -> dict:
    device = a.device
    torch.manual_seed(0)
    model = CompositionGAN(a.shape[1], settings.width, settings.blocks, True, input_skip=settings.input_skip).to(device)
    opt_g = adam(model.generator_parameters(), settings.lr)
    opt_d = adam(model.discriminator_parameters(), settings.lr / settings.lr_divider)
    n = a.shape[0]
    batch = b[torch.randint(len(b), (n,))]
    z_a, z_b = torch.randn(2, n, 1, device=device).unbind(0)

    def losses_of(fn, *args):
        return fn(model, *args)

    with FlopCounterMode(display=False) as counter:
        train_step(losses_of, opt_g, opt_d, a, batch, z_a, z_b, settings)
    for _ in range(3):
        train_step(losses_of, opt_g, opt_d, a, batch, z_a, z_b, settings)
    times = []
    for _ in range(steps):
        sync(device)
        began = time.perf_counter()
        train_step(losses_of, opt_g, opt_d, a, batch, z_a, z_b, settings)
        sync(device)
        times.append(time.perf_counter() - began)
    seconds = statistics.median(times)
    flops = counter.get_total_flops()
    return {"seconds_per_step": seconds, "gflop_per_step": flops / 1e9, "gflops": flops / seconds / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "atmo_step.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    atmo, _ = build_atmo({"atmo.csv": mirror / "atmo" / "atmo.csv"})
    pools = build_pools(atmo, "CNC", "NCCN", n_folds=3, seed=0)
    fold = pools.fold(0)
    a = torch.as_tensor(pools.vectors[fold["train_a"]], dtype=torch.float32, device=device)
    b = torch.as_tensor(pools.vectors[fold["train_b"]], dtype=torch.float32, device=device)
    n_elements = a.shape[1]

    peak = matmul_peak_gflops(device)
    atmo = defaults("atmo")
    job = {"augmented": True, "seed": 0, "log_every": atmo["log_every"], "checkpoint_every": atmo["checkpoint_every"]}
    laptop = {**atmo["model"], **job}
    paper = {**laptop, **paper_settings("atmo")["model"], "width": 2 * n_elements}
    configs = {
        "paper fp32": TrainSettings(**paper),
        "paper bf16": TrainSettings(**{**paper, "bf16": True}),
        "default fp32": TrainSettings(**laptop),
        "default bf16": TrainSettings(**{**laptop, "bf16": True}),
    }
    rows = []
    for name, settings in configs.items():
        result = time_step(settings, a, b, args.steps)
        rows.append({"model": name, "device": str(device), "threads": args.threads, **result, "share_of_fp32_matmul_peak": result["gflops"] / peak})
    table = pd.DataFrame(rows)
    table["fp32_matmul_peak_gflops"] = peak
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"{len(a)} C_A per step, {n_elements} elements, device {device}, {args.threads} threads; fp32 matmul peak {peak:.0f} GFLOP/s")
    print(table.drop(columns=["fp32_matmul_peak_gflops", "device", "threads"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
