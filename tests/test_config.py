import copy
import math

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import ROOT, run_workflow

SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")


def test_shipped_config_is_valid_and_gets_defaults(default_config):
    config = copy.deepcopy(default_config)
    del config["data_mirror"]
    validate(config, SCHEMA, set_default=True)
    assert config["data_mirror"] is None
    assert len(config["sources"]) == 9


@pytest.mark.parametrize(
    "break_config, named",
    [
        (lambda c: c.update(data_mirorr="/tmp"), "data_mirorr"),  # misspelt key
        (lambda c: c.update(data_mirror=3), "data_mirror"),  # wrong type
        (lambda c: c["sources"]["atmo.csv"].update(sha256="abc"), "sha256"),  # not a SHA-256
        (lambda c: c["sources"]["atmo.csv"].pop("commit"), "commit"),  # required key missing
        (lambda c: c["sources"]["mp_gap.csv"].update(url="http://x"), "url"),  # unknown nested key
        (lambda c: c["elpasolite"]["training_size_sweep"].update(sizes=[50_000]), "50000"),  # above the 21,112 rows
        (lambda c: c["elpasolite"].update(generators=["vae"]), "vae"),  # not one of cvae, wgan, dqn
        (lambda c: c["elpasolite"]["wgan"].update(betas=[0.5]), "betas"),  # Adam needs two
    ],
)
def test_broken_config_is_refused_naming_the_key(default_config, break_config, named):
    config = copy.deepcopy(default_config)
    break_config(config)
    with pytest.raises(WorkflowError, match=named):
        validate(config, SCHEMA, set_default=True)


def test_workflow_stops_at_start_on_an_unknown_key(tmp_path, default_config):
    config = copy.deepcopy(default_config) | {"epochs": 10}
    result = run_workflow(tmp_path, ["datasets"], config, None, "--dry-run")
    assert result.returncode != 0
    assert "'epochs' was unexpected" in result.stdout + result.stderr


# --- one source of truth -------------------------------------------------------------


def test_library_settings_have_no_defaults_of_their_own():
    import dataclasses

    from compgen.atmo.train import TrainSettings
    from compgen.elpasolite.generators import GENERATORS
    from compgen.hydrides.train import GANSettings

    for cls in [TrainSettings, GANSettings, *(kind.settings for kind in GENERATORS.values())]:
        with_default = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
        assert with_default == [], f"{cls.__name__} has defaults {with_default}: they belong in the schema"


def test_schema_sections_fill_every_setting_the_jobs_do_not():
    import dataclasses

    from compgen.atmo.train import TrainSettings
    from compgen.config import defaults
    from compgen.elpasolite.generators import GENERATORS

    job_given = {"seed", "augmented", "target_class", "log_every", "checkpoint_every"}
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    assert fields - job_given == set(defaults("atmo.model"))
    for kind, generator in GENERATORS.items():
        fields = {f.name for f in dataclasses.fields(generator.settings)}
        assert fields - {"seed", "target_class"} == set(defaults(f"elpasolite.{kind}")), kind


def test_generator_names_are_the_registrys_everywhere():
    from compgen.config import schema
    from compgen.elpasolite.generators import GENERATORS
    from compgen.hydrides.plots import LABELS
    from compgen.registry import ELPASOLITE_GENERATORS, HYDRIDES_GENERATORS

    studies = schema()["properties"]
    assert tuple(studies["elpasolite"]["properties"]["generators"]["items"]["enum"]) == ELPASOLITE_GENERATORS == tuple(GENERATORS)
    assert tuple(studies["hydrides"]["properties"]["generators"]["items"]["enum"]) == HYDRIDES_GENERATORS == tuple(LABELS)


NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10}


