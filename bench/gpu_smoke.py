"""The first GPU machine's checklist, as one command that writes one summary (bench/gpu_smoke.sh runs it).

    .venv/bin/python bench/gpu_smoke.py [--cpu] [--out results/bench/gpu_smoke.md] [--paper-minutes 0]

Each check runs on its own and records pass, fail or skip with its numbers, so one failure
never hides the rest:

- the torch build, the GPUs torch sees and the slot count `make run` would pass;
- the resume, stack and weight-average tests with the device fixture on CUDA (CI_GPU=true, so
  a GPU machine cannot skip them);
- bf16 with one model against a stack of three;
- a resume across devices: GPU -> CPU -> GPU;
- a constrained hydride training and an XRD VAE, each trained twice: equal bit for bit;
- training steps per second of the default and paper-size atmo networks and WGAN updates per
  second, on the device and on one CPU thread, in the same run;
- one CHGNet relaxation on the device;
- peak host and device memory against the training rules' mem_mb;
- with --paper-minutes N and a data mirror: the paper-scale atmo study (Table 1 network, 10,000
  epochs, 3 folds, seed 0) through Snakemake, and its pooled Δ table.

--cpu runs the same checks with the CPU as the "device" (what CI can check of this script).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from atmo_stack import networks, sync  # bench/ is the script's own folder, first on sys.path

ROOT = Path(__file__).resolve().parents[1]
TRAINING_RULES = (
    "atmo_train", "atmo_sweep_train", "atmo_tune", "elpasolite_train", "hydrides_step1", "hydrides_step2", "hydrides_noise_gan", "latent_vae", "latent_tune_vae"
)  # fmt: skip


@dataclasses.dataclass
class Check:
    name: str
    status: str = "skip"
    seconds: float = 0.0
    lines: list[str] = dataclasses.field(default_factory=list)


class Smoke:
    def __init__(self, device: torch.device):
        self.device = device
        self.checks: list[Check] = []

    def run(self, name: str, fn) -> None:
        check = Check(name)
        began = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            outcome = fn(check)
            check.status = outcome or "pass"
        except Exception as error:  # every check reports; none stops the rest
            check.status = "fail"
            check.lines.append(f"{type(error).__name__}: {' '.join(str(error).split())}")
            traceback.print_exc()
        check.seconds = time.perf_counter() - began
        for line in check.lines:
            print(f"   {line}", flush=True)
        print(f"   -> {check.status} in {check.seconds:.1f} s", flush=True)
        self.checks.append(check)

    def summary(self) -> str:
        out = [f"# GPU smoke test on {self.device}", "", "| check | status | seconds |", "|---|---|---|"]
        out += [f"| {c.name} | {c.status} | {c.seconds:.1f} |" for c in self.checks]
        for c in self.checks:
            out += ["", f"## {c.name}: {c.status}", "", *[f"- {line}" for line in c.lines]]
        return "\n".join(out) + "\n"


def use_device(name: str) -> None:
    """Point the device policy at `name` for the library calls that follow (as a job's override would)."""
    from compgen import device as policy

    os.environ[policy.DEVICE_ENV] = name
    policy.reset_job_device()


# --- the checks ------------------------------------------------------------------------------


def build_and_slots(check: Check, device: torch.device) -> None:
    check.lines.append(f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'no'}, cuDNN {torch.backends.cudnn.version()}")
    check.lines.append(f"torch sees {torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s)")
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(i)
        check.lines.append(f"GPU {i}: {props.name}, {props.total_memory / 2**30:.0f} GiB, capability {props.major}.{props.minor}")
    dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True).stdout
    slots = re.search(r"gpu=(\d+)", dry)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    check.lines.append(f"make run passes --resources gpu={slots.group(1) if slots else '?'} (CUDA_VISIBLE_DEVICES={visible})")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("asked for CUDA, but torch sees no GPU")


def device_tests(check: Check, device: torch.device) -> str:
    """The tests that take the `device` fixture, on this device; CI_GPU=true makes a missing GPU fail, not skip."""
    env = {**os.environ, "CI_GPU": "true" if device.type == "cuda" else "false"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not e2e", "-k", device.type,
               "tests/test_atmo.py", "tests/test_elpasolite.py", "tests/test_hydrides.py", "tests/test_latent.py", "tests/test_device.py"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    tail = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    check.lines += tail
    check.lines += [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))][:10]
    return "pass" if result.returncode == 0 else "fail"


