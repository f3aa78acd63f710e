import copy
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path | None:
    """The data mirror: COMPGEN_DATA_MIRROR, else ../shared/data beside the checkout."""
    candidate = os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data"
    return Path(candidate).resolve() if Path(candidate).is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    found = mirror_dir()
    if found is None:
        pytest.skip("no data mirror: set COMPGEN_DATA_MIRROR or put shared/data beside the checkout")
    return found


@pytest.fixture(scope="session")
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def run_workflow(
    workdir: Path, targets: list[str], config: dict, mirror: Path | None, *extra: str, timeout: int | None = None, cores: int = 2, device: str = "cpu",
    python_options: tuple[str, ...] = (),
):
    """Run the workflow's Snakefile with `config` in `workdir`; return the completed process.

    `device`: COMPGEN_DEVICE for every job. The tests' numbers and logs are the CPU's, so a
    machine with a GPU runs them on the CPU too unless a test asks otherwise.

    `python_options`: options of the interpreter that runs Snakemake, such as ("-X", "importtime").

    `timeout`: seconds, after which the run gets SIGTERM and, 10 s later, SIGKILL (on
    SIGTERM alone Snakemake keeps waiting for the jobs it submitted).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "COMPGEN_DATA_MIRROR"}
    env["COMPGEN_DEVICE"] = device
    if mirror is not None:
        env["COMPGEN_DATA_MIRROR"] = str(mirror)
    command = [
        *(["timeout", "-k", "10", str(timeout)] if timeout else []),
        sys.executable, *python_options, "-m", "snakemake",
        *targets,  # first: options such as --configfile and --resources take every word after them
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(configfile),
        "--cores", str(cores),
        *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)


# Rules that only gather targets: Snakemake runs nothing for them.
TARGET_RULES = {"all", "raw", "datasets", "atmo", "elpasolite", "hydrides", "latent"}


def planned_jobs(output: str) -> Counter:
    """Rule -> job count of the "Job stats" table Snakemake prints before it runs."""
    table = output.split("Job stats:")[1].split("Reasons:")[0].split("\n\n")[0]
    counts = Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if rule != "total"})
    return counts - Counter(dict.fromkeys(TARGET_RULES, 10**6))


def atmo_train_settings(**overrides):
    """Training settings of one atmo job: the schema's defaults, then `overrides`."""
    from compgen.atmo.train import TrainSettings
    from compgen.config import defaults

    atmo = defaults("atmo")
    values = {**atmo["model"], "augmented": True, "seed": 0, "log_every": atmo["log_every"], "checkpoint_every": atmo["checkpoint_every"]}
    return TrainSettings(**{**values, **overrides})


def elpasolite_settings(kind: str, **overrides):
    """Settings of one elpasolite generator: the schema's defaults, then `overrides`."""
    from compgen.config import defaults
    from compgen.elpasolite.generators import GENERATORS

    values = {**defaults(f"elpasolite.{kind}"), "seed": 0, **({"target_class": 1} if kind == "dqn" else {})}
    return GENERATORS[kind].settings(**{**values, **overrides})


TINY_CONFIG = ROOT / ".test" / "config.yaml"


def tiny_config(default_config: dict) -> dict:
    """config.yaml with .test/config.yaml laid over it, merged as Snakemake's --configfile merges."""
    from snakemake.utils import update_config

    config = copy.deepcopy(default_config)
    update_config(config, yaml.safe_load(TINY_CONFIG.read_text()))
    return config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mirror, default_config):
    """A workdir where every study ran on the tiny settings through Snakemake (`all`), and its config.

    One local run serves each study's end-to-end test, the report test and the cluster
    test's comparison. Tests that change files in it put them back.
    """
    config = tiny_config(default_config)
    work = tmp_path_factory.mktemp("tiny") / "work"
    # Four cores' worth of jobs on two: a tiny job spends most of its seconds importing torch on one
    # core, so two of them overlap well. Each job still runs on the threads its rule declares.
    result = run_workflow(work, ["all"], config, mirror, "--resources", "gpu=2", cores=4)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, config


@pytest.fixture(params=["cpu", "cuda"])
def device(request, monkeypatch):
    """The device a test trains on, through the policy's override (COMPGEN_DEVICE).

    The CUDA case is skipped without a GPU, and fails then when CI_GPU=true
    (bench/gpu_smoke.sh sets it), so a GPU machine never skips it quietly.
    """
    import torch

    from compgen import device as policy

    if request.param == "cuda" and not torch.cuda.is_available():
        if os.environ.get("CI_GPU") == "true":
            pytest.fail(f"CI_GPU=true, but torch {torch.__version__} sees no GPU")
        pytest.skip("no GPU visible to torch")
    monkeypatch.setenv(policy.DEVICE_ENV, request.param)
    policy.reset_job_device()
    yield torch.device(request.param)
    policy.reset_job_device()


@pytest.fixture
def step_spy(monkeypatch):
    """Watches every run of the training loop: which devices its random generators live on, and how many
    host-to-device copies its steps make after the first (each one a wait for the GPU). On the CPU both are
    trivially cpu and 0; on a GPU (the `device` fixture's cuda case) they check that draws happen on the device.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from compgen import training

    copies = (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default)

    class HostCopies(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func in copies:
                source = args[1] if func is torch.ops.aten.copy_.default else args[0]
                if isinstance(source, torch.Tensor) and source.device.type == "cpu" and out.device.type != "cpu":
                    self.count += 1
            return out

    spy = SimpleNamespace(generator_devices=set(), host_copies=0, steps=0)
    original = training.run

    def watched(loop, step, stateful, *args, **kwargs):
        spy.generator_devices |= {obj.device.type for obj in stateful.values() if isinstance(obj, torch.Generator)}

        def counted(i):
            spy.steps += 1
            if spy.steps == 1:
                return step(i)
            with HostCopies() as mode:
                losses = step(i)
            spy.host_copies += mode.count
            return losses

        return original(loop, counted, stateful, *args, **kwargs)

    monkeypatch.setattr(training, "run", watched)
    return spy
