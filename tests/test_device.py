"""The device policy, GPU claims, determinism and RNG checkpoints across machines, on the CPU with CUDA faked."""

import logging
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from compgen import device as policy
from compgen import training

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("override", "declared", "available", "visible", "expected"),
    [
        ("auto", 1, True, 2, "cuda"),  # a training job on a GPU machine: any free GPU
        ("auto", 0, True, 2, "cpu"),  # evaluation, sampling, relaxation: never a GPU it was not given
        ("auto", 1, False, 0, "cpu"),  # a CPU machine, or a CPU build of torch
        ("cpu", 1, True, 2, "cpu"),
        ("cuda", 0, True, 1, "cuda"),  # told otherwise
        ("cuda:1", 1, True, 2, "cuda:1"),
    ],
)
def test_the_device_is_a_function_of_override_declaration_and_availability(override, declared, available, visible, expected):
    assert policy.resolve(override, declared, available, visible) == expected


def test_asking_for_a_gpu_that_is_not_there_is_an_error():
    with pytest.raises(RuntimeError, match="sees no GPU"):
        policy.resolve("cuda", 1, False, 0)
    with pytest.raises(RuntimeError, match=r"sees 2 GPU\(s\)"):
        policy.resolve("cuda:2", 1, True, 2)


def test_the_environment_overrides_the_config_and_bad_values_name_their_source(monkeypatch):
    monkeypatch.delenv(policy.DEVICE_ENV, raising=False)
    assert policy.requested(None) == "auto" and policy.requested("cpu") == "cpu"
    monkeypatch.setenv(policy.DEVICE_ENV, "cuda:0")
    assert policy.requested("cpu") == "cuda:0"
    monkeypatch.setenv(policy.DEVICE_ENV, "gpu")
    with pytest.raises(ValueError, match="COMPGEN_DEVICE is 'gpu'"):
        policy.requested("cpu")
    monkeypatch.delenv(policy.DEVICE_ENV)
    with pytest.raises(ValueError, match="config key device is 'cuda0'"):
        policy.requested("cuda0")


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """Two GPUs as torch would report them, claims in a private lock folder; restores torch's global modes after."""
    monkeypatch.delenv(policy.DEVICE_ENV, raising=False)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "unset-by-test")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")  # recorded, so teardown removes what the job sets
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Fake GPU")
    monkeypatch.setattr(policy, "gpu_uuid", lambda index: f"GPU-fake-{index}")
    monkeypatch.setattr(policy, "lock_dir", lambda: tmp_path / "locks")
    deterministic, benchmark = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    policy.reset_job_device()
    yield
    policy.reset_job_device()
    for handle in policy._held_locks:
        handle.close()
    policy._held_locks.clear()
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, False


def test_a_job_gets_a_gpu_only_when_its_rule_declares_one(fake_gpus, caplog):
    caplog.set_level(logging.INFO, logger="compgen.device")
    policy.declare_job(declared_gpu=0, config_device="auto")
    assert policy.pick_device() == torch.device("cpu")
    assert "device: cpu" in caplog.text and "rule declares gpu=0" in caplog.text
    assert not torch.are_deterministic_algorithms_enabled()

    policy.declare_job(declared_gpu=1, config_device="auto")
    assert policy.pick_device() == torch.device("cuda:0")
    assert "device: cuda:0 (Fake GPU" in caplog.text
    # On CUDA the job runs deterministic kernels, with the cuBLAS workspace they need set by the job itself.
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_jobs_on_one_machine_take_different_gpus(fake_gpus, caplog):
    """Local Snakemake hands out gpu tokens, not GPUs: each job claims a free one by its UUID's lock."""
    assert policy.set_job_device(declared_gpu=1) == torch.device("cuda:0")
    assert policy.set_job_device(declared_gpu=1) == torch.device("cuda:1")  # the first claim is still held
    assert sorted(p.name for p in (policy.lock_dir()).iterdir()) == ["GPU-fake-0.lock", "GPU-fake-1.lock"]
    assert policy.set_job_device(declared_gpu=1) == torch.device("cuda:0")  # all held: shares GPU 0 and says so
    assert "all 2 visible GPUs are held" in caplog.text
    policy._held_locks.pop(0).close()  # the first job ends
    assert policy.set_job_device(declared_gpu=1) == torch.device("cuda:0")