def toy_pools(n_elements: int = 66, n_a: int = 314, n_b: int = 427, seed: int = 0):
    """Pools of the default pair's size: sparse compositions over 66 elements."""
    rng = np.random.default_rng(seed)

    def pool(n):
        x = rng.random((n, n_elements)) * (rng.random((n, n_elements)) < 0.1)
        x[:, :3] += 0.2  # C, H, N in every composition, as in the amine pools
        return x / x.sum(1, keepdims=True)

    return pool(n_a), pool(n_b)


def atmo_settings(paper: bool = False, **overrides):
    """The default or paper-size network of bench/atmo_stack.py, with `overrides`."""
    return dataclasses.replace(networks(66)["paper" if paper else "default"], **overrides)


def bf16_stack(check: Check, device: torch.device) -> None:
    from compgen.atmo.train import train_stack

    use_device(str(device))
    a, b = toy_pools()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 3):
            settings = [atmo_settings(bf16=True, epochs=20, seed=k) for k in range(n)]
            began = time.perf_counter()
            losses = train_stack(settings, a, [b] * n, [f"{tmp}/m{k}.pt" for k in range(n)])
            sync(device)
            rate = n * 20 / (time.perf_counter() - began)
            finite = bool(np.isfinite(losses.drop(columns=[c for c in ("epoch", "model") if c in losses]).to_numpy()).all())
            check.lines.append(f"bf16, {n} model(s): {rate:.1f} model-epochs/s (with setup), losses finite: {finite}")
            if not finite:
                raise RuntimeError(f"bf16 with {n} model(s) gave non-finite losses")


def resume_across_devices(check: Check, device: torch.device) -> None:
    """Killed on the device, resumed on the CPU, killed again, finished on the device: the run completes."""
    import logging

    from compgen.atmo.train import train

    a, b = toy_pools()
    s = atmo_settings(epochs=30, checkpoint_every=10, width=16)
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("compgen").addHandler(handler)
    logging.getLogger("compgen").setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "model.pt"
            for name, stop in ((str(device), 15), ("cpu", 25), (str(device), None)):
                use_device(name)
                train(s, a, b, out, stop_after=stop)
                left = out.with_name(out.name + ".ckpt").exists()
                check.lines.append(f"on {name}: {'stopped after ' + str(stop) if stop else 'finished'}; checkpoint left: {left}")
            if not out.exists():
                raise RuntimeError("the resumed run wrote no model")
    finally:
        logging.getLogger("compgen").removeHandler(handler)
    check.lines += [m for m in messages if "reseeded" in m or "resuming" in m]


def hydrides_data():
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    if not (mirror / "hydrides" / "PdH_dataset.mat").exists():
        return None
    from compgen.datasets import build_hydrides

    rows, _ = build_hydrides({f"{m}H_dataset.mat": mirror / "hydrides" / f"{m}H_dataset.mat" for m in ("Pd", "Ni")})
    return rows.sort_values("identifier").reset_index(drop=True)


