"""The workflow's settings: schema defaults, the papers' settings, and checks across keys.

`schemas/config.schema.yaml` is the one place a default lives; library
dataclasses take what a rule hands them. The settings of each paper are data in
`resources/<study>_paper.yaml` (value, source and the paper's own words) and
are laid over the config when a study's `paper_scale` is true. Settings that
are each valid but cannot work together are refused at start by `check`,
naming the keys.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"
RESOURCES = ROOT / "resources"


class ConfigError(ValueError):
    """Settings that are each valid but cannot work together."""


@functools.cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _defaults_of(node: dict):
    if "properties" in node:
        values = {name: _defaults_of(child) for name, child in node["properties"].items()}
        # an object's own default holds the settings its properties leave without one
        own = copy.deepcopy(node.get("default") or {})
        return own | {k: v for k, v in values.items() if v is not None or "default" in node["properties"][k]}
    return copy.deepcopy(node.get("default"))


def defaults(section: str) -> dict:
    """The schema's defaults under a dotted section, e.g. 'atmo.model' or 'elpasolite.cvae'."""
    node = schema()
    for part in section.split("."):
        node = node["properties"][part]
    return _defaults_of(node)


def paper_file(study: str) -> Path:
    return RESOURCES / f"{study}_paper.yaml"


def _values(node):
    """Strip the value/source/quote records of a paper file down to their values."""
    if isinstance(node, dict) and "value" in node:
        return copy.deepcopy(node["value"])
    return {key: _values(child) for key, child in node.items()}


@functools.cache
def _paper(study: str) -> dict:
    return yaml.safe_load(paper_file(study).read_text())


def paper_settings(study: str) -> dict:
    """The settings a study takes at paper scale: the paper's values, then the workflow's own intervals."""
    raw = _paper(study)
    settings = _values(raw["settings"])
    return overlay(settings, raw.get("workflow", {}))


def overlay(base: dict, over: dict) -> dict:
    """`base` with `over` laid over it, nested sections merged key by key (neither is changed)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def effective(config: dict, study: str) -> dict:
    """A study's section of the config, with the paper's settings laid over it when `paper_scale` is set."""
    section = copy.deepcopy(config[study])
    return overlay(section, paper_settings(study)) if section.get("paper_scale") else section


def check(config: dict) -> None:
    """Refuse settings that cannot work together; every message names the keys."""
    problems = []
    atmo = effective(config, "atmo")
    evaluation = atmo["evaluation"]
    if evaluation["n_sample_max"] < evaluation["n_sample"]:
        problems.append(
            f"atmo.evaluation.n_sample_max ({evaluation['n_sample_max']}) is below atmo.evaluation.n_sample ({evaluation['n_sample']}):"
            " the N_sample curve must reach the N_sample that Δ_sample uses"
        )
    if evaluation["z_max"] <= evaluation["z_min"]:
        problems.append(f"atmo.evaluation.z_max ({evaluation['z_max']}) must exceed atmo.evaluation.z_min ({evaluation['z_min']})")
    limit = (atmo["n_folds"] - 1) / atmo["n_folds"]
    fractions = atmo["fraction_sweep"]["fractions"]
    too_large = [f for f in fractions if f > limit + 0.005]
    if too_large:
        problems.append(
            f"atmo.fraction_sweep.fractions {too_large}: with atmo.n_folds = {atmo['n_folds']} at most"
            f" {limit:.2f} of the can-pair B lie outside a fold's test part"
        )
    from compgen.registry import fraction_label

    labels = [fraction_label(f) for f in fractions]
    clashes = sorted({label for label in labels if labels.count(label) > 1})
    if clashes:
        problems.append(f"atmo.fraction_sweep.fractions: several fractions are written as {clashes} in file names (two decimals)")
    if atmo["amine_a"] == atmo["amine_b"]:
        problems.append(f"atmo.amine_a and atmo.amine_b are the same amine ({atmo['amine_a']!r})")

    elpasolite = effective(config, "elpasolite")
    classes = [t["energy_class"] for t in elpasolite["targets"]]
    if len(set(classes)) != len(classes):
        problems.append(f"elpasolite.targets: each energy_class may appear once, got {classes}")
    hydrides = effective(config, "hydrides")
    if hydrides["d1"] >= hydrides["d2"]:
        problems.append(f"hydrides.d1 ({hydrides['d1']}) must be below hydrides.d2 ({hydrides['d2']})")
    elif hydrides["constraint"]["margin"] * 2 >= hydrides["d2"] - hydrides["d1"]:
        problems.append(
            f"hydrides.constraint.margin ({hydrides['constraint']['margin']}) leaves no room inside [hydrides.d1, hydrides.d2]"
            f" = [{hydrides['d1']}, {hydrides['d2']}]: it must be below half their gap"
        )
    if problems:
        raise ConfigError("config.yaml: " + "; ".join(problems))
