"""The three elpasolite generators by name: settings, generating network, trainer; and loading a trained one."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from compgen.elpasolite import cvae, dqn, wgan


class GeneratorKind(NamedTuple):
    settings: type
    network: type  # what `run_updates` saves: it has `.sample`
    train: object


GENERATORS = {
    "cvae": GeneratorKind(cvae.CVAESettings, cvae.CVAE, cvae.train_cvae),
    "wgan": GeneratorKind(wgan.WGANSettings, wgan.Generator, wgan.train_wgan),
    "dqn": GeneratorKind(dqn.DQNSettings, dqn.QNetwork, dqn.train_dqn),
}


def load_generator(path: str | Path) -> nn.Module:
    """The generating network written by `run_updates`, on the CPU, in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    kind = GENERATORS[state["kind"]]
    network = kind.network(kind.settings(**state["settings"]))
    network.load_state_dict(state["model"])
    return network.eval()
