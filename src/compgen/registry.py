"""Every name that joins rules, scripts, plots and the config schema, defined once.

Kept free of heavy imports: the Snakefile reads it to wire rules together.

A `Key` is the stem of a file that one job writes and another reads (a trained
model, a sample file). The rules build output paths and input names from its
template, and the reading job parses the names back, so a file that does not
fit the template is an error rather than an input that silently drops out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

DATASETS = {
    "atmo": {"sources": ["atmo.csv"], "values": ["dimension"]},
    "elpasolite_dft": {"sources": ["elpasolite_train_set.pkl"], "values": ["e_form"]},
    "hydrides": {"sources": ["PdH_dataset.mat", "NiH_dataset.mat"], "values": ["cell_volume"]},
    "perovskites": {
        "sources": ["perov_5_val.csv", "perov_5_test.csv"],
        "values": ["heat_ref", "dir_gap", "ind_gap"],
    },
    "mp_e_form": {"sources": ["mp_e_form.csv"], "values": ["e_form"]},
    "mp_gap": {"sources": ["mp_gap.csv"], "values": ["band_gap"]},
}

UNITS = {
    "e_form": "eV/atom",
    "heat_ref": "eV",
    "dir_gap": "eV",
    "ind_gap": "eV",
    "band_gap": "eV",
    "cell_volume": "A^3",
    "dimension": "framework dimensionality",
}


class Key:
    """A file-stem template such as '{model}_fold{fold}_seed{seed}' with a pattern per field."""

    def __init__(self, template: str, **fields: str):
        self.template = template
        self.fields = fields
        names = re.findall(r"{(\w+)}", template)
        if sorted(names) != sorted(fields):
            raise ValueError(f"key {template!r}: fields {names} do not match patterns {sorted(fields)}")
        parts = re.split(r"{(\w+)}", template)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"({fields[p]})" for i, p in enumerate(parts))
        self.regex = re.compile(regex)

    def format(self, **values) -> str:
        key = self.template.format(**values)
        if not self.regex.fullmatch(key):
            raise ValueError(f"{values} does not make a valid {self.template!r} key")
        return key

    def parse(self, text: str) -> tuple | None:
        """The field values of `text` (whole numbers as int), or None when it is not such a key."""
        match = self.regex.fullmatch(text)
        if match is None:
            return None
        return tuple(int(g) if g.isdigit() else g for g in match.groups())

    def __repr__(self) -> str:
        return f"Key({self.template!r})"


def keyed_inputs(inputs: Mapping[str, str], key: Key, fixed: Iterable[str] = ()) -> dict[tuple, str]:
    """A job's named inputs other than `fixed`, keyed by the parsed `key`.

    Rules hand a job a variable number of files under names such as
    `augcyc_fold0_seed1`; this turns them back into ('augcyc', 0, 1). Any other
    name is an error: a model that does not fit must not vanish from a table.
    """
    fixed = set(fixed)
    found = {}
    for name, path in inputs.items():
        if name in fixed:
            continue
        parsed = key.parse(name)
        if parsed is None:
            raise ValueError(f"input {name!r} ({path}) is neither one of {sorted(fixed)} nor a {key.template!r} key")
        found[parsed] = path
    return found


# --- atmo ---------------------------------------------------------------------------

ATMO_MODELS = {"augcyc": True, "cyclegan": False}  # name -> augmented (has a latent z)
SWEEP_UNPAIRED = ("with", "without")

ATMO_MODEL = Key("{model}_fold{fold}_seed{seed}", model="|".join(ATMO_MODELS), fold=r"\d+", seed=r"\d+")
ATMO_SWEEP_MODEL = Key(
    "paired{fraction}_{unpaired}_seed{seed}", fraction=r"\d\.\d\d", unpaired="|".join(SWEEP_UNPAIRED), seed=r"\d+"
)


def fraction_label(fraction: float) -> str:
    """How a paired fraction of the Fig. 6 sweep appears in file names: two decimals."""
    return f"{fraction:.2f}"


def sweep_points(cfg: dict) -> list[tuple[str, str, int]]:
    """(paired fraction, 'with'/'without' unpaired data, seed) of every point of the Fig. 6 sweep."""
    sweep = cfg["fraction_sweep"]
    points = []
    for fraction in sweep["fractions"]:
        for unpaired in SWEEP_UNPAIRED:
            if unpaired == "without" and fraction == 0:
                continue  # no B left to train on
            points += [(fraction_label(fraction), unpaired, seed) for seed in sweep["seeds"]]
    return points


# --- elpasolite ---------------------------------------------------------------------

ELPASOLITE_GENERATORS = ("cvae", "wgan", "dqn")  # the `generators:` choices of the config
ELPASOLITE_BASELINES = ("uniform", "prevalence")
AGENT = "dqn"  # one agent is trained per target class: dqn_class1, dqn_class5, ...

_GENERATOR = "|".join([g for g in ELPASOLITE_GENERATORS if g != AGENT] + [rf"{AGENT}_class\d+"])
_SAMPLER = "|".join([*ELPASOLITE_BASELINES, _GENERATOR])

ELPASOLITE_SAMPLES = Key(
    "{sampler}_{n_train}_class{target}_seed{seed}", sampler=_SAMPLER, n_train=r"all|\d+", target=r"\d+", seed=r"\d+"
)

# --- hydrides -----------------------------------------------------------------------

# Step-2 variants of CrystalGAN and the form of the geometric constraint each trains with
# ('centred': the authors' code, which pulls every distance to the middle of [d1, d2]).
HYDRIDES_STEP2 = {"crystalgan": "none", "crystalgan_geo": "intended", "crystalgan_centred": "centred", "crystalgan_printed": "printed"}
HYDRIDES_BASELINE = "substitution"  # no network: ordered substitution of the training crystals
# step1_transfer: CrystalGAN's step 1 and its feature transfer, without step 2 (not the paper's
# DiscoGAN, which writes binaries only).
HYDRIDES_GENERATORS = (HYDRIDES_BASELINE, "noise_gan", "step1_transfer", *HYDRIDES_STEP2)  # the `generators:` choices
HYDRIDES_MODEL = Key("{hmodel}_seed{seed}", hmodel="|".join(["step1", "noise_gan", *HYDRIDES_STEP2]), seed=r"\d+")


def hydrides_models(generator: str) -> list[str]:
    """The trained models a generator's candidates need: none for the baseline, step 1 for the rest, and its own network."""
    if generator == HYDRIDES_BASELINE:
        return []
    return ["step1"] + ([] if generator == "step1_transfer" else [generator])


