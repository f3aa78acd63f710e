"""The one resumable training loop of every study.

A study hands in a `step(i)` that updates its networks and returns its losses
(0-d tensors, left on the device; or one value per model, 1-d, when the step
trains a stack of models at once), the objects the steps change, and its
settings; the loop owns the rest: the device, seeding, a progress line with
rate and ETA, and a checkpoint beside the job's output.

The checkpoint holds the settings it was written with, the step reached, the
loss history, the global torch RNG and the state of every stateful object
(modules, optimisers, torch.Generators), so a killed job resumes to the same
weights, bit for bit, as an uninterrupted run. A checkpoint written with other
settings is ignored rather than trusted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import torch

from compgen.device import pick_device
from compgen.io import atomic_path

log = logging.getLogger(__name__)


def random_stream(seed: int, device) -> torch.Generator:
    """A seeded generator on `device`: draws land where they are used, with no host-to-GPU copy per step.

    On the CPU the numbers are those of `torch.Generator().manual_seed(seed)`; a GPU's differ.
    """
    return torch.Generator(device=device).manual_seed(seed)


def use_threads(threads: int) -> None:
    """Pin torch's CPU threads to what the rule declares, so parallel jobs do not oversubscribe the machine."""
    torch.set_num_threads(max(1, int(threads)))


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    steps: int
    log_every: int
    checkpoint_every: int
    seed: int  # seeds the global torch RNG that the steps draw from (dropout, reparameterisation)
    label: str = "training"  # names the run in its progress lines
    unit: str = "step"  # 'epoch', 'update'


def checkpoint_path(output: str | Path) -> Path:
    """Where a job writing `output` keeps its resumable state: beside it, never as it."""
    output = Path(output)
    return output.with_name(output.name + ".ckpt")


def _global_rng() -> dict:
    """The CPU's RNG state and, on CUDA, that of the job's own GPU: the one its draws come from."""
    state = {"cpu": torch.get_rng_state()}
    device = pick_device()
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_global_rng(state: dict, step: int) -> None:
    """Restore what `_global_rng` saved; a GPU state onto this job's GPU, whichever and however many this machine has."""
    torch.set_rng_state(state["cpu"])
    device, saved = pick_device(), state.get("cuda")
    if device.type != "cuda":
        return
    if saved is None:  # begun on the CPU: dropout and noise on the GPU start from a seed of their own step
        log.warning("checkpoint was written on the CPU and this run is on %s: CUDA draws reseeded, not bit-identical to an uninterrupted run", device)
        torch.cuda.manual_seed(torch.initial_seed() + step)
        return
    if isinstance(saved, list | tuple):  # before the device policy: every visible GPU's state; jobs drew on GPU 0
        saved = saved[0]
    torch.cuda.set_rng_state(saved, device)


def _state(obj):
    if isinstance(obj, torch.Generator):
        return {"device": obj.device.type, "state": obj.get_state()}
    return obj.state_dict()


def _restore(obj, state, step: int, name: str) -> None:
    if not isinstance(obj, torch.Generator):
        obj.load_state_dict(state)
        return
    saved_on = state["device"] if isinstance(state, dict) else "cpu"  # older checkpoints: CPU generators only
    if saved_on != obj.device.type:
        # A CUDA generator's state means nothing to a CPU one: the run goes on from a seed of its own step.
        log.warning("%s drew on %s and this run draws on %s: reseeded, so the run is not bit-identical to an uninterrupted one",
                    name, saved_on, obj.device.type)  # fmt: skip
        obj.manual_seed(obj.initial_seed() + step)
        return
    obj.set_state(state["state"] if isinstance(state, dict) else state)


