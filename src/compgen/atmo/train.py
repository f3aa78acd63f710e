"""Training of the composition GANs: one full-batch step per epoch, run by `compgen.training`.

Every epoch passes all of pool A once, each C_A paired with a C_B drawn at
random from pool B (so some B are seen twice, some not at all). Random draws
come from a CPU generator kept in the checkpoint, so a killed job resumes to
the same weights on any device.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from compgen import training
from compgen.atmo.models import CompositionGAN, discriminator_losses, generator_losses, loss_names
from compgen.io import atomic_path, write_csv

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """One training job; the values come from the config (`atmo.model` and the job's wildcards)."""

    augmented: bool
    width: int
    blocks: int
    epochs: int
    lr: float
    lr_divider: float
    lr_slowdown_param: float
    lr_slowdown_every: int
    cyc_weight: float
    lambda_z: float
    input_skip: bool
    bf16: bool  # bf16 autocast of forward passes; weights and optimiser stay fp32
    seed: int
    log_every: int
    checkpoint_every: int


def learning_rates(settings: TrainSettings, epoch: int) -> tuple[float, float]:
    """(generator, discriminator) learning rates at `epoch`: decayed every lr_slowdown_every epochs.

    The discriminators always run at the generator rate / lr_divider (the
    authors' code swaps this after the first decay; the paper does not).
    """
    lr_g = settings.lr * settings.lr_slowdown_param ** (epoch // settings.lr_slowdown_every)
    return lr_g, lr_g / settings.lr_divider


def train_step(model, opt_g, opt_d, a, b, z_a, z_b, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """One generator update, then one discriminator update on the same (detached) fakes.

    Returns the losses by `loss_names`, left on the device.
    """
    autocast = torch.autocast(a.device.type, dtype=torch.bfloat16, enabled=settings.bf16)
    # The generator step needs gradients through the discriminators, not of their weights.
    for p in opt_d.param_groups[0]["params"]:
        p.requires_grad_(False)
    with autocast:
        loss_g, parts_g, fakes = generator_losses(model, a, b, z_a, z_b, settings.cyc_weight, settings.lambda_z)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    for p in opt_d.param_groups[0]["params"]:
        p.requires_grad_(True)
    with autocast:
        loss_d, parts_d = discriminator_losses(model, a, b, z_a, z_b, fakes)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    values = [loss_g, loss_d, *parts_g.values(), *parts_d.values()]
    return dict(zip(loss_names(settings.augmented), (v.detach() for v in values), strict=True))


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the betas of the authors' networks, fused (one kernel for all parameters)."""
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), fused=True)


def train(
    settings: TrainSettings,
    vectors_a: np.ndarray,
    vectors_b: np.ndarray,
    output: str | Path,
    losses_output: str | Path | None = None,
    stop_after: int | None = None,
) -> pd.DataFrame | None:
    """Train one model, write it to `output` (and the per-epoch losses to `losses_output`); return the losses.

    `stop_after` ends the run early after that many epochs without writing
    anything but the checkpoint, as a killed job would (used to test resuming).
    """
    device = training.pick_device()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    a = torch.as_tensor(vectors_a, dtype=torch.float32, device=device)
    b = torch.as_tensor(vectors_b, dtype=torch.float32, device=device)
    model = CompositionGAN(a.shape[1], settings.width, settings.blocks, settings.augmented, input_skip=settings.input_skip).to(device)
    lr_g, lr_d = learning_rates(settings, 0)
    opt_g = adam(model.generator_parameters(), lr_g)
    opt_d = adam(model.discriminator_parameters(), lr_d)
    model.train()
    n = a.shape[0]

    def step(epoch: int) -> dict[str, torch.Tensor]:
        lr_g, lr_d = learning_rates(settings, epoch)
        for group in opt_g.param_groups:
            group["lr"] = lr_g
        for group in opt_d.param_groups:
            group["lr"] = lr_d
        # Random draws happen on the CPU generator so a resumed run draws the same numbers on any device.
        pick = torch.randint(len(b), (n,), generator=generator)
        z = torch.randn(2, n, model.latent_dim, generator=generator) if model.augmented else torch.zeros(2, n, 0)
        z_a, z_b = z.to(device).unbind(0)
        return train_step(model, opt_g, opt_d, a, b[pick.to(device)], z_a, z_b, settings)

    def finish(losses: pd.DataFrame) -> None:
        if losses_output is not None:
            write_csv(losses, losses_output)
        with atomic_path(output) as tmp:
            torch.save({"settings": dataclasses.asdict(settings), "n_elements": a.shape[1], "model": model.state_dict()}, tmp)

    loop = training.LoopSettings(
        settings.epochs, settings.log_every, settings.checkpoint_every, settings.seed, label="augcyc" if settings.augmented else "cyclegan", unit="epoch"
    )
    stateful = {"model": model, "opt_g": opt_g, "opt_d": opt_d, "rng": generator}
    return training.run(loop, step, stateful, dataclasses.asdict(settings), output, finish, stop_after)


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[CompositionGAN, TrainSettings]:
    """A trained model in evaluation mode, read without unpickling arbitrary objects."""
    state = torch.load(path, map_location=device or "cpu", weights_only=True)
    settings = TrainSettings(**state["settings"])
    model = CompositionGAN(state["n_elements"], settings.width, settings.blocks, settings.augmented, input_skip=settings.input_skip)
    model.load_state_dict(state["model"])
    return model.to(device or "cpu").eval(), settings
