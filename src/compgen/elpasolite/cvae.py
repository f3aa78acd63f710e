"""Class-conditional VAE on the scaled 8-D elpasolite representation (Türk et al., section 3.2).

Encoder and decoder: two hidden layers of 256 with LayerNorm and
LeakyReLU(0.2); latent 8; tanh output; loss = squared error + lambda * KL.
Batches are drawn with probability inverse to the class frequency, so the
rare stable classes are seen as often as the common ones.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from compgen.elpasolite.metrics import N_CLASSES
from compgen.elpasolite.space import decode, encode, valid
from compgen.checkpoint import resume_checkpoint, save_checkpoint
from compgen.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVAESettings:
    hidden: int = 256
    layers: int = 2
    latent: int = 8
    kl_weight: float = 0.1
    updates: int = 10000
    batch: int = 500
    lr: float = 1e-3
    seed: int = 0
    log_every: int = 1000
    checkpoint_every: int = 2000


def _mlp(n_in: int, hidden: int, layers: int, n_out: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2)]
    return nn.Sequential(*blocks, nn.Linear(hidden, n_out))


class CVAE(nn.Module):
    def __init__(self, s: CVAESettings):
        super().__init__()
        self.latent = s.latent
        self.encoder = _mlp(8 + N_CLASSES, s.hidden, s.layers, 2 * s.latent)
        self.decoder = _mlp(s.latent + N_CLASSES, s.hidden, s.layers, 8)

    def forward(self, x: torch.Tensor, condition: torch.Tensor):
        mu, logvar = self.encoder(torch.cat([x, condition], 1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, condition), mu, logvar

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(torch.cat([z, condition], 1)))


def one_hot(classes, device=None) -> torch.Tensor:
    return F.one_hot(torch.as_tensor(np.asarray(classes) - 1, dtype=torch.long, device=device), N_CLASSES).float()


def inverse_frequency_weights(classes: np.ndarray) -> torch.Tensor:
    """Sampling weight per row: 1 / (rows of its class), so every class is drawn equally often."""
    counts = np.bincount(classes, minlength=N_CLASSES + 1)
    return torch.as_tensor(1.0 / counts[classes], dtype=torch.float64)


def train_cvae(s: CVAESettings, indices: np.ndarray, classes: np.ndarray, output: str | Path, stop_after: int | None = None) -> None:
    """Train on (element indices, class) rows and write the model; resumes from `<output>.ckpt`."""
    output = Path(output)
    checkpoint = output.with_name(output.name + ".ckpt")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(s.seed)
    generator = torch.Generator().manual_seed(s.seed)
    x = torch.as_tensor(encode(indices), dtype=torch.float32, device=device)
    condition = one_hot(classes, device)
    weights = inverse_frequency_weights(classes)
    model = CVAE(s).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)
    stateful = {"model": model, "optimiser": optimiser, "rng": generator}
    start, extra = resume_checkpoint(checkpoint, dataclasses.asdict(s), stateful)
    if start:
        torch.set_rng_state(extra["torch_rng"])  # the reparameterisation noise
    for update in range(start, s.updates):
        rows = torch.multinomial(weights, s.batch, replacement=True, generator=generator).to(device)
        reconstruction, mu, logvar = model(x[rows], condition[rows])
        squared_error = (reconstruction - x[rows]).pow(2).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        loss = squared_error + s.kl_weight * kl
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done = update + 1
        if done % s.log_every == 0 or done == s.updates:
            log.info("update %d/%d  loss %.4f  squared error %.4f  KL %.4f", done, s.updates, loss.item(), squared_error.item(), kl.item())
        if done % s.checkpoint_every == 0 and done < s.updates:
            save_checkpoint(checkpoint, dataclasses.asdict(s), done, stateful, {"torch_rng": torch.get_rng_state()})
        if stop_after is not None and done >= stop_after:
            return
    with atomic_path(output) as tmp:
        torch.save({"settings": dataclasses.asdict(s), "model": model.state_dict()}, tmp)
    checkpoint.unlink(missing_ok=True)


def load_cvae(path: str | Path) -> CVAE:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = CVAE(CVAESettings(**state["settings"]))
    model.load_state_dict(state["model"])
    return model.eval()


@torch.no_grad()
def sample_valid(model: CVAE, target: int, n: int, seed: int, batch: int = 100_000) -> tuple[np.ndarray, int]:
    """Decode z ~ N(0, I) with the target class until n valid compositions; returns them and the invalid count."""
    generator = torch.Generator().manual_seed(seed)
    found, invalid, total = [], 0, 0
    while total < n:
        z = torch.randn(batch, model.latent, generator=generator)
        indices = decode(model.decode(z, one_hot(np.full(batch, target))).numpy())
        ok = valid(indices)
        invalid += int((~ok).sum())
        found.append(indices[ok])
        total += int(ok.sum())
    return np.concatenate(found)[:n], invalid
