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
    generator=r"cvae|wgan|dqn_class\d+",
    n_train=r"all|\d+",


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


# Section 2.3 of Türk et al. 2022 and their 50 initialisations, for `paper_scale: true`.
ELPASOLITE_PAPER = {
    "seeds": list(range(50)),
    "targets": [
        {"energy_class": 1, "n_samples": 10_000},
        {"energy_class": 5, "n_samples": 25_000_000},
    ],
    "cvae": {
        "hidden": 256,
        "layers": 2,
        "latent": 8,
        "kl_weight": 0.1,
        "updates": 10_000,
        "batch": 500,
        "lr": 1.0e-3,
    },
    "wgan": {
        "hidden": 512,
        "layers": 1,
        "latent": 8,
        "gradient_penalty": 10.0,
        "critic_updates": 5,
        "updates": 200_000,
        "batch": 100,
        "lr": 1.0e-5,
        "log_every": 10_000,
        "checkpoint_every": 20_000,
    },
    "dqn": {
        "hidden": 512,
        "layers": 5,
        "gamma": 0.999,
        "target_sync": 10,
        "beta": 5.0,
        "updates": 800_000,
        "batch": 250,
        "lr": 1.0e-5,
        "log_every": 40_000,
        "checkpoint_every": 80_000,
    },
    # Fig. 8: 50 random subsets per size (the paper does not list its sizes)
    "training_size_sweep": {
        "sizes": [1000, 2000, 4000, 8000, 16000],
        "seeds": list(range(50)),
    },
}


def elpasolite_config():
    """The elpasolite config with the paper's settings laid over it when `paper_scale` is set."""
    cfg = dict(config["elpasolite"])
    if cfg["paper_scale"]:
        for key, value in ELPASOLITE_PAPER.items():
            cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    return cfg


def elpasolite_runtime_minutes(paper_scale):
    """Runtime for the cluster: 30 minutes by default, `paper_scale` minutes at the paper's scale."""
    return lambda wildcards: paper_scale if config["elpasolite"]["paper_scale"] else 30


def elpasolite_generator_settings(wildcards):
    return elpasolite_config()[wildcards.generator.partition("_class")[0]]


def elpasolite_generator_names():
    """cvae, wgan and one DQN agent per target class."""
    cfg = elpasolite_config()
    agents = [f"dqn_class{t['energy_class']}" for t in cfg["targets"]]
    return [g for g in ("cvae", "wgan") if g in cfg["generators"]] + (
        agents if "dqn" in cfg["generators"] else []
    )


def elpasolite_model_files(wildcards):
    """Every generator trained on the full set, keyed generator_seed."""
    return {
        f"{generator}_{seed}": f"results/elpasolite/models/all/{generator}_seed{seed}.pt"
        for generator in elpasolite_generator_names()
        for seed in elpasolite_config()["seeds"]
    }


def elpasolite_sweep_files(wildcards):
    """Generators trained on subsets of the training set for the minority target, keyed generator_size_seed."""
    cfg = elpasolite_config()
    minority = cfg["targets"][0]["energy_class"]
    names = [g if g != "dqn" else f"dqn_class{minority}" for g in cfg["generators"]]
    sweep = cfg["training_size_sweep"]
    files = {}
    for generator in names:
        for seed in sweep["seeds"]:
            for size in sweep["sizes"]:
                files[f"{generator}_{size}_{seed}"] = (
                    f"results/elpasolite/models/{size}/{generator}_seed{seed}.pt"
                )
            # the full training set closes the curve
            files[f"{generator}_all_{seed}"] = (
                f"results/elpasolite/models/all/{generator}_seed{seed}.pt"
            )
    return files