def test_the_workflow_job_declares_what_its_rule_declares(tmp_path, monkeypatch):
    from compgen.workflow import job

    monkeypatch.delenv(policy.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    training_job = SimpleNamespace(log=[str(tmp_path / "train.log")], resources=SimpleNamespace(gpu=1, mem_mb=100), config={"device": "auto"})
    with job(training_job):
        assert policy.pick_device() == torch.device("cpu")
    text = (tmp_path / "train.log").read_text()
    assert "rule declares gpu=1; device override: auto" in text and "device: cpu (torch" in text
    policy.reset_job_device()
    plotting_job = SimpleNamespace(log=[str(tmp_path / "plot.log")], resources=SimpleNamespace(mem_mb=100), config={})
    with job(plotting_job):
        pass
    assert "rule declares gpu=0" in (tmp_path / "plot.log").read_text()
    policy.reset_job_device()


def test_rng_checkpoints_restore_on_a_machine_with_fewer_gpus(monkeypatch, caplog):
    """Saved on cuda:1 of a two-GPU machine, resumed on the one GPU of another, on the CPU, and from the CPU onto a GPU."""
    calls, seeds = [], []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: torch.tensor([7, int(device.index)], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((state.tolist(), str(device))))
    monkeypatch.setattr(torch.cuda, "manual_seed", seeds.append)
    monkeypatch.setattr(training, "pick_device", lambda: torch.device("cuda:1"))
    saved = training._global_rng()
    assert saved["cuda"].tolist() == [7, 1]  # the job's own GPU only

    monkeypatch.setattr(training, "pick_device", lambda: torch.device("cuda:0"))
    training._restore_global_rng(saved, step=10)
    assert calls == [([7, 1], "cuda:0")]

    # Checkpoints written before the device policy hold every visible GPU's state; jobs then drew on GPU 0.
    old = {"cpu": torch.get_rng_state(), "cuda": [torch.tensor([1], dtype=torch.uint8), torch.tensor([2], dtype=torch.uint8)]}
    monkeypatch.setattr(training, "pick_device", lambda: torch.device("cuda:3"))
    training._restore_global_rng(old, step=10)  # no IndexError, and GPU 0's state, whichever GPU resumes
    assert calls[-1] == ([1], "cuda:3")

    monkeypatch.setattr(training, "pick_device", lambda: torch.device("cpu"))
    training._restore_global_rng(saved, step=10)
    assert len(calls) == 2 and seeds == []  # a GPU's state goes onto a GPU only

    begun_on_cpu = {"cpu": torch.get_rng_state()}
    monkeypatch.setattr(training, "pick_device", lambda: torch.device("cuda:0"))
    training._restore_global_rng(begun_on_cpu, step=10)
    assert seeds == [torch.initial_seed() + 10] and "written on the CPU" in caplog.text


def test_a_generator_resumed_on_another_kind_of_device_is_reseeded(caplog):
    gpu_state = {"device": "cuda", "state": torch.zeros(16, dtype=torch.uint8)}
    generator = torch.Generator().manual_seed(5)
    training._restore(generator, gpu_state, step=40, name="rng")
    assert generator.initial_seed() == 45 and "rng drew on cuda and this run draws on cpu" in caplog.text
    # Same kind: the exact state; an old checkpoint's bare state is a CPU generator's.
    source = torch.Generator().manual_seed(9)
    torch.rand(3, generator=source)
    for state in (training._state(source), source.get_state()):
        restored = torch.Generator()
        training._restore(restored, state, step=1, name="rng")
        expected = torch.rand(4, generator=torch.Generator().set_state(source.get_state()))
        assert torch.equal(torch.rand(4, generator=restored), expected)


def _slots(tmp_path: Path, nvidia_smi: str | None, visible: str | None) -> str:
    """GPU_SLOTS as `make -n run` passes it to Snakemake, with a fake nvidia-smi on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"
    if nvidia_smi is None:  # no driver: the command fails (a real nvidia-smi in /usr/bin must not answer)
        fake.write_text("#!/bin/sh\nexit 127\n")
    else:
        fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{nvidia_smi}\nEOF\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    out = subprocess.run(["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "snakemake --cores" in line)
    return line.split("gpu=")[1].split()[0]


def test_make_run_counts_real_gpus(tmp_path):
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    two = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-a)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-b)"
    mig = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-c)\n  MIG 3g.20gb     Device  0: (UUID: MIG-d)\n  MIG 3g.20gb     Device  1: (UUID: MIG-e)"
    assert _slots(tmp_path, two, None) == "2"
    assert _slots(tmp_path, mig, None) == "1"  # MIG lines are not GPUs of their own
    assert _slots(tmp_path, "No devices were found", None) == cores  # driver, no GPU: a CPU machine
    assert _slots(tmp_path, None, None) == cores  # no driver at all
    assert _slots(tmp_path, two, "1") == "1"  # CUDA_VISIBLE_DEVICES first
    assert _slots(tmp_path, two, "0,1,2") == "3"
    assert _slots(tmp_path, two, "") == cores  # no GPU visible
    assert _slots(tmp_path, two, "-1") == cores
    assert _slots(tmp_path, two, "0,-1,1") == "1"  # CUDA stops at the first invalid entry
    assert _slots(tmp_path, two, "GPU-a,GPU-b") == "2"  # UUIDs count too
    assert _slots(tmp_path, two, "NoDevFiles") == cores


def test_the_step_spy_counts_host_to_device_copies(step_spy, tmp_path):
    """The spy that the resume tests use on a GPU, proven on the CPU with the meta device as the 'GPU'."""
    loop = training.LoopSettings(steps=3, log_every=3, checkpoint_every=10, seed=0)

    def step(i):
        torch.randn(2).to("meta")  # a draw on the host, then moved: what a GPU step must not do
        return {"loss": torch.zeros(())}

    training.run(loop, step, {"rng": torch.Generator()}, {}, tmp_path / "out", lambda table: None)
    assert step_spy.steps == 3 and step_spy.host_copies == 2  # the first step is not watched
    assert step_spy.generator_devices == {"cpu"}


def test_a_cpu_build_of_torch_on_a_gpu_machine_is_named_in_the_log(monkeypatch, caplog):
    monkeypatch.delenv(policy.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(policy, "_driver_present", lambda: True)
    policy.reset_job_device()
    try:
        assert policy.set_job_device(declared_gpu=1) == torch.device("cpu")
    finally:
        policy.reset_job_device()
    assert "has an NVIDIA driver but torch" in caplog.text and "is a CPU build" in caplog.text
