"""CycleGAN and Augmented CycleGAN on composition vectors (Ai, Norquist, Schrier 2022).

Sizes follow the authors' networks: generators widen width -> 2w -> 4w, run
`blocks` residual blocks at 4w and narrow back; the latent code z enters every
normalisation layer through conditional batch norm. At paper scale
width = 2 x n_elements (132 for 66 elements).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F


class BatchNorm(nn.BatchNorm1d):
    """Batch norm computed in fp32: under bf16 autocast a stack's `vmap` refuses bf16 input with fp32 statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


class Norm(nn.Module):
    """Batch norm whose scale and shift come from z (conditional), or plain batch norm without z."""

    def __init__(self, features: int, latent_dim: int):
        super().__init__()
        self.conditional = latent_dim > 0
        self.norm = BatchNorm(features, affine=not self.conditional)
        if self.conditional:
            self.scale_shift = nn.Linear(latent_dim, 2 * features)
            nn.init.zeros_(self.scale_shift.weight)
            nn.init.zeros_(self.scale_shift.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if not self.conditional:
            return x
        scale, shift = self.scale_shift(z).chunk(2, dim=1)
        return x * (1 + scale) + shift


class Layer(nn.Module):
    """Linear -> (conditional) batch norm -> ReLU."""

    def __init__(self, n_in: int, n_out: int, latent_dim: int):
        super().__init__()
        # No bias: the batch norm after it subtracts any bias again, so its gradient is pure
        # rounding noise, which Adam would turn into full-size random steps.
        self.linear = nn.Linear(n_in, n_out, bias=False)
        self.norm = Norm(n_out, latent_dim)

    def forward(self, x, z):
        return F.relu(self.norm(self.linear(x), z))


class ResidualBlock(nn.Module):
    def __init__(self, width: int, latent_dim: int):
        super().__init__()
        self.first = Layer(width, width, latent_dim)
        self.linear = nn.Linear(width, width, bias=False)  # batch norm follows, as in Layer
        self.norm = Norm(width, latent_dim)

    def forward(self, x, z):
        return x + self.norm(self.linear(self.first(x, z)), z)


def support_softmax(logits: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Softmax restricted to the elements present in `source`: the output keeps its chemical system.

    Equal to zeroing the absent elements of a full softmax and renormalising,
    without the division by a sum that can underflow.
    """
    return logits.masked_fill(source <= 0, float("-inf")).softmax(dim=1)


class Generator(nn.Module):
    """Composition -> composition of the other domain, conditioned on z when latent_dim > 0."""

    def __init__(self, n_elements: int, width: int, blocks: int, latent_dim: int, input_skip: bool = False):
        super().__init__()
        self.input_skip = input_skip
        widths = [n_elements, width, 2 * width, 4 * width]
        self.up = nn.ModuleList(Layer(a, b, latent_dim) for a, b in pairwise(widths))
        self.blocks = nn.ModuleList(ResidualBlock(4 * width, latent_dim) for _ in range(blocks))
        self.down = nn.ModuleList(Layer(a, b, latent_dim) for a, b in pairwise(widths[:0:-1]))
        self.out = nn.Linear(width, n_elements)

    def forward(self, source: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        h = source
        for layer in (*self.up, *self.blocks, *self.down):
            h = layer(h, z)
        logits = self.out(h)
        if self.input_skip:
            # Logits relative to the source's own log-fractions: an untrained
            # generator returns its input, training learns the change.
            logits = logits + source.clamp_min(1e-12).log()
        return support_softmax(logits, source)


def _mlp(widths: list[int], activation: nn.Module, norm_from: int | None) -> nn.Sequential:
    """Linear layers through `widths`, batch norm on hidden layers from index `norm_from` on."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        normed = norm_from is not None and norm_from <= i < len(widths) - 2
        layers.append(nn.Linear(a, b, bias=not normed))  # batch norm cancels a bias (see Layer)
        if i < len(widths) - 2:
            if normed:
                layers.append(BatchNorm(b))
            layers.append(activation)
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """(C_A, C_B) pair -> the latent code of one side."""

    def __init__(self, n_elements: int, width: int, latent_dim: int):
        super().__init__()
        widths = [2 * n_elements, width, 2 * width, 4 * width, 8 * width, 8 * width, latent_dim]
        self.net = _mlp(widths, nn.ReLU(), norm_from=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([a, b], dim=1))


class LogFractions(nn.Module):
    """Log-fractions of the present elements, 0 for the absent: a ratio such as C/N becomes a difference.

    In raw fractions, C/N going from 2 to 1 at a fixed N fraction moves C by that N fraction,
    small wherever the amine is a small part of the composition; in logs it is log 2 whatever
    the amount. The floor keeps the gradient to tiny generated fractions bounded.
    """

    FLOOR = 1e-4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x.clamp_min(self.FLOOR).log(), torch.zeros_like(x))


def composition_discriminator(n_elements: int, width: int, log_input: bool = False) -> nn.Sequential:
    net = _mlp([n_elements, width, 2 * width, 4 * width, 4 * width, 1], nn.LeakyReLU(0.2), norm_from=None)
    return nn.Sequential(LogFractions(), *net) if log_input else net


def latent_discriminator(latent_dim: int, width: int) -> nn.Sequential:
    return _mlp([latent_dim, width, width, width, 1], nn.LeakyReLU(0.2), norm_from=0)


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases, as in the authors' networks; conditional norms start neutral."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, Norm) and m.conditional:
            nn.init.zeros_(m.scale_shift.weight)
            nn.init.zeros_(m.scale_shift.bias)
        if isinstance(m, Generator) and m.input_skip:
            nn.init.zeros_(m.out.weight)


class CompositionGAN(nn.Module):
    """All networks of one model. `augmented` adds latent codes, encoders and latent discriminators."""

    def __init__(
        self, n_elements: int, width: int, blocks: int, augmented: bool, latent_dim: int = 1, input_skip: bool = False, discriminator_input: str = "fractions"
    ):
        super().__init__()
        self.augmented = augmented
        self.latent_dim = latent_dim if augmented else 0
        z = self.latent_dim
        self.G_AB = Generator(n_elements, width, blocks, z, input_skip)
        self.G_BA = Generator(n_elements, width, blocks, z, input_skip)
        if discriminator_input not in ("fractions", "log"):
            raise ValueError(f"discriminator_input must be 'fractions' or 'log', not {discriminator_input!r}")
        self.D_A = composition_discriminator(n_elements, width, discriminator_input == "log")
        self.D_B = composition_discriminator(n_elements, width, discriminator_input == "log")
        if augmented:
            self.E_A = Encoder(n_elements, width, z)
            self.E_B = Encoder(n_elements, width, z)
            self.D_zA = latent_discriminator(z, width)
            self.D_zB = latent_discriminator(z, width)
        init_weights(self)

    def generator_parameters(self):
        nets = [self.G_AB, self.G_BA] + ([self.E_A, self.E_B] if self.augmented else [])
        return [p for net in nets for p in net.parameters()]

    def discriminator_parameters(self):
        nets = [self.D_A, self.D_B] + ([self.D_zA, self.D_zB] if self.augmented else [])
        return [p for net in nets for p in net.parameters()]

    @torch.no_grad()
    def translate(self, c_a: torch.Tensor, z_b: torch.Tensor | None = None) -> torch.Tensor:
        """C'_B from C_A (and z_B for the augmented model)."""
        return self.G_AB(c_a, z_b if self.augmented else None)


def loss_names(augmented: bool) -> list[str]:
    """Column names of the per-epoch loss table, in the order the training loop records them."""
    if augmented:
        generator = ["gan_A", "gan_B", "gan_zA", "gan_zB", "cyc_A", "cyc_B", "cyc_zA", "cyc_zB"]
        return ["G", "D", *generator, "D_A", "D_B", "D_zA", "D_zB"]
    return ["G", "D", "gan_A", "gan_B", "cyc_A", "cyc_B", "D_A", "D_B"]


def lsgan(prediction: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss: 1/2 E[(D(x) - target)^2]."""
    return 0.5 * (prediction - target).pow(2).mean()


def generator_losses(model: CompositionGAN, a, b, z_a, z_b, cyc_weight: float, lambda_z: float):
    """Generator-side losses of one step, eqs 1-8, and the fakes for the discriminator step.

    Returns (total loss, named parts, fakes); fakes are reused, detached, by
    the discriminator step so nothing is generated twice.
    """
    if model.augmented:
        fake_b = model.G_AB(a, z_b)
        fake_a = model.G_BA(b, z_a)
        post_z_a = model.E_A(a, fake_b)  # z_A that explains C_A given its translation (eq 8)
        post_z_b = model.E_B(fake_a, b)
        rec_a = model.G_BA(fake_b, post_z_a)  # eq 5
        rec_b = model.G_AB(fake_a, post_z_b)
        rec_z_b = model.E_B(a, fake_b)  # eq 6
        rec_z_a = model.E_A(fake_a, b)
        parts = {
            "gan_A": lsgan(model.D_A(fake_a), 1.0),
            "gan_B": lsgan(model.D_B(fake_b), 1.0),
            "gan_zA": lsgan(model.D_zA(post_z_a), 1.0),
            "gan_zB": lsgan(model.D_zB(post_z_b), 1.0),
            "cyc_A": F.l1_loss(rec_a, a),
            "cyc_B": F.l1_loss(rec_b, b),
            "cyc_zA": F.l1_loss(rec_z_a, z_a),
            "cyc_zB": F.l1_loss(rec_z_b, z_b),
        }
        # eq 4: lambda_aug-cyc [L_cyc-A + L_cyc-B + lambda_z (L_cyc-zA + L_cyc-zB)] + L_GAN
        cycle = parts["cyc_A"] + parts["cyc_B"] + lambda_z * (parts["cyc_zA"] + parts["cyc_zB"])
        gan = parts["gan_A"] + parts["gan_B"] + parts["gan_zA"] + parts["gan_zB"]
        fakes = {"a": fake_a, "b": fake_b, "z_a": post_z_a, "z_b": post_z_b}
    else:
        fake_b, fake_a = model.G_AB(a), model.G_BA(b)
        parts = {
            "gan_A": lsgan(model.D_A(fake_a), 1.0),
            "gan_B": lsgan(model.D_B(fake_b), 1.0),
            "cyc_A": F.l1_loss(model.G_BA(fake_b), a),  # eq 3
            "cyc_B": F.l1_loss(model.G_AB(fake_a), b),
        }
        cycle = parts["cyc_A"] + parts["cyc_B"]
        gan = parts["gan_A"] + parts["gan_B"]
        fakes = {"a": fake_a, "b": fake_b}
    return gan + cyc_weight * cycle, parts, fakes


def discriminator_losses(model: CompositionGAN, a, b, z_a, z_b, fakes):
    """LSGAN discriminator losses on real data (target 1) and detached fakes (target 0)."""
    parts = {
        "D_A": lsgan(model.D_A(a), 1.0) + lsgan(model.D_A(fakes["a"].detach()), 0.0),
        "D_B": lsgan(model.D_B(b), 1.0) + lsgan(model.D_B(fakes["b"].detach()), 0.0),
    }
    if model.augmented:
        # The prior is the 'real' latent distribution; encoder outputs are the fakes.
        parts["D_zA"] = lsgan(model.D_zA(z_a), 1.0) + lsgan(model.D_zA(fakes["z_a"].detach()), 0.0)
        parts["D_zB"] = lsgan(model.D_zB(z_b), 1.0) + lsgan(model.D_zB(fakes["z_b"].detach()), 0.0)
    return sum(parts.values()), parts
