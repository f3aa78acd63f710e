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
    fraction=r"\d\.\d\d",
    unpaired="with|without",
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


# Fig. 6 of the paper: 0 to 0.7 in steps of 0.1 and 10 seeds. With three folds
# at most 2/3 of the can-pair B are outside a fold's test part, so 0.67 ends it.
ATMO_PAPER_SWEEP = {
    "fractions": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.67],
    "seeds": list(range(10)),
}


def atmo_pair():
    from compgen.atmo.data import pair_label

    return pair_label(config["atmo"]["amine_a"], config["atmo"]["amine_b"])


def atmo_training_config():
    """The atmo config with the paper-scale network swapped in when `paper_scale` is set."""
    cfg = dict(config["atmo"])
    if cfg["paper_scale"]:
        cfg["model"] = ATMO_PAPER_MODEL
        cfg["fraction_sweep"] = ATMO_PAPER_SWEEP
    return cfg


# Every atmo job needs the pairing and split; beyond that each gets only the
# sections it reads, so changing one stage's setting reruns that stage alone.
ATMO_SPLIT_KEYS = ("amine_a", "amine_b", "n_folds", "split_seed", "seeds")


def atmo_params(*sections):
    cfg = atmo_training_config()
    return {key: cfg[key] for key in (*ATMO_SPLIT_KEYS, *sections)}


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


def atmo_sweep_model_files(wildcards):
    """Every model of the paired-fraction sweep (Fig. 6), keyed fraction_unpaired_seed."""
    from compgen.atmo.study import sweep_points

    cfg = atmo_training_config()
    return {
        f"{fraction}_{unpaired}_{seed}": f"results/atmo/{atmo_pair()}/sweep/models/paired{fraction}_{unpaired}_seed{seed}.pt"
        for fraction, unpaired, seed in sweep_points(cfg)
    }


# --- elpasolite ------------------------------------------------------------------


def elpasolite_model_files(wildcards):
    """Every trained elpasolite generator, keyed model_seed."""
    return {
        f"cvae_{seed}": f"results/elpasolite/models/cvae_seed{seed}.pt"
        for seed in config["elpasolite"]["seeds"]
    }
