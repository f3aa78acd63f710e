"""Resumable training state kept beside a job's declared output.

A checkpoint holds the settings it was written with, the step reached, and the
state of every stateful object (modules, optimisers, random generators), so
a resumed run continues exactly where the killed one stopped. A checkpoint
written with other settings is ignored rather than trusted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from compgen.io import atomic_path

log = logging.getLogger(__name__)


def _state(obj):
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _restore(obj, state) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


def save_checkpoint(path: Path, settings: dict, step: int, stateful: dict, extra: dict | None = None) -> None:
    state = {"settings": settings, "step": step, "extra": extra or {}, "state": {k: _state(v) for k, v in stateful.items()}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume_checkpoint(path: Path, settings: dict, stateful: dict) -> tuple[int, dict]:
    """Load `path` into the stateful objects when it was written with `settings`; return (step, extra)."""
    if not path.exists():
        return 0, {}
    # Loaded on the CPU: generator states must stay there; modules and optimisers copy to their device.
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["settings"] != settings:
        log.warning("ignoring checkpoint %s: it was written with other settings", path)
        return 0, {}
    for name, obj in stateful.items():
        _restore(obj, saved["state"][name])
    log.info("resuming from checkpoint %s at step %d", path, saved["step"])
    return saved["step"], saved["extra"]
