"""What the three elpasolite generators share: their building blocks, saving and sampling.

Each generator module (cvae, wgan, dqn) defines its settings, its networks and
one `step(update)` that draws a batch and updates the networks; `run_updates`
hands the steps to the shared loop (`compgen.training`) and writes the network
that generates, atomically, at the end (read back by
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

from compgen import training
from compgen.elpasolite.metrics import N_CLASSES
from compgen.elpasolite.space import encode
from compgen.io import atomic_path

log = logging.getLogger(__name__)


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
    dev = training.pick_device()
    batches = training.random_stream(seed, dev)
    x = torch.as_tensor(encode(indices), dtype=torch.float32, device=dev)
    condition = one_hot(classes, dev)
    weights = inverse_frequency_weights(classes).to(dev)
    torch.manual_seed(seed)
    return dev, batches, x, condition, weights


def run_updates(
    kind: str,
    settings,
    stateful: dict,
    step: Callable[[int], dict[str, torch.Tensor]],
    generator_net: nn.Module,
    output: str | Path,
    stop_after: int | None = None,
) -> None:
    """Run `settings.updates` steps in the shared loop; write `generator_net` to `output` at the end.

    `stateful` names every module, optimiser and torch.Generator the steps
    change; the loop keeps them, and the global RNG, in `<output>.ckpt`.
    `stop_after` simulates a kill.
    """
    config = dataclasses.asdict(settings)

    def finish(_losses) -> None:
        with atomic_path(output) as tmp:
            torch.save({"kind": kind, "settings": config, "model": generator_net.state_dict()}, tmp)

    label = kind if getattr(settings, "target_class", None) is None else f"{kind} class {settings.target_class}"
    loop = training.LoopSettings(settings.updates, settings.log_every, settings.checkpoint_every, settings.seed, label=label, unit="update")
    training.run(loop, step, stateful, config, output, finish, stop_after)


def generator_draw(network: nn.Module, target: int, seed: int, batch: int):
    """A function that returns the next `batch` draws (element indices) of a trained generator for class `target`.

    A network with a `sampler(target)` (the agent) draws through it; the others through `sample`.
    """
    generator = torch.Generator().manual_seed(seed)
    if hasattr(network, "sampler"):
        sample = network.sampler(target)
    else:

        def sample(n: int, generator: torch.Generator) -> np.ndarray:
            return network.sample(n, target, generator)

    @torch.no_grad()
    def draw() -> np.ndarray:
        return sample(batch, generator)

    return draw
