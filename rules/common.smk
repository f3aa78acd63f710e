import math
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

from compgen import config as settings  # noqa: E402
from compgen.registry import (  # noqa: E402
    ATMO_MODEL,
    ATMO_MODELS,
    ATMO_SWEEP_MODEL,
    DATASETS,
    ELPASOLITE_SAMPLES,
    HYDRIDES_MODEL,
    LATENT_PROPERTY,
    LATENT_SEARCH,
    WILDCARDS,
    agent_name,
    hydrides_job_config,
    hydrides_models,
    hydrides_step2_job,
    sweep_points,
)

settings.check(config)

SOURCES = config["sources"]
ATMO = settings.effective(config, "atmo")
ELPASOLITE = settings.effective(config, "elpasolite")


wildcard_constraints:
    **WILDCARDS,
    source="|".join(map(re.escape, SOURCES)),
    dataset="|".join(map(re.escape, DATASETS)),


def raw_path(source):
    return f"results/raw/{source}"


def dataset_raw_inputs(wildcards):
    """The raw files a dataset is built from, named by source so the script can look them up."""
    return {
        source: raw_path(source) for source in DATASETS[wildcards.dataset]["sources"]
    }


def runtime_minutes(steps, seconds_per_step, floor=10):
    """A cluster time limit: `floor` minutes plus three times the expected work."""
    return floor + math.ceil(3 * steps * seconds_per_step / 60)


# --- atmo ----------------------------------------------------------------------


def atmo_pair():
    from compgen.atmo.data import pair_label

    return pair_label(ATMO["amine_a"], ATMO["amine_b"])


# Every atmo job needs the pairing and split; beyond that each gets only the
# sections it reads, so changing one stage's setting reruns that stage alone.
ATMO_SPLIT_KEYS = ("amine_a", "amine_b", "n_folds", "split_seed", "seeds")


def atmo_params(*sections):
    return {key: ATMO[key] for key in (*ATMO_SPLIT_KEYS, *sections)}


def atmo_train_params(wildcards):
    """A training job's settings; the CycleGAN's own overrides only in its job, so changing them retrains only it."""
    own = ("cyclegan_model",) if wildcards.model == "cyclegan" else ()
    return atmo_params(
        "model", "log_every", "checkpoint_every", "stack_min_models", *own
    )


# Two CPU cores take about 0.036 s per residual block per epoch at the paper's
# width (0.72 s for its 20 blocks, bench/atmo_step.py).
ATMO_SECONDS_PER_BLOCK_EPOCH = 0.036


def atmo_train_minutes(n_models=1):
    """A stack trains its models at least as fast as one after another (bench/atmo_stack.py)."""
    model = ATMO["model"]
    return runtime_minutes(
        model["epochs"],
        n_models * ATMO_SECONDS_PER_BLOCK_EPOCH * max(model["blocks"], 1),
    )


# One training job per network and fold, its seeds stacked; with atmo.pack one per network, every
# fold of it (one large GPU busy with all of them). The sweep likewise: one job per paired fraction
# and with/without unpaired data (one pool A, so one stack), or with atmo.pack one for all.
ATMO_TRAIN_JOB = "{model}" if ATMO["pack"] else "{model}_fold{fold}"
# A job of one fold or sweep point trains few models one after another, where a second thread
# adds 20% (21.0 against 17.5 epochs/s) and a second job beside it 100%; a packed job's big
# stacks use both (29.3 model-epochs/s for 9 at 2 threads, 17.8 at 1; bench/atmo_stack.py).
ATMO_TRAIN_THREADS = 2 if ATMO["pack"] else 1
ATMO_SWEEP_JOB = "" if ATMO["pack"] else "_paired{fraction}_{unpaired}"


def atmo_train_files(suffix):
    """The files one training job writes, `{model}` (and per fold `{fold}`) left as its wildcards."""
    folds = range(ATMO["n_folds"]) if ATMO["pack"] else ["{fold}"]
    return [
        f"results/atmo/{atmo_pair()}/models/"
        + ATMO_MODEL.template.format(model="{model}", fold=fold, seed=seed)
        + suffix
        for fold in folds
        for seed in ATMO["seeds"]
    ]


def atmo_sweep_train_files(suffix):
    """The files one sweep training job writes: one point's seeds, or with atmo.pack every model of the sweep."""
    if ATMO["pack"]:
        return [
            path.replace(".pt", suffix)
            for path in atmo_sweep_model_files(None).values()
        ]
    return [
        f"results/atmo/{atmo_pair()}/sweep/models/"
        + ATMO_SWEEP_MODEL.template.format(
            fraction="{fraction}", unpaired="{unpaired}", seed=seed
        )
        + suffix
        for seed in ATMO["fraction_sweep"]["seeds"]
    ]


