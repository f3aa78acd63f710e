"""Training of the composition GANs: one full-batch step per epoch, run by `compgen.training`.

Every epoch passes all of pool A once, each C_A paired with a C_B drawn at
random from pool B (so some B are seen twice, some not at all). Random draws
come from a generator on the training device, kept in the checkpoint, so a
killed job resumes to the same weights on the same kind of device.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

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
    discriminator_input: str  # fractions (the paper) or log: what the composition discriminators see
    ema_decay: float  # 0: the generators' last weights (the paper); else their moving average (`WeightAverage`)
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


def train_step(losses_of, opt_g, opt_d, a, b, z_a, z_b, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """One generator update, then one discriminator update on the same (detached) fakes.

    `losses_of(fn, *args)` evaluates fn(model, *args): for one model directly, for a
    `ModelStack` on every model at once. Returns the losses by `loss_names`, left on
    the device (one value per model for a stack).
    """
    autocast = torch.autocast(a.device.type, dtype=torch.bfloat16, enabled=settings.bf16)
    # The generator step needs gradients through the discriminators, not of their weights.
    for p in opt_d.param_groups[0]["params"]:
        p.requires_grad_(False)
    with autocast:
        loss_g, parts_g, fakes = losses_of(generator_losses, a, b, z_a, z_b, settings.cyc_weight, settings.lambda_z)
    opt_g.zero_grad(set_to_none=True)
    loss_g.sum().backward()  # the models of a stack share no weights: the sum's gradient is each one's own
    opt_g.step()
    for p in opt_d.param_groups[0]["params"]:
        p.requires_grad_(True)
    fakes = {name: fake.detach() for name, fake in fakes.items()}
    with autocast:
        loss_d, parts_d = losses_of(discriminator_losses, a, b, z_a, z_b, fakes)
    opt_d.zero_grad(set_to_none=True)
    loss_d.sum().backward()
    opt_d.step()
    values = [loss_g, loss_d, *parts_g.values(), *parts_d.values()]
    return dict(zip(loss_names(settings.augmented), (v.detach() for v in values), strict=True))


class _Call(nn.Module):
    """forward(fn, *args) = fn(module, *args): lets `functional_call` run any function of the module."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, fn, *args):
        return fn(self.module, *args)


