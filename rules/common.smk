import os
import re
import sys
from pathlib import Path

# Scripts import the compgen library from this checkout, whichever environment
# (venv, conda env, cluster node) runs them.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from compgen.registry import DATASETS  # noqa: E402

SOURCES = config["sources"]


wildcard_constraints:
    source="|".join(map(re.escape, SOURCES)),
    dataset="|".join(map(re.escape, DATASETS)),
    model="augcyc|cyclegan",
    fold=r"\d+",
    seed=r"\d+",


def raw_path(source):
    return f"results/raw/{source}"


def dataset_raw_inputs(wildcards):
    """The raw files a dataset is built from, named by source so the script can look them up."""
    return {
        source: raw_path(source) for source in DATASETS[wildcards.dataset]["sources"]
    }


# --- atmo ----------------------------------------------------------------------

# Table 1 of Ai et al. 2022 and their 10,000 epochs; width null = 2 x n_elements.
ATMO_PAPER_MODEL = {
    "width": None,
    "blocks": 20,
    "epochs": 10000,
    "lr": 2.0e-4,
    "lr_divider": 2.0,
    "lr_slowdown_param": 0.9806,
    "lr_slowdown_every": 50,
    "cyc_weight": 1.0,
    "lambda_z": 0.1,
    "input_skip": False,
}


def atmo_pair():
    from compgen.atmo.data import pair_label

    return pair_label(config["atmo"]["amine_a"], config["atmo"]["amine_b"])


def atmo_training_config():
    """The atmo config with the paper-scale network swapped in when `paper_scale` is set."""
    cfg = dict(config["atmo"])
    if cfg["paper_scale"]:
        cfg["model"] = ATMO_PAPER_MODEL
    return cfg


def atmo_runtime_minutes():
    return 600 if config["atmo"]["paper_scale"] else 30


def atmo_model_files(wildcards):
    """Every trained model of the study, keyed model_fold_seed."""
    cfg = config["atmo"]
    return {
        f"{model}_fold{fold}_seed{seed}": f"results/atmo/{atmo_pair()}/models/{model}_fold{fold}_seed{seed}.pt"
        for model in ("augcyc", "cyclegan")
        for fold in range(cfg["n_folds"])
        for seed in cfg["seeds"]
    }


def atmo_loss_files(wildcards):
    return {
        k: v.replace(".pt", "_losses.csv")
        for k, v in atmo_model_files(wildcards).items()
    }
