"""Class-conditional VAE on the scaled 8-D elpasolite representation (Türk et al., section 2.3.1).

Encoder and decoder: two hidden layers of 256 with LayerNorm and
LeakyReLU(0.2); latent 8; tanh output; loss = squared error + lambda * KL
(eq. 9). Batches are drawn with probability inverse to the class frequency,
so the rare stable classes are seen as often as the common ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from compgen.elpasolite.metrics import N_CLASSES
from compgen.elpasolite.space import decode
from compgen.elpasolite.training import mlp, one_hot, run_updates, training_tensors


@dataclass(frozen=True)
class CVAESettings:
    hidden: int
    layers: int
    latent: int
    kl_weight: float
    updates: int
    batch: int
    lr: float
    seed: int
    log_every: int
    checkpoint_every: int


class CVAE(nn.Module):
    def __init__(self, s: CVAESettings):
        super().__init__()
        self.latent = s.latent
        self.encoder = mlp(8 + N_CLASSES, s.hidden, s.layers, 2 * s.latent)
        self.decoder = mlp(s.latent + N_CLASSES, s.hidden, s.layers, 8)

    def forward(self, x: torch.Tensor, condition: torch.Tensor):
        mu, logvar = self.encoder(torch.cat([x, condition], 1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, condition), mu, logvar

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(torch.cat([z, condition], 1)))

    def sample(self, n: int, target: int, generator: torch.Generator) -> np.ndarray:
        """Element indices (-1 for an empty table place) decoded from z ~ N(0, I) and the target class."""
        z = torch.randn(n, self.latent, generator=generator)
        return decode(self.decode(z, one_hot(np.full(n, target))).numpy())


def train_cvae(s: CVAESettings, indices: np.ndarray, classes: np.ndarray, output: str | Path, stop_after: int | None = None) -> None:
    """Train on (element indices, class) rows and write the model; resumes from `<output>.ckpt`."""
    dev, generator, x, condition, weights = training_tensors(indices, classes, s.seed)
    model = CVAE(s).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)

    def step(update: int) -> dict[str, torch.Tensor]:
        rows = torch.multinomial(weights, s.batch, replacement=True, generator=generator)
        reconstruction, mu, logvar = model(x[rows], condition[rows])
        squared_error = (reconstruction - x[rows]).pow(2).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        loss = squared_error + s.kl_weight * kl
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach(), "squared error": squared_error.detach(), "KL": kl.detach()}

    stateful = {"model": model, "optimiser": optimiser, "rng": generator}
    run_updates("cvae", s, stateful, step, model, output, stop_after)
