"""The two variational autoencoders of Korolev et al. (SI Fig. S1, Table S1).

Composition VAE: a 100-dimensional element-fraction vector (Z = 1..100) -> 24
latent numbers; dense layers of 95 and 50 units. XRD VAE: a 1,601-point powder
pattern -> 64 latent numbers; three 1-D convolutions (16, 17, 37 filters,
kernel 4, max-pooling 2) and dense layers of 693 and 403 units. Both decode
back to their input: the composition decoder ends in a softmax (fractions sum
to 1), the XRD decoder in a sigmoid (patterns are scaled to a maximum of 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"selu": nn.SELU, "elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}
# Keras' variance-scaling initialisers: the scale of the fan-in variance and the distribution.
INITIALISERS = {"lecun_normal": (1.0, "normal"), "he_normal": (2.0, "normal"), "he_uniform": (2.0, "uniform")}


def keras_init(module: nn.Module, initialiser: str) -> None:
    """Weights as Keras draws them (truncated normal at two sigma, or uniform), biases zero."""
    scale, kind = INITIALISERS[initialiser]
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv1d):
            fan_in = layer.weight[0].numel()
            if kind == "normal":
                # Keras divides by the std of a unit normal truncated at +-2 so the drawn variance is scale / fan_in.
                std = math.sqrt(scale / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            else:
                limit = math.sqrt(3 * scale / fan_in)
                nn.init.uniform_(layer.weight, -limit, limit)
            nn.init.zeros_(layer.bias)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) of each row and latent dimension (rows x dimensions)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over the latent dimensions."""
    return kl_per_dimension(mu, logvar).sum(dim=1)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Latent dimensions whose encoder mean varies across the data (Burda et al. 2016: Var_x E[z|x] > 0.01).

    A dimension the KL term has pushed back to the prior gives every input the
    same mean, so it carries nothing about the input. Returns a bool per dimension.
    """
    return mu.var(dim=0, unbiased=False) > threshold


def weight_penalty(module: nn.Module, l1: float, l2: float) -> torch.Tensor:
    """Keras' kernel regularisers: l1 * sum|W| + l2 * sum W^2 over every weight matrix (not biases)."""
    weights = [p for name, p in module.named_parameters() if name.endswith("weight")]
    return l1 * sum(w.abs().sum() for w in weights) + l2 * sum(w.pow(2).sum() for w in weights)


class VAE(nn.Module):
    """Encoder -> (mu, logvar); a reparameterised draw -> decoder."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar


class CompositionVAE(VAE):
    def __init__(self, n_elements: int, units: tuple[int, int], latent: int, dropout: float, activation: str, initialiser: str, atoms: float):
        super().__init__()
        self.atoms = atoms
        act = ACTIVATIONS[activation]
        u1, u2 = units
        self.encoder = nn.Sequential(nn.Linear(n_elements, u1), act(), nn.Dropout(dropout), nn.Linear(u1, u2), act(), nn.Dropout(dropout))
        self.mu, self.logvar = nn.Linear(u2, latent), nn.Linear(u2, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, u2), act(), nn.Dropout(dropout), nn.Linear(u2, u1), act(), nn.Linear(u1, n_elements))
        keras_init(self, initialiser)

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Multinomial negative log-likelihood of `atoms` atoms drawn with the true fractions, per row.

        Read as one atom (atoms = 1) the reconstruction is worth a few nats, less than
        the KL cost of any information, and the latent collapses to the prior; `atoms`
        says how precisely a fraction is known (100: to about a percent).
        """
        return -self.atoms * (x * F.log_softmax(logits, dim=1)).sum(dim=1)

    @staticmethod
    def decode_output(logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits, dim=1)


class XRDVAE(VAE):
    def __init__(
        self,
        points: int,
        filters: tuple[int, int, int],
        kernel: int,
        pool: int,
        units: tuple[int, int],
        latent: int,
        dropout: float,
        activation: str,
        initialiser: str,
    ):
        super().__init__()
        act = ACTIVATIONS[activation]
        f1, f2, f3 = filters
        u1, u2 = units
        # Lengths after each valid convolution and pooling, so the decoder can mirror them.
        after_conv2 = points - 2 * (kernel - 1)
        after_pool1 = after_conv2 // pool
        self.flat_length = (after_pool1 - (kernel - 1)) // pool
        flat = f3 * self.flat_length
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, points)),
            nn.Conv1d(1, f1, kernel), act(),
            nn.Conv1d(f1, f2, kernel), act(),
            nn.MaxPool1d(pool),
            nn.Conv1d(f2, f3, kernel), act(),
            nn.MaxPool1d(pool),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(flat, u1), act(), nn.Dropout(dropout),
            nn.Linear(u1, u2), act(),
        )  # fmt: skip
        self.mu, self.logvar = nn.Linear(u2, latent), nn.Linear(u2, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, u2), act(),
            nn.Linear(u2, u1), act(), nn.Dropout(dropout),
            nn.Linear(u1, flat), act(),
            nn.Unflatten(1, (f3, self.flat_length)),
            nn.Upsample(scale_factor=pool),
            nn.Conv1d(f3, f2, kernel, padding="same"), act(),
            nn.Upsample(size=points),
            nn.Conv1d(f2, f1, kernel, padding="same"), act(),
            nn.Conv1d(f1, 1, kernel, padding="same"),
            nn.Flatten(),
        )  # fmt: skip
        keras_init(self, initialiser)

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli negative log-likelihood of each point's scaled intensity, summed over the pattern."""
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)

    @staticmethod
    def decode_output(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)
