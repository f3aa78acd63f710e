"""Training and use of the two VAEs, run by `compgen.training` (one step = one epoch).

Loss per structure (SI): reconstruction negative log-likelihood + KL to N(0, I);
the batch loss is its mean plus Keras-style L1 / L2 kernel penalties (Table S1).
Two options against posterior collapse, both off in the SI's setting: the KL
term's weight can ramp up linearly (1/W, 2/W, ... 1) over the first W =
`kl_warmup` epochs (Bowman et al. 2016), and `free_bits` nats of each dimension's batch-mean KL go unpenalised
(Kingma et al. 2016). The held-out rows are scored after every epoch (loss and
active units), so the loss table shows whether a model overfits or collapses.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from compgen import training
from compgen.io import atomic_path, write_csv
from compgen.latent.models import XRDVAE, CompositionVAE, active_units, kl_per_dimension, weight_penalty

OPTIMISERS = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
    "nadam": torch.optim.NAdam,
}


@dataclass(frozen=True)
class VAESettings:
    """One VAE; values from `latent.composition_vae` / `latent.xrd_vae` of the config."""

    kind: str  # 'composition' or 'xrd'
    units: tuple[int, int]
    latent: int
    dropout: float
    l1: float
    l2: float
    activation: str
    initialiser: str
    optimiser: str
    lr: float
    epochs: int
    batch: int
    seed: int
    log_every: int
    checkpoint_every: int
    filters: tuple[int, int, int] | None = None  # XRD only
    kernel: int | None = None
    pool: int | None = None
    atoms: float | None = None  # composition only: see CompositionVAE.reconstruction_nll
    lr_schedule: str = "constant"  # or 'cosine': a half cosine from lr toward 0 over the epochs (no state: resumes exactly)
    kl_warmup: int = 0  # epochs over which the KL weight ramps linearly to 1 (0: from the start)
    free_bits: float = 0.0  # nats per latent dimension (batch mean) that the KL term does not charge

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of 0-based `epoch`."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        return self.lr

    def kl_weight(self, epoch: int) -> float:
        """The KL term's weight in 0-based `epoch`."""
        return 1.0 if self.kl_warmup <= 0 else min(1.0, (epoch + 1) / self.kl_warmup)

    def __post_init__(self):
        # YAML and checkpoints give lists
        object.__setattr__(self, "units", tuple(self.units))
        if self.filters is not None:
            object.__setattr__(self, "filters", tuple(self.filters))

    @classmethod
    def from_config(cls, kind: str, section: dict, **extra) -> VAESettings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(kind=kind, **{k: v for k, v in {**section, **extra}.items() if k in names})


def build(s: VAESettings, input_size: int) -> CompositionVAE | XRDVAE:
    if s.kind == "composition":
        return CompositionVAE(input_size, s.units, s.latent, s.dropout, s.activation, s.initialiser, s.atoms)
    return XRDVAE(input_size, s.filters, s.kernel, s.pool, s.units, s.latent, s.dropout, s.activation, s.initialiser)


