"""Static checks of the conda env files (conda itself cannot run on the CI machine)."""

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import ROOT

# conda-forge package names that differ from their PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}

_RULE = re.compile(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
_CONDA = re.compile(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", re.MULTILINE)


def _rules():
    found = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for name, body in _RULE.findall(smk.read_text()):
            env = _CONDA.search(body)
            found[name] = (smk, body, env.group(1) if env else None)
    return found


RULES = _rules()
# Rules that run something; the rest (all, datasets, raw) only gather targets.
JOB_RULES = sorted(name for name, (_, body, _) in RULES.items() if "script:" in body or "shell:" in body)
ENV_FILES = sorted({(smk.parent / env).resolve() for smk, _, env in RULES.values() if env})


def _pyproject_pins(extras: tuple[str, ...] = ()) -> dict[str, str]:
    """Package -> version of pyproject's dependencies and of the named extras; every one an exact pin."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in project["dependencies"] + [line for extra in extras for line in project["optional-dependencies"][extra]]:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"pyproject pins {line!r} loosely"
        pins[requirement.name.lower()] = spec.version
    return pins


def test_rules_were_found():
    assert {"fetch", "dataset", "dataset_figure", "dataset_summary"} <= set(JOB_RULES)


@pytest.mark.parametrize("rule", JOB_RULES)
def test_every_job_rule_has_an_existing_env_file_and_a_log(rule):
    smk, body, env = RULES[rule]
    assert env, f"rule {rule} in {smk.name} has no conda: env"
    assert (smk.parent / env).resolve().is_file(), f"rule {rule}: {env} does not exist"
    assert "log:" in body, f"rule {rule} has no log:"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_pinned_and_agrees_with_pyproject(env_file):
    env = yaml.safe_load(env_file.read_text())
    assert env["channels"][-1] == "nodefaults" and "defaults" not in env["channels"]
    pins = _pyproject_pins(extras=("mp",))
    requires_python = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    dependencies = []
    for dependency in env["dependencies"]:
        if isinstance(dependency, dict):  # a pip section, for what conda-forge lacks at the pinned version
            assert set(dependency) == {"pip"} and "pip" in {re.split("=", d)[0] for d in env["dependencies"] if isinstance(d, str)}
            dependencies += dependency["pip"]
        else:
            dependencies.append(dependency)
    for dependency in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==?([0-9][A-Za-z0-9.+]*)", dependency)
        assert match, f"{env_file.name}: {dependency!r} is not pinned to one version"
        name, version = match.group(1).lower(), match.group(2)
        if name == "python":
            assert requires_python.contains(f"{version}.0"), f"{env_file.name}: python {version} vs {requires_python}"
            continue
        pypi_name = CONDA_TO_PYPI.get(name, name)
        if pypi_name in pins:
            assert version == pins[pypi_name], f"{env_file.name}: {name} {version} but pyproject pins {pins[pypi_name]}"


def test_the_materials_project_env_carries_the_clients_pin():
    env = yaml.safe_load((ROOT / "envs" / "mp.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"mp-api=={_pyproject_pins(extras=('mp',))['mp-api']}" in pip
    assert RULES["mp_extract"][2] == "../envs/mp.yaml" and RULES["mp_api_dataset"][2] == "../envs/mp.yaml"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in _pyproject_pins().items():
        installed = version(name)
        # the CPU wheel of torch carries a local tag: 2.13.0+cpu
        assert installed.split("+")[0] == pinned, f"{name}: installed {installed}, pyproject pins {pinned}"


def test_gpu_rules_declare_their_resources_and_the_slurm_profile_places_them():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    gpu_rules = sorted(name for name, (_, body, _) in RULES.items() if "gpu=1" in body)
    assert {"atmo_train", "elpasolite_train"} <= set(gpu_rules)
    for name in gpu_rules:
        body = RULES[name][1]
        assert "mem_mb=" in body and "runtime=" in body, f"{name} lacks mem_mb or runtime"
        assert "slurm_partition" in profile["set-resources"].get(name, {}), f"{name} is not placed by profiles/slurm"
    # CPU jobs never ask for a GPU: no default does, and only GPU rules are placed on the GPU partition
    assert not {"gpu", "gres", "gpu_model"} & set(profile["default-resources"])
    placed_on_gpus = {name for name, resources in profile["set-resources"].items() if resources.get("slurm_partition") == "gpu"}
    assert placed_on_gpus == set(gpu_rules)