def atmo_tune_minutes():
    """Every call of the search trains one stack of a model per fold."""
    return ATMO["tuning"]["n_calls"] * atmo_train_minutes(ATMO["n_folds"])


def atmo_model_files(wildcards):
    """Every trained model of the study, named by its key."""
    return {
        key: f"results/atmo/{atmo_pair()}/models/{key}.pt"
        for key in (
            ATMO_MODEL.format(model=model, fold=fold, seed=seed)
            for model in ATMO_MODELS
            for fold in range(ATMO["n_folds"])
            for seed in ATMO["seeds"]
        )
    }


def atmo_loss_files(wildcards):
    return {
        key: path.replace(".pt", "_losses.csv")
        for key, path in atmo_model_files(wildcards).items()
    }


def atmo_sweep_model_files(wildcards):
    """Every model of the paired-fraction sweep (Fig. 6), named by its key."""
    keys = (
        ATMO_SWEEP_MODEL.format(fraction=fraction, unpaired=unpaired, seed=seed)
        for fraction, unpaired, seed in sweep_points(ATMO)
    )
    return {key: f"results/atmo/{atmo_pair()}/sweep/models/{key}.pt" for key in keys}


# --- elpasolite ------------------------------------------------------------------

# Seconds per update per (batch x hidden^2 x layers) on two CPU cores, from the
# paper-size agent (5 x 512, batch 250) at about 0.018 s per update.
ELPASOLITE_SECONDS_PER_UNIT = 5.5e-11
# Forward and backward passes per update relative to one network's: the VAE has
# an encoder and a decoder; the WGAN updates its critic `critic_updates` times,
# each with the gradient penalty's second backward pass.
ELPASOLITE_PASSES = {
    "cvae": lambda s: 2,
    "wgan": lambda s: (3 * s["critic_updates"] + 2) / 2,
    "dqn": lambda s: 2,
}


def elpasolite_generator_settings(wildcards):
    return ELPASOLITE[wildcards.generator.partition("_class")[0]]


def elpasolite_train_minutes(wildcards):
    kind = wildcards.generator.partition("_class")[0]
    s = ELPASOLITE[kind]
    unit = s["batch"] * s["hidden"] ** 2 * max(s["layers"], 1)
    return runtime_minutes(
        s["updates"], ELPASOLITE_SECONDS_PER_UNIT * unit * ELPASOLITE_PASSES[kind](s)
    )


# Generation runs at a few million compositions per minute.
ELPASOLITE_SECONDS_PER_SAMPLE = 2e-5


def elpasolite_samples_minutes(n_samples):
    return runtime_minutes(n_samples, ELPASOLITE_SECONDS_PER_SAMPLE)


def elpasolite_generator_names(target_classes=None):
    """cvae, wgan and one DQN agent per target class."""
    classes = target_classes or [t["energy_class"] for t in ELPASOLITE["targets"]]
    names = [g for g in ("cvae", "wgan") if g in ELPASOLITE["generators"]]
    return names + (
        [agent_name(c) for c in classes] if "dqn" in ELPASOLITE["generators"] else []
    )


def elpasolite_model_path(generator, n_train, seed):
    return f"results/elpasolite/models/{n_train}/{generator}_seed{seed}.pt"


def elpasolite_samples_path(sampler, n_train, target, seed):
    return f"results/elpasolite/samples/{n_train}/class{target}/{sampler}_seed{seed}.parquet"


def elpasolite_sample_inputs(wildcards):
    """A trained generator's file; the baselines need only the training set."""
    inputs = {"dft": "results/datasets/elpasolite_dft.parquet"}
    if wildcards.sampler not in ("uniform", "prevalence"):
        inputs["model"] = elpasolite_model_path(
            wildcards.sampler, wildcards.n_train, wildcards.seed
        )
    return inputs


def elpasolite_target_samples(wildcards):
    """How many valid samples the target class of a sample file asks for."""
    n = {t["energy_class"]: t["n_samples"] for t in ELPASOLITE["targets"]}
    return n[int(wildcards.target)]


def elpasolite_sample_files(wildcards):
    """Every sample file of the main study: models and baselines x targets x seeds, named by key."""
    files = {}
    for target in ELPASOLITE["targets"]:
        c = target["energy_class"]
        samplers = ["uniform", "prevalence", *elpasolite_generator_names([c])]
        for sampler in samplers:
            for seed in ELPASOLITE["seeds"]:
                key = ELPASOLITE_SAMPLES.format(
                    sampler=sampler, n_train="all", target=c, seed=seed
                )
                files[key] = elpasolite_samples_path(sampler, "all", c, seed)
    return files