def _batch_losses(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean reconstruction NLL and the mean KL of each latent dimension over the batch."""
    logits, mu, logvar = model(x)
    return model.reconstruction_nll(logits, x).mean(), kl_per_dimension(mu, logvar).mean(dim=0)


@torch.no_grad()
def held_out_scores(model, x: torch.Tensor, batch: int) -> dict[str, torch.Tensor]:
    """Held-out loss (NLL + KL, the negative ELBO), each dimension's mean KL and encoder-mean variance (eval mode)."""
    was_training = model.training
    model.eval()
    nll_total = torch.zeros((), device=x.device)
    kl_total = torch.zeros(model.mu.out_features, device=x.device)
    means = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        logits, mu, logvar = model(chunk)
        nll_total += model.reconstruction_nll(logits, chunk).sum()
        kl_total += kl_per_dimension(mu, logvar).sum(dim=0)
        means.append(mu)
    model.train(was_training)
    n = max(len(x), 1)
    mu = torch.cat(means) if means else torch.zeros(1, model.mu.out_features, device=x.device)
    kl = kl_total / n
    return {"loss": nll_total / n + kl.sum(), "kl": kl, "mu_variance": mu.var(dim=0, unbiased=False), "active": active_units(mu)}


def latent_dimensions(model, x: np.ndarray, batch: int = 1024) -> pd.DataFrame:
    """One row per latent dimension of a trained VAE on the rows of `x`: mean KL (nats), variance of the encoder mean, active."""
    scores = held_out_scores(model, torch.as_tensor(x, dtype=torch.float32), batch)
    return pd.DataFrame({"dimension": np.arange(len(scores["kl"])), "kl": scores["kl"].numpy(), "mu_variance": scores["mu_variance"].numpy(),
                         "active": scores["active"].numpy()})  # fmt: skip


def train_vae(s: VAESettings, train: np.ndarray, holdout: np.ndarray, output, losses_output, stop_after: int | None = None) -> pd.DataFrame | None:
    """Train one VAE on the rows of `train` (scoring `holdout` each epoch); write it to `output`."""
    device = training.pick_device()
    torch.manual_seed(s.seed)
    rng = training.random_stream(s.seed, device)
    x_train = torch.as_tensor(train, dtype=torch.float32, device=device)
    x_holdout = torch.as_tensor(holdout, dtype=torch.float32, device=device)
    model = build(s, x_train.shape[1]).to(device)
    optimiser = OPTIMISERS[s.optimiser](model.parameters(), lr=s.lr)

    def step(epoch: int) -> dict[str, torch.Tensor]:
        order = torch.randperm(len(x_train), generator=rng, device=device)
        sums = torch.zeros(3, device=device)
        beta = s.kl_weight(epoch)
        for group in optimiser.param_groups:
            group["lr"] = s.learning_rate(epoch)
        for start in range(0, len(order), s.batch):
            x = x_train[order[start : start + s.batch]]
            nll, kl_dimensions = _batch_losses(model, x)
            kl = kl_dimensions.sum()
            charged = kl_dimensions.clamp(min=s.free_bits).sum() if s.free_bits > 0 else kl
            loss = nll + beta * charged + weight_penalty(model, s.l1, s.l2)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            sums += torch.stack([loss.detach(), nll.detach(), kl.detach()]) * len(x)
        loss, nll, kl = sums / len(order)
        held = held_out_scores(model, x_holdout, 4 * s.batch)
        return {"loss": loss, "nll": nll, "kl": kl, "holdout_loss": held["loss"], "active_units": held["active"].sum().float()}

    def finish(losses: pd.DataFrame) -> None:
        write_csv(losses, losses_output)
        state = {"settings": dataclasses.asdict(s), "input_size": x_train.shape[1], "model": model.state_dict()}
        with atomic_path(output) as tmp:
            torch.save(state, tmp)

    loop = training.LoopSettings(s.epochs, s.log_every, s.checkpoint_every, s.seed, label=f"{s.kind} vae", unit="epoch")
    stateful = {"model": model, "optimiser": optimiser, "rng": rng}
    return training.run(loop, step, stateful, dataclasses.asdict(s), output, finish, stop_after)


def load_vae(path) -> CompositionVAE | XRDVAE:
    """A trained VAE in eval mode on the CPU (weights only: no code runs on load)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = build(VAESettings(**saved["settings"]), saved["input_size"])
    model.load_state_dict(saved["model"])
    return model.eval()


@torch.no_grad()
def encode(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The encoder means of the rows of `x`: a structure's point in latent space."""
    rows = [model.encode(torch.as_tensor(x[i : i + batch], dtype=torch.float32))[0] for i in range(0, len(x), batch)]
    return torch.cat(rows).numpy() if rows else np.zeros((0, model.mu.out_features), np.float32)


@torch.no_grad()
def reconstruct(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Decoded images of the encoder means (the deterministic round trip)."""
    out = []
    for i in range(0, len(x), batch):
        mu, _ = model.encode(torch.as_tensor(x[i : i + batch], dtype=torch.float32))
        out.append(model.decode_output(model.decoder(mu)))
    return torch.cat(out).numpy() if out else np.zeros_like(x)