def _numbers(text: str) -> set[float]:
    import re

    found = {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*", text)}
    found |= {float(v) for w, v in NUMBER_WORDS.items() if re.search(rf"\b{w}\b", text)}
    if "million" in text:
        found |= {n * 1e6 for n in found}
    return found


def _records(node, path=()):
    if isinstance(node, dict) and "value" in node:
        yield ".".join(path), node
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _records(child, (*path, key))


@pytest.mark.parametrize("study", ["atmo", "elpasolite", "hydrides", "latent"])
def test_paper_settings_are_the_papers_numbers(study):
    """Each quoted setting's words stand in the paper, and carry its value (or, for a list, its length or largest number)."""
    import yaml

    from compgen.config import paper_file

    raw = yaml.safe_load(paper_file(study).read_text())
    paper = " ".join((ROOT.parent / "shared" / "papers" / raw["paper"]).read_text().split())
    quoted = 0
    for name, record in _records(raw["settings"]):
        assert record.get("source"), f"{study}: {name} says not where it comes from"
        if "quote" not in record:
            continue
        quote = " ".join(record["quote"].split())
        assert quote in paper, f"{study}: the quote of {name} is not in the paper: {quote!r}"
        value = record["value"]
        numbers = _numbers(quote)
        if isinstance(value, list) and all(isinstance(v, int) for v in value) and value == list(range(len(value))):
            assert len(value) in numbers, name  # seeds: their count
        elif isinstance(value, list) and all(isinstance(v, int) for v in value) and name.endswith(("units", "filters")):
            assert set(value) <= numbers, name  # layer widths: each one
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            assert max(v["n_samples"] for v in value) in numbers, name  # targets: the largest sample count
        elif isinstance(value, list):
            assert min(value) in numbers and max(value) <= max(numbers), name  # a range the paper bounds
        else:
            assert float(value) in numbers, f"{study}: {name} = {value} is not in {quote!r}"
        quoted += 1
    assert quoted >= 8


def test_hydrides_defaults_are_the_papers_settings_but_the_measured_deviations():
    from compgen.config import defaults, effective, paper_settings

    paper, config = paper_settings("hydrides"), defaults("hydrides")
    deviations = {"transfer", "constraint"}  # docs/hydrides.md, ablation
    for key, value in paper.items():
        if key not in deviations:
            assert config[key] == (config[key] | value if isinstance(value, dict) else value), key
    assert (config["transfer"], config["constraint"]["keep"]) == ("alternate", "lowest_constraint") and config["constraint"]["margin"] > 0
    protocol = effective({"hydrides": config | {"paper_scale": True}}, "hydrides")
    assert (protocol["transfer"], protocol["lambdas"], protocol["constraint"]) == ("fill", [1.0] * 6, {"margin": 0.0, "keep": "last"})


def test_latent_defaults_are_the_sis_settings():
    from compgen.config import defaults, paper_settings
    from compgen.latent.xrd import XRDSettings

    paper, config = paper_settings("latent"), defaults("latent")
    for vae in ("composition_vae", "xrd_vae"):
        for key, value in paper[vae].items():
            assert config[vae][key] == value, f"{vae}.{key}"
    xrd = config["xrd"]
    grid = XRDSettings(xrd["two_theta_min"], xrd["two_theta_max"], xrd["step"], xrd["fwhm"], xrd["wavelength"], xrd["symprec"]).grid
    assert len(grid) == paper["xrd"]["two_theta_points"]


def test_paper_scale_lays_the_papers_settings_over_the_config(default_config):
    from compgen.config import effective

    config = copy.deepcopy(default_config)
    validate(config, SCHEMA, set_default=True)
    assert effective(config, "atmo")["model"]["blocks"] == 2  # laptop default
    config["atmo"]["paper_scale"] = config["elpasolite"]["paper_scale"] = True
    atmo = effective(config, "atmo")
    assert atmo["model"] | {"bf16": False} == {
        "width": None, "blocks": 20, "epochs": 10000, "lr": 2e-4, "lr_divider": 2.0, "lr_slowdown_param": 0.9806,
        "lr_slowdown_every": 50, "cyc_weight": 1.0, "lambda_z": 0.1, "input_skip": False, "bf16": False,
        "discriminator_input": "fractions", "ema_decay": 0.0,
    }  # fmt: skip
    assert atmo["cyclegan_model"] == {"lr_slowdown_param": 0.9806, "cyc_weight": 1.0}
    assert len(atmo["fraction_sweep"]["seeds"]) == 10
    elpasolite = effective(config, "elpasolite")
    assert elpasolite["wgan"]["updates"] == 200_000 and elpasolite["wgan"]["lr"] == 1e-5
    assert elpasolite["wgan"]["betas"] == [0.5, 0.9]  # not a paper setting: the config's value stays
    assert elpasolite["dqn"]["log_every"] == 40_000  # the workflow's interval for long runs
    assert elpasolite["targets"][1] == {"energy_class": 5, "n_samples": 25_000_000}


@pytest.mark.parametrize(
    "break_config, named",
    [
        (
            lambda c: c["atmo"]["evaluation"].update(n_sample=50, n_sample_max=10),
            r"atmo\.evaluation\.n_sample_max \(10\) is below atmo\.evaluation\.n_sample \(50\)",
        ),
        (lambda c: c["atmo"]["fraction_sweep"].update(fractions=[0.0, 0.8]), r"atmo\.fraction_sweep\.fractions \[0\.8\]: with atmo\.n_folds = 3"),
        (
            lambda c: c["atmo"]["fraction_sweep"].update(fractions=[0.331, 0.333]),
            r"atmo\.fraction_sweep\.fractions: several fractions are written as \['0\.33'\]",
        ),
        (lambda c: c["atmo"].update(amine_b="CNC"), r"atmo\.amine_a and atmo\.amine_b are the same"),
        (lambda c: c["atmo"]["evaluation"].update(z_min=1.0, z_max=-1.0), r"atmo\.evaluation\.z_max"),
        (lambda c: c["elpasolite"].update(targets=[{"energy_class": 1, "n_samples": 5}] * 2), r"elpasolite\.targets: each energy_class"),
        (lambda c: c["hydrides"].update(constraint={"margin": 0.6}), r"hydrides\.constraint\.margin \(0\.6\) leaves no room"),
    ],
)
def test_settings_that_cannot_work_together_are_refused_naming_the_keys(default_config, break_config, named):
    from compgen.config import ConfigError, check

    config = copy.deepcopy(default_config)
    validate(config, SCHEMA, set_default=True)
    check(config)  # the shipped config passes
    break_config(config)
    with pytest.raises(ConfigError, match=named):
        check(config)


def test_workflow_refuses_settings_that_cannot_work_together_at_start(tmp_path, default_config):
    config = copy.deepcopy(default_config)
    config["atmo"]["evaluation"] = {"n_sample": 50, "n_sample_max": 10}
    result = run_workflow(tmp_path, ["datasets"], config, None, "--dry-run")
    assert result.returncode != 0
    assert "atmo.evaluation.n_sample_max (10) is below atmo.evaluation.n_sample (50)" in result.stdout + result.stderr


def _dry_run_resources(tmp_path, config):
    """Rule name and resources of every job a dry run of the whole workflow schedules."""
    import re

    result = run_workflow(tmp_path, ["all", "atmo_tune"], config, None, "--dry-run")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=\n\n)", result.stdout, re.S | re.M)
    assert len(jobs) > 50
    return [(rule, dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"resources: (.*)", body).group(1)))) for rule, body in jobs if rule != "all"]