def elpasolite_sweep_sample_files(wildcards):
    """Samples of the minority target from generators trained on subsets, and on the full set to close the curve."""
    minority = ELPASOLITE["targets"][0]["energy_class"]
    sweep = ELPASOLITE["training_size_sweep"]
    files = {}
    for generator in elpasolite_generator_names([minority]):
        for seed in sweep["seeds"]:
            for n_train in [*sweep["sizes"], "all"]:
                key = ELPASOLITE_SAMPLES.format(
                    sampler=generator, n_train=n_train, target=minority, seed=seed
                )
                files[key] = elpasolite_samples_path(generator, n_train, minority, seed)
    return files


# A sample file holds counts of distinct compositions (at most 1,974,024 rows however many
# samples), so a job that reads them takes about the same time per file.
ELPASOLITE_SECONDS_PER_SAMPLE_FILE = 3


def elpasolite_reader_minutes(files):
    return runtime_minutes(len(files), ELPASOLITE_SECONDS_PER_SAMPLE_FILE)


# --- hydrides --------------------------------------------------------------------

HYDRIDES = settings.effective(config, "hydrides")
HYDRIDES_DIR = "results/hydrides"
# Two CPU cores take about 14 s for a thousand epochs of step 1 and 40 s with the
# constraint (bench/hydrides_speed.py); CHGNet about 4 s a relaxation.
HYDRIDES_SECONDS_PER_EPOCH = 0.04
HYDRIDES_SECONDS_PER_RELAXATION = 10


def hydrides_model_path(model, seed):
    return f"{HYDRIDES_DIR}/models/{model}_seed{seed}.pt"


def hydrides_step1_model(wildcards):
    return hydrides_model_path("step1", wildcards.seed)


def hydrides_model_files(wildcards):
    """Every trained network the candidates need, named by key."""
    keys = {
        HYDRIDES_MODEL.format(hmodel=model, seed=seed)
        for generator in HYDRIDES["generators"]
        for model in hydrides_models(generator)
        for seed in HYDRIDES["seeds"]
    }
    return {key: f"{HYDRIDES_DIR}/models/{key}.pt" for key in sorted(keys)}


def hydrides_loss_files(wildcards):
    return {
        key: path.replace(".pt", "_losses.csv")
        for key, path in hydrides_model_files(wildcards).items()
    }


def hydrides_train_minutes():
    return runtime_minutes(
        HYDRIDES["training"]["epochs"], HYDRIDES_SECONDS_PER_EPOCH, floor=5
    )


def hydrides_relax_minutes(n_structures):
    return runtime_minutes(n_structures, HYDRIDES_SECONDS_PER_RELAXATION)


# --- Materials Project snapshot (opt-in: snakemake mp_extract) ------------------

MP_API_MANIFEST = "results/raw/mp_api/manifest.json"
MP_API_DATASETS = ("mp_e_form", "mp_gap", "mp_structures")


def mp_api_dataset(name):
    return f"results/datasets/mp_api/{name}.parquet"


# --- latent --------------------------------------------------------------------

LATENT = config["latent"]
# The source is part of every path of the study, so matbench and mp_api results never mix.
LATENT_FROM_MP_API = LATENT["source"] == "mp_api"
LATENT_NAME = "latent_mp_api" if LATENT_FROM_MP_API else "latent"
LATENT_DIR = f"results/{LATENT_NAME}"
LATENT_DATASETS = {
    name: (
        mp_api_dataset(name)
        if LATENT_FROM_MP_API
        else f"results/datasets/{name}.parquet"
    )
    for name in ("mp_e_form", "mp_gap")
} | {"perovskites": "results/datasets/perovskites.parquet"}
if LATENT_FROM_MP_API:
    LATENT_DATASETS["mp_structures"] = mp_api_dataset("mp_structures")
# The patterns the XRD VAE learns from: the perovskites', or with mp_api the MP structures' (the SI's).
LATENT_XRD_TRAINING = (
    f"{LATENT_DIR}/{'xrd_mp' if LATENT_FROM_MP_API else 'xrd'}.parquet"
)
LATENT_TASKS = LATENT["properties"]["tasks"] + (
    ["mp_formation_energy_si"] if LATENT_FROM_MP_API else []
)
# Measured on one thread each (the study's benchmarks/latent): an XRD VAE epoch over 6,058
# patterns takes 70 s, a composition VAE epoch over 85,600 formulas 1.2 s; the mean seconds of a proposal over the 7,572-material pool in
# 8 principal components, over runs of 100 evaluations (the study's benchmarks/latent/search).
LATENT_SECONDS_PER_EPOCH = {"composition": 1.2, "xrd": 70}
LATENT_SECONDS_PER_EVALUATION = {
    "gp": 0.05,
    "rf": 0.02,
    "tpe": 0.01,
    "random_box": 0.001,
    "random_choice": 0.001,
}