# The config keys each job reads: a job gets only these (`hydrides_job_config`), so changing d1, say,
# plans step 2 and what reads it again, not step 1 or the relaxation of the training crystals.
_HYDRIDES_TRAINING_KEYS = ("domains", "network", "training", "log_every", "checkpoint_every")
HYDRIDES_JOB_KEYS = {
    "step1": (*_HYDRIDES_TRAINING_KEYS, "lambdas"),
    "step2": (*_HYDRIDES_TRAINING_KEYS, "lambdas", "transfer", "d1", "d2", "constraint"),
    "step2_unconstrained": (*_HYDRIDES_TRAINING_KEYS, "lambdas", "transfer"),
    "noise_gan": (*_HYDRIDES_TRAINING_KEYS, "lambdas", "transfer"),
    "candidates": ("domains", "seeds", "generators", "transfer", "d1", "d2", "substitution"),
    "relax_known": ("domains", "relax"),
    "relax": ("domains", "seeds", "generators", "relax"),
}


def hydrides_job_config(cfg: dict, job: str) -> dict:
    """The part of the hydrides config that `job` reads; jobs without the constraint get lambda_1..4 only."""
    out = {key: cfg[key] for key in HYDRIDES_JOB_KEYS[job]}
    if job != "step2" and "lambdas" in out:
        out["lambdas"] = cfg["lambdas"][:4]
    if job == "relax_known":  # the training crystals' relaxation, not what is counted from it
        out["relax"] = {k: v for k, v in cfg["relax"].items() if k not in ("hull_threshold", "max_per_run", "generators")}
    return out


def hydrides_step2_job(variant: str) -> str:
    """Which entry of HYDRIDES_JOB_KEYS a step-2 variant's job is."""
    return "step2" if HYDRIDES_STEP2[variant] != "none" else "step2_unconstrained"


LATENT_VAES = ("composition", "xrd")
LATENT_TASKS = ("mp_formation_energy", "mp_formation_energy_si", "mp_metal", "perovskite_heat", "perovskite_gap")  # compgen.latent.properties.TASKS
LATENT_FEATURES = ("latent", "magpie", "fractions", "element_set")
LATENT_STRATEGIES = ("tpe", "gp", "rf", "random_box", "random_choice")
LATENT_TEST_FUNCTIONS = ("branin", "six_hump_camel", "rastrigin")
LATENT_PROPERTY = Key("{task}_{features}", task="|".join(LATENT_TASKS), features="|".join(LATENT_FEATURES))
LATENT_SEARCH = Key("{search_target}_{strategy}", search_target=r"[a-z][a-z0-9_]*", strategy="|".join(LATENT_STRATEGIES))

# Patterns of the workflow's wildcards, shared by every rule file.
WILDCARDS = {
    "vae": "|".join(LATENT_VAES),
    **LATENT_PROPERTY.fields,
    **LATENT_SEARCH.fields,
    "function": "|".join(LATENT_TEST_FUNCTIONS),
    **HYDRIDES_MODEL.fields,
    "variant": "|".join(HYDRIDES_STEP2),
    **ATMO_MODEL.fields,
    **ATMO_SWEEP_MODEL.fields,
    **ELPASOLITE_SAMPLES.fields,
    "generator": _GENERATOR,
}


def agent_name(target_class: int) -> str:
    return f"{AGENT}_class{target_class}"


def parse_generator(name: str) -> tuple[str, int | None]:
    """'cvae' -> ('cvae', None); 'dqn_class5' -> ('dqn', 5): an agent is trained for one target class."""
    kind, _, target = name.partition("_class")
    return kind, int(target) if target else None