def bit_repeats(check: Check, device: torch.device) -> str:
    """Two runs, one setting: equal bits (deterministic kernels on CUDA, set by the device policy).

    Any operation without a deterministic kernel warns (warn_only); those warnings are listed.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = _bit_repeats(check, device)
    refused = sorted({str(w.message).split(".")[0] for w in caught if "deterministic" in str(w.message)})
    check.lines.append(f"operations without a deterministic kernel: {', '.join(refused) if refused else 'none warned'}")
    return outcome


def _bit_repeats(check: Check, device: torch.device) -> str:
    from compgen.latent.train import VAESettings, train_vae

    use_device(str(device))
    outcome = "pass"
    rng = np.random.default_rng(0)
    x = rng.random((600, 161)).astype(np.float32)
    s = VAESettings(kind="xrd", units=(64, 32), initialiser="lecun_normal", filters=(8, 8, 8), kernel=4, pool=2, latent=8, dropout=0.1,
                    l1=1e-6, l2=1e-6, activation="selu", optimiser="adam", lr=1e-3, epochs=3, batch=64, seed=3, log_every=1, checkpoint_every=100)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(2):
            train_vae(s, x[:500], x[500:], f"{tmp}/xrd{k}.pt", f"{tmp}/xrd{k}.csv")
        same = _same_bits(*(torch.load(f"{tmp}/xrd{k}.pt", weights_only=True)["model"] for k in range(2)))
        check.lines.append(f"XRD VAE, 3 epochs twice: {'equal bits' if same else 'DIFFERENT'}")
        outcome = outcome if same else "fail"
        data = hydrides_data()
        if data is None:
            check.lines.append("constrained hydride training: skipped (no data mirror)")
            return outcome
        from compgen.config import defaults
        from compgen.hydrides.study import domains, gan_settings
        from compgen.hydrides.train import train_cross_domain

        cfg = defaults("hydrides")
        cfg["training"] = cfg["training"] | {"epochs": 20}
        a, b, _ = domains(data, cfg)
        settings = gan_settings(cfg, 2, "intended", seed=0)
        for k in range(2):
            train_cross_domain(settings, a, b, f"{tmp}/hyd{k}.pt")
        saved = [torch.load(f"{tmp}/hyd{k}.pt", weights_only=True) for k in range(2)]
        same = all(_same_bits(saved[0][net], saved[1][net]) for net in ("g_ab", "g_ba"))
        check.lines.append(f"hydrides step 2, intended constraint, 20 epochs twice: {'equal bits' if same else 'DIFFERENT'}")
        return outcome if same else "fail"


def _same_bits(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def speeds(check: Check, device: torch.device) -> None:
    """Steps per second on the device and on one CPU thread, measured back to back in this run."""
    from compgen.atmo.train import StackTrainer

    a, b = toy_pools()
    places = [device] if device.type == "cpu" else [device, torch.device("cpu")]
    threads = torch.get_num_threads()
    for place in places:
        torch.set_num_threads(1 if place.type == "cpu" else threads)
        for network, paper in (("default", False), ("paper", True)):
            trainer = StackTrainer([atmo_settings(paper=paper)], a, [b], place)
            trainer.step(0)
            steps = 20 if place.type == "cpu" and paper else 100
            sync(place)
            began = time.perf_counter()
            for i in range(1, steps + 1):
                trainer.step(i)
            sync(place)
            where = f"{place}{' (1 thread)' if place.type == 'cpu' else ''}"
            check.lines.append(f"atmo {network} network on {where}: {steps / (time.perf_counter() - began):.1f} epochs/s")
        check.lines.append(f"WGAN on {where}: {wgan_rate(place):.1f} updates/s")
    torch.set_num_threads(threads)


def wgan_rate(place: torch.device) -> float:
    """Updates per second of the default WGAN, from two runs of different length (setup cancels)."""
    from compgen.config import defaults
    from compgen.elpasolite.generators import GENERATORS
    from compgen.elpasolite.space import SPACE_SIZE, enumerate_space

    use_device(str(place))
    rng = np.random.default_rng(0)
    indices = enumerate_space()[rng.choice(SPACE_SIZE, 2000, replace=False)]
    classes = rng.integers(1, 11, size=2000)
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for updates in (20, 120):
            s = GENERATORS["wgan"].settings(**{**defaults("elpasolite.wgan"), "seed": 0, "updates": updates, "log_every": 10**6, "checkpoint_every": 10**6})
            began = time.perf_counter()
            GENERATORS["wgan"].train(s, indices, classes, f"{tmp}/wgan{updates}.pt")
            sync(place)
            seconds.append(time.perf_counter() - began)
    return 100 / max(seconds[1] - seconds[0], 1e-9)


def chgnet_relaxation(check: Check, device: torch.device) -> None:
    from pymatgen.core import Lattice, Structure

    from compgen.config import defaults
    from compgen.hydrides.relax import Relaxer

    use_device(str(device))
    relax = defaults("hydrides.relax")
    relaxer = Relaxer(relax["model"], relax["fmax"], 50, 120)
    check.lines.append(f"CHGNet {relax['model']} on {relaxer.model.parameters().__next__().device}")
    structure = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.1), ["Pd", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    began = time.perf_counter()
    row = relaxer.relax(structure)
    check.lines.append(f"PdH rock salt: {row['energy_per_atom']:.4f} eV/atom after {row['n_steps']} steps, {time.perf_counter() - began:.1f} s")


def memory(check: Check, device: torch.device) -> str:
    """This process ran every check, so its peak is an upper bound on any one training job's."""
    host_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    limits = rule_memory()
    check.lines.append(f"peak host memory of this process (every check above): {host_mb:.0f} MB")
    if device.type == "cuda":
        check.lines.append(f"peak GPU memory allocated by torch: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB")
    check.lines.append("mem_mb of the training rules: " + ", ".join(f"{rule} {mb}" for rule, mb in limits.items()))
    over = [rule for rule, mb in limits.items() if host_mb > mb]
    if over:
        check.lines.append(f"the peak is above the mem_mb of {', '.join(over)}: measure those jobs alone before raising it")
    return "pass" if host_mb <= max(limits.values()) else "fail"