def test_every_job_declares_memory_and_runtime_and_runtimes_follow_the_config(tmp_path, default_config):
    config = copy.deepcopy(default_config)
    default = _dry_run_resources(tmp_path / "default", config)
    missing = sorted({rule for rule, res in default if "mem_mb" not in res or "runtime" not in res})
    assert missing == [], f"rules without mem_mb or runtime: {missing}"
    gpu_rules = {rule for rule, res in default if res.get("gpu") == "1"}
    assert gpu_rules == {
        "atmo_train", "atmo_sweep_train", "atmo_tune", "elpasolite_train", "hydrides_step1", "hydrides_step2", "hydrides_noise_gan", "latent_vae"
    }  # fmt: skip
    runtime = {rule: int(res["runtime"]) for rule, res in default}
    # atmo_tune trains n_calls (50) x n_folds models, a per-fold atmo_train job its fold's seeds (one here)
    assert runtime["atmo_tune"] == 50 * (10 + math.ceil(3 * 800 * 3 * 0.036 * 2 / 60))
    assert runtime["atmo_train"] == 10 + math.ceil(3 * 800 * 1 * 0.036 * 2 / 60)  # 1 model of 2 blocks, 800 epochs
    assert runtime["atmo_sweep_train"] == 10 + math.ceil(3 * 800 * 3 * 0.036 * 2 / 60)  # a sweep point: 3 seeds
    config["atmo"]["paper_scale"] = True
    paper = {rule: int(res["runtime"]) for rule, res in _dry_run_resources(tmp_path / "paper", config)}
    assert paper["atmo_train"] > 10 * runtime["atmo_train"]