def latent_vae_inputs(wildcards):
    if wildcards.vae == "composition":
        return {name: LATENT_DATASETS[name] for name in ("mp_e_form", "mp_gap")}
    return {"xrd": LATENT_XRD_TRAINING}


def latent_encode_outputs():
    outputs = {
        "mp": f"{LATENT_DIR}/mp_latents.parquet",
        "perovskites": f"{LATENT_DIR}/perovskite_latents.parquet",
    }
    if LATENT_FROM_MP_API:
        outputs["mp_structures"] = f"{LATENT_DIR}/mp_structure_latents.parquet"
    return outputs


def latent_latents():
    """The latents a property model may read, named as the study reads them."""
    outputs = latent_encode_outputs()
    return {f"{key.removesuffix('s')}_latents": path for key, path in outputs.items()}


def latent_vae_minutes(wildcards):
    return runtime_minutes(
        LATENT[f"{wildcards.vae}_vae"]["epochs"],
        LATENT_SECONDS_PER_EPOCH[wildcards.vae],
    )


def latent_search_budget():
    search = LATENT["search"]
    return search["budgets"][search["budget"]]


def latent_search_minutes(wildcards):
    budget = latent_search_budget()
    # a surrogate's proposal grows with the materials it has seen: count the last one's cost for all
    scale = budget["evaluations"] / 100
    per = LATENT_SECONDS_PER_EVALUATION[wildcards.strategy] * scale**2
    return runtime_minutes(budget["evaluations"] * budget["seeds"], per)


# What each strategy reads in the race beside initial_points; a race job also gets its own
# target, the search space and the chosen budget alone, and a test-function job its own
# section, so changing one never plans the other again.
LATENT_STRATEGY_KEYS = {
    "tpe": ("tpe_candidates",),
    "gp": (),
    "rf": ("forest_trees",),
    "random_box": (),
    "random_choice": (),
}
LATENT_TEST_FUNCTION_KEYS = (
    "initial_points",
    "gp_points",
    "gp_restarts",
    "tpe_candidates",
    "test_functions",
)


def latent_race_params(wildcards):
    search = LATENT["search"]
    keys = ("initial_points", *LATENT_STRATEGY_KEYS[wildcards.strategy])
    return {
        "search": {
            **{key: search[key] for key in keys},
            "projection": search["projection"],
            "targets": [
                t for t in search["targets"] if t["name"] == wildcards.search_target
            ],
            "budget": search["budget"],
            "budgets": {search["budget"]: latent_search_budget()},
        }
    }


def latent_test_function_params(wildcards):
    search = LATENT["search"]
    return {"search": {key: search[key] for key in LATENT_TEST_FUNCTION_KEYS}}


def latent_property_files(kind):
    """{key: path} of every property model's fold scores or predictions."""
    suffix = {"folds": "_folds.csv", "predictions": ".parquet"}[kind]
    return {
        LATENT_PROPERTY.format(task=task, features=features): (
            f"{LATENT_DIR}/properties/{task}_{features}{suffix}"
        )
        for task in LATENT_TASKS
        for features in LATENT["properties"]["features"]
    }


def latent_search_files(wildcards):
    return {
        LATENT_SEARCH.format(search_target=t["name"], strategy=s): (
            f"{LATENT_DIR}/search/{t['name']}_{s}.parquet"
        )
        for t in LATENT["search"]["targets"]
        for s in LATENT["search"]["strategies"]
    }


# Every latent job needs the data selection and splits; beyond that each gets only the
# sections it reads, so changing, say, the search budget reruns the searches alone.
LATENT_SPLIT_KEYS = (
    "split_seed",
    "subsample",
    "composition_holdout",
    "xrd_holdout",
) + (("source", "mp_structures") if LATENT_FROM_MP_API else ())


def latent_params(*sections):
    return {key: LATENT[key] for key in (*LATENT_SPLIT_KEYS, *sections)}


def latent_vae_params(wildcards):
    return latent_params(f"{wildcards.vae}_vae")


# --- scorecard -----------------------------------------------------------------

RESOURCES_DIR = str(Path(workflow.basedir) / "resources")


def scorecard_inputs():
    """Every result file a declared scorecard row reads."""
    from compgen.scorecard import declared, result_path, rows

    placeholders = {"pair": atmo_pair()}
    return sorted(
        {
            str(result_path(row, "results", placeholders))
            for row in rows(RESOURCES_DIR)
            if declared(row, config)
        }
    )
