import copy

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
