"""What the three elpasolite generators share: the update loop, their building blocks, saving and sampling.

Each generator module (cvae, wgan, dqn) defines its settings, its networks and
one `step(update)` that draws a batch and updates the networks; `run_updates`
runs the steps with logging, a resumable checkpoint beside the output, and
an atomic final write of the network that generates (read back by
`compgen.elpasolite.generators.load_generator`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from compgen.checkpoint import resume_checkpoint, save_checkpoint
from compgen.elpasolite.metrics import N_CLASSES
from compgen.elpasolite.space import encode, valid
from compgen.io import atomic_path

log = logging.getLogger(__name__)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mlp(n_in: int, hidden: int, layers: int, n_out: int, norm: bool = True) -> nn.Sequential:
    """`layers` hidden layers of `hidden` units (LayerNorm when `norm`, LeakyReLU(0.2)), then a linear output."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks.append(nn.Linear(n_in if i == 0 else hidden, hidden))
        if norm:
            blocks.append(nn.LayerNorm(hidden))
        blocks.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*blocks, nn.Linear(hidden if layers else n_in, n_out))


def one_hot(classes, device=None) -> torch.Tensor:
    return F.one_hot(torch.as_tensor(np.asarray(classes) - 1, dtype=torch.long, device=device), N_CLASSES).float()


def inverse_frequency_weights(classes: np.ndarray) -> torch.Tensor:
    """Sampling weight per row: 1 / (rows of its class), so every class is drawn equally often."""
    counts = np.bincount(classes, minlength=N_CLASSES + 1)
    return torch.as_tensor(1.0 / counts[classes], dtype=torch.float64)


def training_tensors(indices: np.ndarray, classes: np.ndarray, seed: int):
    """What a conditional generator trains on: (device, batch generator, eq. 1 inputs, one-hot classes, row weights).

    Seeds torch too, so the networks built next start from the same weights on every run.
    """
    dev = device()
    batches = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(encode(indices), dtype=torch.float32, device=dev)
    condition = one_hot(classes, dev)
    weights = inverse_frequency_weights(classes)
    torch.manual_seed(seed)
    return dev, batches, x, condition, weights


def _global_rng() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_global_rng(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_updates(
    kind: str,
    settings,
    stateful: dict,
    step: Callable[[int], dict[str, torch.Tensor]],
    generator_net: nn.Module,
    output: str | Path,
    stop_after: int | None = None,
) -> None:
    """Run `settings.updates` steps, resuming from `<output>.ckpt`; write `generator_net` to `output` at the end.

    `stateful` names every module, optimiser and torch.Generator the steps
    change; together with the global torch RNG (dropout-free noise such as
    the VAE's reparameterisation draws from it) they make a resumed run
    bit-identical to an uninterrupted one. `stop_after` simulates a kill.
    """
    output = Path(output)
    checkpoint = output.with_name(output.name + ".ckpt")
    config = dataclasses.asdict(settings)
    torch.manual_seed(settings.seed)
    start, extra = resume_checkpoint(checkpoint, config, stateful)
    if start:
        _restore_global_rng(extra["rng"])
    for update in range(start, settings.updates):
        losses = step(update)
        done = update + 1
        if done % settings.log_every == 0 or done == settings.updates:
            shown = "  ".join(f"{name} {value.item():.4f}" for name, value in losses.items())
            log.info("%s update %d/%d  %s", kind, done, settings.updates, shown)
        if done % settings.checkpoint_every == 0 and done < settings.updates:
            save_checkpoint(checkpoint, config, done, stateful, {"rng": _global_rng()})
        if stop_after is not None and done >= stop_after:
            return
    with atomic_path(output) as tmp:
        torch.save({"kind": kind, "settings": config, "model": generator_net.state_dict()}, tmp)
    checkpoint.unlink(missing_ok=True)


@torch.no_grad()
def sample_valid(network: nn.Module, target: int, n: int, seed: int, batch: int = 100_000) -> tuple[np.ndarray, int]:
    """Draw from `network.sample` until n valid compositions (in generation order); returns them and the invalid count."""
    generator = torch.Generator().manual_seed(seed)
    found, invalid, total = [], 0, 0
    while total < n:
        indices = network.sample(batch, target, generator)
        ok = valid(indices)
        invalid += int((~ok).sum())
        found.append(indices[ok])
        total += int(ok.sum())
    return np.concatenate(found)[:n], invalid