def save_checkpoint(path: Path, settings: dict, step: int, stateful: dict, history: torch.Tensor, names: list[str]) -> None:
    state = {
        "settings": settings,
        "step": step,
        "history": history[:step].cpu(),
        "names": names,
        "rng": _global_rng(),
        "state": {k: _state(v) for k, v in stateful.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, settings: dict, stateful: dict) -> dict | None:
    """Restore `path` into the stateful objects and the global RNG when it was written with `settings`."""
    if not path.exists():
        return None
    # Loaded on the CPU: generator states must stay there; modules and optimisers copy to their device.
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["settings"] != settings:
        log.warning("ignoring checkpoint %s: it was written with other settings", path)
        return None
    for name, obj in stateful.items():
        _restore(obj, saved["state"][name], saved["step"], name)
    _restore_global_rng(saved["rng"], saved["step"])
    log.info("resuming from checkpoint %s at %d", path, saved["step"])
    return saved


def progress_line(loop: LoopSettings, done: int, start: int, elapsed: float, losses: dict[str, float]) -> str:
    """'cvae update 500/10000 (5%)  loss 0.1234  ...  83.2 updates/s, ETA 0:01:54'."""
    rate = (done - start) / elapsed if elapsed > 0 else float("nan")
    eta = timedelta(seconds=round((loop.steps - done) / rate)) if rate > 0 else "?"
    shown = "  ".join(f"{name} {value:.4f}" for name, value in losses.items())
    return f"{loop.label} {loop.unit} {done}/{loop.steps} ({100 * done / loop.steps:.0f}%)  {shown}  {rate:.1f} {loop.unit}s/s, ETA {eta}"


def history_table(history: torch.Tensor, names: list[str], unit: str) -> pd.DataFrame:
    """One row of losses per step (steps x names x models); a stack's table has a `model` column, rows by step then model."""
    steps, _, n_models = history.shape
    table = pd.DataFrame(history.permute(0, 2, 1).reshape(steps * n_models, len(names)).numpy(), columns=names)
    if n_models > 1:
        table.insert(0, "model", list(range(n_models)) * steps)
    table.insert(0, unit, [i // n_models + 1 for i in range(steps * n_models)])
    return table


def run(
    loop: LoopSettings,
    step: Callable[[int], dict[str, torch.Tensor]],
    stateful: dict,
    settings: dict,
    output: str | Path,
    finish: Callable[[pd.DataFrame], None],
    stop_after: int | None = None,
) -> pd.DataFrame | None:
    """Run steps `start..loop.steps` (start from `<output>.ckpt` when it matches `settings`).

    At the end `finish(history)` writes the job's outputs (history: one row of
    losses per step, a `step` column first, see `history_table`) and the checkpoint is removed.
    `stop_after` ends the run after that many steps without finishing, as a
    killed job would (used to test resuming); it returns None then.
    """
    ckpt = checkpoint_path(output)
    torch.manual_seed(loop.seed)
    history: torch.Tensor | None = None
    names: list[str] = []
    start = 0
    saved = load_checkpoint(ckpt, settings, stateful)
    if saved is not None:
        start, names = saved["step"], saved["names"]
        past = saved["history"].reshape(start, len(names), -1)  # checkpoints before stacks were 2-d
        history = torch.zeros(loop.steps, len(names), past.shape[2])
        history[:start] = past
    # Losses stay on the device until a log line or checkpoint needs them, so a GPU is never
    # made to wait for the CPU after each step.
    pending: list[tuple[int, torch.Tensor]] = []
    began = time.perf_counter()
    for i in range(start, loop.steps):
        losses = step(i)
        if history is None:
            names = list(losses)
            history = torch.zeros(loop.steps, len(names), losses[names[0]].numel())
        pending.append((i, torch.stack([losses[name].detach().float().reshape(-1) for name in names])))
        done = i + 1
        at_log = done % loop.log_every == 0 or done == loop.steps
        at_checkpoint = done % loop.checkpoint_every == 0 and done < loop.steps
        if at_log or at_checkpoint or done == loop.steps:
            rows, values = zip(*pending, strict=True)
            history[list(rows)] = torch.stack(values).cpu()
            pending.clear()
        if at_log:
            shown = history[i].mean(1)  # a stack's line shows the mean over its models
            log.info(progress_line(loop, done, start, time.perf_counter() - began, dict(zip(names, shown.tolist(), strict=True))))
        if at_checkpoint:
            save_checkpoint(ckpt, settings, done, stateful, history, names)
        if stop_after is not None and done >= stop_after:
            return None
    table = history_table(history, names, loop.unit)
    finish(table)
    ckpt.unlink(missing_ok=True)
    return table