def rule_memory() -> dict[str, int]:
    """mem_mb declared by each training rule, read from rules/*.smk."""
    found = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", path.read_text()):
            name = re.match(r"rule (\w+):", block)
            mem = re.search(r"mem_mb=(\d+)", block)
            if name and mem and name.group(1) in TRAINING_RULES:
                found[name.group(1)] = int(mem.group(1))
    return found


def paper_scale(check: Check, device: torch.device, minutes: float) -> str:
    """Table 1's network, 10,000 epochs, 3 folds, seed 0: train and evaluate through Snakemake, then the pooled Δ."""
    import pandas as pd
    import yaml

    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    if minutes <= 0 or not (mirror / "atmo" / "atmo.csv").exists():
        check.lines.append("not run: needs --paper-minutes > 0 and a data mirror with atmo/atmo.csv")
        return "skip"
    work = ROOT / "results" / "bench" / "paper_scale"
    work.mkdir(parents=True, exist_ok=True)
    overlay = work / "paper_scale.yaml"
    overlay.write_text(yaml.safe_dump({"atmo": {"paper_scale": True, "seeds": [0], "n_folds": 3, "pack": True}}))
    target = "results/atmo/CNC__NCCN/delta_summary.csv"
    command = ["timeout", str(int(minutes * 60)), sys.executable, "-m", "snakemake", target, "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(work), "--configfile", str(ROOT / "config.yaml"), str(overlay), "--cores", str(os.cpu_count()),
               "--resources", "gpu=2"]  # fmt: skip  (both networks' stacks share the GPU: small kernels leave it idle)
    env = {**os.environ, "COMPGEN_DATA_MIRROR": str(mirror), "COMPGEN_DEVICE": "auto"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        check.lines.append(f"snakemake ended with {result.returncode} (124: the --paper-minutes limit): {result.stderr.strip().splitlines()[-1:]}")
        return "fail"
    summary = pd.read_csv(work / target)
    pooled = summary[summary["fold"].astype(str) == "all"]
    for _, row in pooled.iterrows():
        check.lines.append(f"pooled {row['method']}: mean Δ {row['mean']:.4f} (n {row['n']}); paper: Augmented CycleGAN 0.0147")
    return "pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run every check with the CPU as the device")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "gpu_smoke.md"))
    parser.add_argument("--paper-minutes", type=float, default=0.0, help="time for the paper-scale atmo study; 0 skips it")
    args = parser.parse_args()
    device = torch.device("cpu" if args.cpu else "cuda")
    smoke = Smoke(device)
    smoke.run("torch build and GPU slots", lambda c: build_and_slots(c, device))
    if device.type == "cuda" and smoke.checks[-1].status == "fail":
        print("no GPU: use --cpu", file=sys.stderr)
    else:
        smoke.run("device-fixture tests (resume, stack, weight average)", lambda c: device_tests(c, device))
        smoke.run("bf16: one model against a stack", lambda c: bf16_stack(c, device))
        smoke.run(f"resume across devices ({device} -> cpu -> {device})", lambda c: resume_across_devices(c, device))
        smoke.run("bit-for-bit repeats", lambda c: bit_repeats(c, device))
        smoke.run("steps per second", lambda c: speeds(c, device))
        smoke.run("CHGNet relaxation", lambda c: chgnet_relaxation(c, device))
        smoke.run("peak memory", lambda c: memory(c, device))
        smoke.run("paper-scale atmo study", lambda c: paper_scale(c, device, args.paper_minutes))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(smoke.summary())
    print(f"summary: {args.out}")
    sys.exit(1 if any(c.status == "fail" for c in smoke.checks) else 0)


if __name__ == "__main__":
    main()