class ModelStack(nn.Module):
    """Models of one architecture as one: each parameter and buffer stacked along a new first dimension.

    `per_model(fn, *args)` evaluates fn(model_k, *args_k) for every k at once
    (`torch.func.vmap` over the stacked weights: one batched matrix product
    where the models would each run their own), tensor arguments taken along
    their first dimension. An optimiser over the stacked parameters updates
    each model as its own optimiser would, since Adam works element by element.
    """

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        params, buffers = torch.func.stack_module_state(models)
        self.param_names, self.buffer_names = list(params), list(buffers)
        self.weights = nn.ParameterList(nn.Parameter(params[name]) for name in self.param_names)
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"buffer{i}", buffers[name])
        # Never registered: the shell only lends its structure, its meta tensors are never read.
        self._shell = [_Call(copy.deepcopy(models[0]).to("meta"))]

    def stacked(self, params_of_one: list[nn.Parameter], one: nn.Module) -> list[nn.Parameter]:
        """The stacked parameters of the given parameters of `one` (any model of the stack)."""
        wanted = {id(p) for p in params_of_one}
        return [self.weights[i] for i, (_, p) in enumerate(one.named_parameters()) if id(p) in wanted]

    def per_model(self, fn, *args):
        params = {f"module.{name}": w for name, w in zip(self.param_names, self.weights, strict=True)}
        buffers = {f"module.{name}": self.get_buffer(f"buffer{i}") for i, name in enumerate(self.buffer_names)}
        in_dims = tuple(0 if isinstance(arg, torch.Tensor | dict) else None for arg in args)

        def one(params, buffers, *args):
            return torch.func.functional_call(self._shell[0], (params, buffers), (fn, *args))

        return torch.func.vmap(one, in_dims=(0, 0, *in_dims))(params, buffers, *args)

    def state_dict_of(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's own state dict, as if it had been trained alone."""
        state = {name: w[k].detach().clone() for name, w in zip(self.param_names, self.weights, strict=True)}
        state.update({name: self.get_buffer(f"buffer{i}")[k].clone() for i, name in enumerate(self.buffer_names)})
        return state


class WeightAverage(nn.Module):
    """An exponential moving average of weights, kept as buffers so a checkpoint carries it.

    After update at epoch t, average <- average + (1 - d_t) (weights - average) with
    d_t = min(decay, (1 + t) / (10 + t)): the ramp keeps the initial weights from
    lingering in the average of a short run. Batch-norm statistics are not averaged;
    a model written with the average keeps those of its last weights.
    """

    def __init__(self, named_weights: list[tuple[str, torch.Tensor]], decay: float):
        super().__init__()
        self.names = [name for name, _ in named_weights]
        self.weights = [w for _, w in named_weights]
        self.decay = decay
        for i, w in enumerate(self.weights):
            self.register_buffer(f"average{i}", w.detach().clone())

    def averages(self) -> list[torch.Tensor]:
        return [self.get_buffer(f"average{i}") for i in range(len(self.weights))]

    @torch.no_grad()
    def update(self, epoch: int) -> None:
        decay = min(self.decay, (1 + epoch) / (10 + epoch))
        torch._foreach_lerp_(self.averages(), [w.detach() for w in self.weights], 1 - decay)


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
    return train_stack([settings], vectors_a, [vectors_b], [output], [losses_output], stop_after)


class StackTrainer:
    """The networks, optimisers and random draws of models that differ only in seed and pool B.

    Model k starts from the weights, draws the batches and z of, and takes the
    updates that training it alone would, batched: equal up to float rounding.
    One model runs as a plain `CompositionGAN`, several as a `ModelStack`. All
    share pool A, so every batch has the same shape.
    """

    def __init__(self, settings: list[TrainSettings], vectors_a: np.ndarray, vectors_b: list[np.ndarray], device: torch.device):
        if not len(settings) == len(vectors_b) > 0:
            raise ValueError(f"a stack needs one setting, pool B and output per model: {len(settings)} settings, {len(vectors_b)} pools B")
        if len({dataclasses.replace(s, seed=0) for s in settings}) > 1:
            raise ValueError(f"models of one stack may differ only in their seed: {settings}")
        self.settings = settings
        self.a = torch.as_tensor(vectors_a, dtype=torch.float32, device=device)
        self.bs = [torch.as_tensor(b, dtype=torch.float32, device=device) for b in vectors_b]
        models, self.generators = [], []
        for s in settings:
            torch.manual_seed(s.seed)  # initial weights, as a model trained alone draws them
            model = CompositionGAN(self.a.shape[1], s.width, s.blocks, s.augmented, input_skip=s.input_skip, discriminator_input=s.discriminator_input)
            models.append(model.to(device).train())
            self.generators.append(training.random_stream(s.seed, device))
        self.single = len(models) == 1
        self.latent_dim = models[0].latent_dim
        if self.single:
            self.net = models[0]
            generator_params, discriminator_params = self.net.generator_parameters(), self.net.discriminator_parameters()
        else:
            self.net = ModelStack(models)
            generator_params = self.net.stacked(models[0].generator_parameters(), models[0])
            discriminator_params = self.net.stacked(models[0].discriminator_parameters(), models[0])
        lr_g, lr_d = learning_rates(settings[0], 0)
        self.average = None
        if settings[0].ema_decay > 0:
            # Model k's state dict names its generator weights as `models[0]` does; a stack keeps them in that order.
            wanted = {id(p) for p in models[0].generator_parameters()}
            names = [name for name, p in models[0].named_parameters() if id(p) in wanted]
            if self.single:
                weights = [dict(self.net.named_parameters())[name] for name in names]
            else:
                weights = self.net.stacked(models[0].generator_parameters(), models[0])
            self.average = WeightAverage(list(zip(names, weights, strict=True)), settings[0].ema_decay)
        self.opt_g = adam(generator_params, lr_g)
        self.opt_d = adam(discriminator_params, lr_d)

    def losses_of(self, fn, *args):
        return fn(self.net, *args) if self.single else self.net.per_model(fn, *args)

    def step(self, epoch: int) -> dict[str, torch.Tensor]:
        lr_g, lr_d = learning_rates(self.settings[0], epoch)
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        n, device = self.a.shape[0], self.a.device
        # Each model draws from its own generator on the device: no host-to-GPU copy per epoch.
        b_batch, zs = [], []
        for b, generator in zip(self.bs, self.generators, strict=True):
            pick = torch.randint(len(b), (n,), generator=generator, device=device)
            zs.append(torch.randn(2, n, self.latent_dim, generator=generator, device=device) if self.latent_dim else torch.zeros(2, n, 0, device=device))
            b_batch.append(b[pick])
        z = torch.stack(zs, dim=1)  # 2 x models x n x latent_dim
        if self.single:
            losses = train_step(self.losses_of, self.opt_g, self.opt_d, self.a, b_batch[0], z[0, 0], z[1, 0], self.settings[0])
        else:
            a = self.a.expand(len(self.bs), *self.a.shape)
            losses = train_step(self.losses_of, self.opt_g, self.opt_d, a, torch.stack(b_batch), z[0], z[1], self.settings[0])
        if self.average is not None:
            self.average.update(epoch)
        return losses

    def model_state(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's state dict as written: with the averaged generator weights when there is an average."""
        state = self.net.state_dict() if self.single else self.net.state_dict_of(k)
        if self.average is not None:
            for name, average in zip(self.average.names, self.average.averages(), strict=True):
                state[name] = (average if self.single else average[k]).detach().clone()
        return state

    def stateful(self) -> dict:
        """What a checkpoint keeps (the one-model names are those of checkpoints written before stacks)."""
        rngs = {"rng": self.generators[0]} if self.single else {f"rng{k}": g for k, g in enumerate(self.generators)}
        average = {} if self.average is None else {"average": self.average}
        return {"model": self.net, "opt_g": self.opt_g, "opt_d": self.opt_d, **rngs, **average}


def train_stack(
    settings: list[TrainSettings],
    vectors_a: np.ndarray,
    vectors_b: list[np.ndarray],
    outputs: list[str | Path],
    losses_outputs: list[str | Path | None] | None = None,
    stop_after: int | None = None,
) -> pd.DataFrame | None:
    """Train models that differ only in seed and pool B as one stack (`StackTrainer`); one model file (and loss table) each.

    The checkpoint sits beside outputs[0]. Returns the losses (with a `model`
    column for more than one model); `stop_after` as in `train`.
    """
    losses_outputs = losses_outputs or [None] * len(outputs)
    if not len(settings) == len(outputs) == len(losses_outputs):
        raise ValueError(f"a stack needs one setting, pool B and output per model: {len(settings)} settings, {len(outputs)} outputs")
    trainer = StackTrainer(settings, vectors_a, vectors_b, training.pick_device())
    n_elements = trainer.a.shape[1]

    def finish(losses: pd.DataFrame) -> None:
        for k, (s, output, losses_output) in enumerate(zip(settings, outputs, losses_outputs, strict=True)):
            if losses_output is not None:
                own = losses if trainer.single else losses[losses["model"] == k].drop(columns="model")
                write_csv(own.reset_index(drop=True), losses_output)
            with atomic_path(output) as tmp:
                torch.save({"settings": dataclasses.asdict(s), "n_elements": n_elements, "model": trainer.model_state(k)}, tmp)

    first = settings[0]
    label = "augcyc" if first.augmented else "cyclegan"
    if trainer.single:
        checkpoint_settings = dataclasses.asdict(first)
    else:
        label = f"{label} x{len(settings)}"
        checkpoint_settings = {"stack": [dataclasses.asdict(s) for s in settings], "pool_b": [len(b) for b in trainer.bs]}
    loop = training.LoopSettings(first.epochs, first.log_every, first.checkpoint_every, first.seed, label=label, unit="epoch")
    return training.run(loop, trainer.step, trainer.stateful(), checkpoint_settings, outputs[0], finish, stop_after)


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[CompositionGAN, TrainSettings]:
    """A trained model in evaluation mode, read without unpickling arbitrary objects."""
    state = torch.load(path, map_location=device or "cpu", weights_only=True)
    # Models written before weight averaging existed hold their last weights.
    settings = TrainSettings(**{"ema_decay": 0.0, **state["settings"]})
    model = CompositionGAN(
        state["n_elements"],
        settings.width,
        settings.blocks,
        settings.augmented,
        input_skip=settings.input_skip,
        discriminator_input=settings.discriminator_input,
    )
    model.load_state_dict(state["model"])
    return model.to(device or "cpu").eval(), settings
