"""Training loop for the composition GANs: one full-batch step per epoch.

Every epoch passes all of pool A once, each C_A paired with a C_B drawn at
random from pool B (so some B are seen twice, some not at all). A job that is
killed resumes from the checkpoint kept beside its output; the checkpoint
holds the random state too, so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from compgen.atmo.models import CompositionGAN, discriminator_losses, generator_losses, loss_names
from compgen.checkpoint import resume_checkpoint, save_checkpoint
from compgen.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    augmented: bool = True
    width: int = 32
    blocks: int = 2
    epochs: int = 1000
    lr: float = 2e-4
    lr_divider: float = 2.0
    lr_slowdown_param: float = 0.9806
    lr_slowdown_every: int = 50
    cyc_weight: float = 1.0
    lambda_z: float = 0.1
    input_skip: bool = False
    bf16: bool = False  # bf16 autocast of forward passes; weights and optimiser stay fp32
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 200


def learning_rates(settings: TrainSettings, epoch: int) -> tuple[float, float]:
    """(generator, discriminator) learning rates at `epoch`: decayed every lr_slowdown_every epochs.

    The discriminators always run at the generator rate / lr_divider (the
    authors' code swaps this after the first decay; the paper does not).
    """
    lr_g = settings.lr * settings.lr_slowdown_param ** (epoch // settings.lr_slowdown_every)
    return lr_g, lr_g / settings.lr_divider


def train_step(model, opt_g, opt_d, a, b, z_a, z_b, settings: TrainSettings) -> torch.Tensor:
    """One generator update, then one discriminator update on the same (detached) fakes.

    Returns the losses, in `loss_names` order, as a tensor left on the device.
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
    return torch.stack([loss_g, loss_d, *parts_g.values(), *parts_d.values()]).detach().float()


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the betas of the authors' networks, fused (one kernel for all parameters)."""
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), fused=True)


def train(
    settings: TrainSettings,
    vectors_a: np.ndarray,
    vectors_b: np.ndarray,
    output: str | Path,
    device: torch.device | None = None,
    stop_after: int | None = None,
) -> pd.DataFrame:
    """Train one model, write it to `output`, return the per-epoch losses.

    `stop_after` ends the run early after that many epochs without writing
    `output`, as a killed job would (used to test resuming).
    """
    output = Path(output)
    checkpoint = output.with_name(output.name + ".ckpt")
    device = device or pick_device()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    a = torch.as_tensor(vectors_a, dtype=torch.float32, device=device)
    b = torch.as_tensor(vectors_b, dtype=torch.float32, device=device)
    model = CompositionGAN(a.shape[1], settings.width, settings.blocks, settings.augmented, input_skip=settings.input_skip).to(device)
    lr_g, lr_d = learning_rates(settings, 0)
    opt_g = adam(model.generator_parameters(), lr_g)
    opt_d = adam(model.discriminator_parameters(), lr_d)

    names = loss_names(settings.augmented)
    history = torch.zeros(settings.epochs, len(names), device=device)
    stateful = {"model": model, "opt_g": opt_g, "opt_d": opt_d, "rng": generator}
    start, extra = resume_checkpoint(checkpoint, dataclasses.asdict(settings), stateful)
    if start:
        history[:start] = extra["history"].to(device)

    model.train()
    n = a.shape[0]
    began = time.perf_counter()
    for epoch in range(start, settings.epochs):
        lr_g, lr_d = learning_rates(settings, epoch)
        for group in opt_g.param_groups:
            group["lr"] = lr_g
        for group in opt_d.param_groups:
            group["lr"] = lr_d
        # Random draws happen on the CPU generator so a resumed run draws the same numbers on any device.
        pick = torch.randint(len(b), (n,), generator=generator)
        z = torch.randn(2, n, model.latent_dim, generator=generator) if model.augmented else torch.zeros(2, n, 0)
        z_a, z_b = z.to(device).unbind(0)

        history[epoch] = train_step(model, opt_g, opt_d, a, b[pick.to(device)], z_a, z_b, settings)

        done = epoch + 1
        if done % settings.log_every == 0 or done == settings.epochs:
            row = history[epoch].tolist()
            rate = (done - start) / (time.perf_counter() - began)
            log.info("epoch %d/%d  %s  (%.1f epochs/s)", done, settings.epochs, "  ".join(f"{k} {v:.4f}" for k, v in zip(names, row)), rate)
        if done % settings.checkpoint_every == 0 and done < settings.epochs:
            save_checkpoint(checkpoint, dataclasses.asdict(settings), done, stateful, {"history": history[:done].cpu()})
        if stop_after is not None and done >= stop_after:
            return pd.DataFrame(history[:done].cpu().numpy(), columns=names)  # killed: no output

    losses = pd.DataFrame(history.cpu().numpy(), columns=names)
    losses.insert(0, "epoch", np.arange(1, settings.epochs + 1))
    with atomic_path(output) as tmp:
        torch.save({"settings": dataclasses.asdict(settings), "n_elements": a.shape[1], "model": model.state_dict()}, tmp)
    checkpoint.unlink(missing_ok=True)
    return losses


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[CompositionGAN, TrainSettings]:
    """A trained model in evaluation mode, read without unpickling arbitrary objects."""
    state = torch.load(path, map_location=device or "cpu", weights_only=True)
    settings = TrainSettings(**state["settings"])
    model = CompositionGAN(state["n_elements"], settings.width, settings.blocks, settings.augmented, input_skip=settings.input_skip)
    model.load_state_dict(state["model"])
    return model.to(device or "cpu").eval(), settings
