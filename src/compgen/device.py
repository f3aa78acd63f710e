"""Which device a job computes on, and the settings that go with it.

The policy (docs/gpu.md): the device is a function of an explicit override,
the `gpu` resource the job's rule declares, and what torch can see.

- The override is `COMPGEN_DEVICE` in the environment, else the config's
  `device`: `auto`, `cpu`, `cuda` or `cuda:N`.
- `auto` gives a job that declares `gpu` a GPU when torch sees one, and every
  other job the CPU, so evaluation, sampling and relaxation jobs never open a
  CUDA context on a GPU that the scheduler did not give them.
- `cuda` on a machine where torch sees no GPU is an error, not a quiet CPU run.

On a machine with several GPUs, local Snakemake counts `gpu` tokens but assigns
no GPU; a job that gets `cuda` without an index takes the first GPU no other
compgen job holds, by an exclusive lock named after the GPU's UUID (so two
SLURM jobs that each see their own GPU as index 0 never contend).

On CUDA a job also switches torch to deterministic algorithms, with the cuBLAS
workspace setting they need, so a resumed or repeated job gives the same bits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DEVICE_ENV = "COMPGEN_DEVICE"
CHOICES = re.compile(r"auto|cpu|cuda(:\d+)?")
# cuBLAS needs a fixed workspace for reproducible matrix products (CUDA docs, "Results reproducibility").
CUBLAS_WORKSPACE = ":4096:8"

_declared: dict | None = None  # what the running job's rule declared (`declare_job`)
_job_device = None  # the torch.device chosen for it, on first use
_held_locks: list = []  # open lock files: a GPU stays claimed while the job's process lives


def declare_job(declared_gpu: int = 0, config_device: str | None = None) -> None:
    """Record what the job's rule declares; the device is chosen when torch first asks (`pick_device`).

    Choosing late keeps torch out of jobs that never compute with it.
    """
    global _declared, _job_device
    requested(config_device)  # a bad override fails at the job's start
    _declared = {"declared_gpu": int(declared_gpu or 0), "config_device": config_device}
    _job_device = None
    log.info("rule declares gpu=%d; device override: %s", _declared["declared_gpu"], requested(config_device))


def requested(config_device: str | None = None) -> str:
    """The override in force: COMPGEN_DEVICE, else the config's `device`, else auto."""
    value = os.environ.get(DEVICE_ENV) or config_device or "auto"
    if not CHOICES.fullmatch(value):
        source = DEVICE_ENV if os.environ.get(DEVICE_ENV) else "config key device"
        raise ValueError(f"{source} is {value!r}: expected auto, cpu, cuda or cuda:N")
    return value


def resolve(override: str, declared_gpu: int, cuda_available: bool, n_visible: int) -> str:
    """The device of a job: 'cpu', 'cuda' (any free GPU) or 'cuda:N'. Pure: asks torch nothing (only an error names its build)."""
    if override == "cpu":
        return "cpu"
    if override == "auto":
        return "cuda" if declared_gpu > 0 and cuda_available and n_visible > 0 else "cpu"
    if not cuda_available or n_visible == 0:
        import torch

        raise RuntimeError(f"device {override!r} asked for, but torch {torch.__version__} sees no GPU (CUDA build: {torch.version.cuda or 'no'})")
    index = override.partition(":")[2]
    if index and int(index) >= n_visible:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
        raise RuntimeError(f"device {override!r} asked for, but torch sees {n_visible} GPU(s) (CUDA_VISIBLE_DEVICES={visible})")
    return override


def lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"compgen-gpu-locks-{os.getuid()}"


def gpu_uuid(index: int) -> str:
    import torch

    return str(torch.cuda.get_device_properties(index).uuid)


def claim_gpu(n_visible: int) -> int:
    """The index of the first visible GPU that no other compgen job holds; it stays held until this process ends."""
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_visible):
        handle = open(folder / f"{gpu_uuid(index)}.lock", "w")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held_locks.append(handle)
        return index
    log.warning("all %d visible GPUs are held by other compgen jobs; sharing GPU 0", n_visible)
    return 0


def make_deterministic() -> None:
    """Deterministic CUDA kernels; an operation without one warns in the job's log (docs/gpu.md names them)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def describe(device) -> str:
    import torch

    build = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'no'}"
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)}; {build})"
    return f"cpu ({build}; {torch.get_num_threads()} threads)"


def set_job_device(declared_gpu: int = 0, config_device: str | None = None):
    """Choose this job's device by the policy above, prepare it and log it; `pick_device` returns it from then on."""
    import torch

    global _job_device
    override = requested(config_device)
    available = torch.cuda.is_available()
    n_visible = torch.cuda.device_count() if available else 0
    chosen = resolve(override, int(declared_gpu or 0), available, n_visible)
    if chosen == "cuda":
        chosen = f"cuda:{claim_gpu(n_visible)}"
    device = torch.device(chosen)
    if device.type == "cuda":
        make_deterministic()  # before the first cuBLAS handle, which reads CUBLAS_WORKSPACE_CONFIG
        torch.cuda.set_device(device)
    _job_device = device
    log.info("device: %s (asked: %s; rule declares gpu=%s)", describe(device), override, declared_gpu or 0)
    if device.type == "cpu" and declared_gpu and not available and _driver_present():
        log.warning("this machine has an NVIDIA driver but torch %s is a CPU build: the GPU goes unused (docs/gpu.md)", torch.__version__)
    return device


def _driver_present() -> bool:
    return Path("/dev/nvidiactl").exists()


def pick_device():
    """The job's device (chosen on first call by the policy above); outside a job, the override alone: CPU unless told."""
    import torch

    if _job_device is not None:
        return _job_device
    if _declared is not None:
        return set_job_device(**_declared)
    override = requested()
    if override == "auto":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    chosen = resolve(override, 1, available, torch.cuda.device_count() if available else 0)
    if chosen.startswith("cuda"):
        make_deterministic()
    return torch.device("cuda:0" if chosen == "cuda" else chosen)


def reset_job_device() -> None:
    """Forget the job's declaration and device (tests run several jobs in one process)."""
    global _declared, _job_device
    _declared, _job_device = None, None
