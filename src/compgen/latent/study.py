"""The jobs of the latent study: read inputs, call the library, write outputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from compgen.io import read_table, write_csv, write_table
from compgen.latent import plots
from compgen.latent.data import composition_split, fraction_matrix, material_split
from compgen.latent.evaluate import composition_reconstruction, race_runs, race_summary, race_verdicts, top_set, xrd_reconstruction
from compgen.latent.properties import TASKS, cross_validate, feature_matrix, group_folds
from compgen.latent.search import TEST_FUNCTIONS, SearchSettings, minimise, race
from compgen.latent.xrd import XRDSettings, patterns

log = logging.getLogger(__name__)


def xrd_schema(material_id: pa.DataType) -> pa.Schema:
    """Patterns keyed by the dataset's material id (an integer for perov_5, 'mp-149' for the Materials Project)."""
    return pa.schema(
        [
            pa.field("material_id", material_id, nullable=False),
            pa.field("crystal_system", pa.string(), nullable=False),
            pa.field("spacegroup", pa.int16(), nullable=False),
            pa.field("pattern", pa.list_(pa.float32()), nullable=False),
        ]
    )


XRD_SCHEMA = xrd_schema(pa.int64())


def source(cfg: dict) -> str:
    """Where the study's MP tables come from: 'matbench' or 'mp_api' (the snapshot of `snakemake mp_extract`)."""
    return cfg.get("source", "matbench")


def read_dataset(path, name: str, cfg: dict) -> pd.DataFrame:
    """A dataset of the study; a seeded subsample of its rows when `latent.subsample.<name>` (or, for MP structures, `latent.mp_structures`) is set."""
    table = read_table(path)
    limit = cfg.get("mp_structures") if name == "mp_structures" else cfg["subsample"].get(name)
    if limit is not None and limit < len(table):
        log.info("%s: a subsample of %d of %d rows (latent.subsample)", name, limit, len(table))
        table = table.sample(n=limit, random_state=cfg["split_seed"]).sort_index().reset_index(drop=True)
    return table


def _vectors(column: pd.Series) -> np.ndarray:
    return np.stack(column.to_numpy()).astype(np.float32)


def xrd_job(structures_path, cfg: dict, output, threads: int, dataset: str = "perovskites") -> None:
    """The XRD patterns of a structure dataset: the perovskites, or (source mp_api) the MP structures the XRD VAE learns from."""
    structures = read_dataset(structures_path, dataset, cfg)
    table = patterns(structures, XRDSettings(**cfg["xrd"]), workers=threads)
    log.info("crystal systems: %s", table["crystal_system"].value_counts().to_dict())
    write_table(table, output, xrd_schema(pa.string() if dataset == "mp_structures" else pa.int64()))


# --- the two VAEs ------------------------------------------------------------------


def mp_formulas(inputs: dict, cfg: dict) -> pd.DataFrame:
    """Every distinct formula of the two Materials Project tables and whether the composition VAE holds it out."""
    e_form, gap = read_dataset(inputs["mp_e_form"], "mp_e_form", cfg), read_dataset(inputs["mp_gap"], "mp_gap", cfg)
    return composition_split(e_form, gap, cfg["composition_holdout"], cfg["split_seed"])


def xrd_holdout(xrd: pd.DataFrame, cfg: dict) -> np.ndarray:
    """Which structures of the XRD VAE's dataset it never sees (perovskites; MP structures with source mp_api)."""
    return material_split(xrd["material_id"].to_numpy(), cfg["xrd_holdout"], cfg["split_seed"])


def perovskite_xrd_holdout(xrd: pd.DataFrame, cfg: dict) -> np.ndarray:
    """Which perovskites the XRD VAE never saw: with source mp_api it learnt from MP structures only, so none."""
    return xrd_holdout(xrd, cfg) if source(cfg) == "matbench" else np.ones(len(xrd), dtype=bool)


def vae_data(vae: str, inputs: dict, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, held-out mask) of the VAE's structures, split as the config says."""
    if vae == "composition":
        split = mp_formulas(inputs, cfg)
        return fraction_matrix(split["formula"]), split["holdout"].to_numpy()
    xrd = read_table(inputs["xrd"])
    return _vectors(xrd["pattern"]), xrd_holdout(xrd, cfg)


def vae_settings(vae: str, cfg: dict):
    from compgen.latent.train import VAESettings

    return VAESettings.from_config(vae, cfg[f"{vae}_vae"], log_every=cfg[f"{vae}_vae"]["log_every"])


def vae_job(vae: str, inputs: dict, cfg: dict, outputs, threads: int, stop_after: int | None = None) -> None:
    """Train one VAE and score its reconstruction of the held-out structures."""
    from compgen.latent.train import latent_dimensions, load_vae, reconstruct, train_vae
    from compgen.training import use_threads

    use_threads(threads)
    x, holdout = vae_data(vae, inputs, cfg)
    log.info("%s VAE: %d structures for training, %d held out", vae, (~holdout).sum(), holdout.sum())
    if train_vae(vae_settings(vae, cfg), x[~holdout], x[holdout], outputs.model, outputs.losses, stop_after) is None:
        return
    model = load_vae(outputs.model)
    decoded = reconstruct(model, x[holdout])
    if vae == "composition":
        scores = composition_reconstruction(x[holdout], decoded, cfg["composition_vae"]["decode_threshold"])
    else:
        scores = xrd_reconstruction(x[holdout], decoded)
        # what a decoder that ignored its input would score: the mean training pattern
        average = np.repeat(x[~holdout].mean(axis=0, keepdims=True), holdout.sum(), axis=0)
        scores["cosine_mean_of_average_pattern"] = xrd_reconstruction(x[holdout], average)["cosine_mean"]
    dimensions = latent_dimensions(model, x[holdout])
    scores |= {"active_units": int(dimensions["active"].sum()), "latent": len(dimensions), "kl": float(dimensions["kl"].sum())}
    log.info("held-out reconstruction: %s", scores)
    log.info("held-out KL per latent dimension (nats): %s", " ".join(f"{v:.2f}" for v in dimensions["kl"]))
    write_csv(dimensions, outputs.dimensions)
    write_csv(pd.DataFrame([{"vae": vae, **scores}]), outputs.reconstruction)


# --- latents -------------------------------------------------------------------------


def encode_job(inputs: dict, cfg: dict, outputs) -> None:
    """Composition latents of every MP formula; composition + XRD latents of every perovskite and (source mp_api) of the MP structures."""
    from compgen.latent.train import encode, load_vae

    composition_vae, xrd_vae = load_vae(inputs["composition_vae"]), load_vae(inputs["xrd_vae"])
    split = mp_formulas(inputs, cfg)
    z = encode(composition_vae, fraction_matrix(split["formula"]))
    write_table(split.assign(z=list(z)), outputs.mp, MP_LATENT_SCHEMA)
    if source(cfg) == "mp_api":
        structures = read_dataset(inputs["mp_structures"], "mp_structures", cfg)
        xrd = read_table(inputs["xrd_mp"]).set_index("material_id").loc[structures["material_id"]].reset_index()
        table = pd.DataFrame(
            {"material_id": structures["material_id"], "formula": structures["formula"], "e_form": structures["e_form"],
             "crystal_system": xrd["crystal_system"], "xrd_holdout": xrd_holdout(xrd, cfg),
             "z_composition": list(encode(composition_vae, fraction_matrix(structures["formula"]))), "z_xrd": list(encode(xrd_vae, _vectors(xrd["pattern"])))}
        )  # fmt: skip
        log.info("MP structures: %d encoded, %d of them never seen by the XRD VAE", len(table), table["xrd_holdout"].sum())
        write_table(table, outputs.mp_structures, MP_STRUCTURE_LATENT_SCHEMA)
    perovskites = read_dataset(inputs["perovskites"], "perovskites", cfg)
    xrd = read_table(inputs["xrd"]).set_index("material_id").loc[perovskites["material_id"]].reset_index()
    z_composition = encode(composition_vae, fraction_matrix(perovskites["formula"]))
    z_xrd = encode(xrd_vae, _vectors(xrd["pattern"]))
    holdout = perovskite_xrd_holdout(xrd, cfg)
    table = pd.DataFrame(
        {"material_id": perovskites["material_id"], "formula": perovskites["formula"], "heat_ref": perovskites["heat_ref"],
         "ind_gap": perovskites["ind_gap"], "dir_gap": perovskites["dir_gap"], "crystal_system": xrd["crystal_system"], "xrd_holdout": holdout,
         "z_composition": list(z_composition), "z_xrd": list(z_xrd)}  # fmt: skip
    )
    write_table(table, outputs.perovskites, PEROVSKITE_LATENT_SCHEMA)


MP_LATENT_SCHEMA = pa.schema(
    [pa.field("formula", pa.string(), nullable=False), pa.field("holdout", pa.bool_(), nullable=False), pa.field("z", pa.list_(pa.float32()), nullable=False)]
)


def _structure_latent_schema(material_id: pa.DataType, targets: list[str]) -> pa.Schema:
    """Latents of a structure dataset: its id, formula and targets, the crystal system, and both latents."""
    return pa.schema(
        [pa.field("material_id", material_id, nullable=False), pa.field("formula", pa.string(), nullable=False)]
        + [pa.field(target, pa.float64(), nullable=False) for target in targets]
        + [
            pa.field("crystal_system", pa.string(), nullable=False),
            pa.field("xrd_holdout", pa.bool_(), nullable=False),
            pa.field("z_composition", pa.list_(pa.float32()), nullable=False),
            pa.field("z_xrd", pa.list_(pa.float32()), nullable=False),
        ]
    )


PEROVSKITE_LATENT_SCHEMA = _structure_latent_schema(pa.int64(), ["heat_ref", "ind_gap", "dir_gap"])
MP_STRUCTURE_LATENT_SCHEMA = _structure_latent_schema(pa.string(), ["e_form"])


def joint_latent(structures: pd.DataFrame) -> np.ndarray:
    """Composition latent and XRD latent side by side (24 + 64 = 88 numbers per structure)."""
    return np.hstack([_vectors(structures["z_composition"]), _vectors(structures["z_xrd"])])


# --- property models -----------------------------------------------------------------


def property_rows(task_name: str, inputs: dict, cfg: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(rows with formula and target, latent features, composition fractions) of one task."""
    task = TASKS[task_name]
    if task.latent == "joint":
        rows = read_table(inputs["mp_structure_latents" if task.dataset == "mp_structures" else "perovskite_latents"])
        return rows[["material_id", "formula", task.target]].rename(columns={task.target: "y"}), joint_latent(rows), fraction_matrix(rows["formula"])
    rows = read_dataset(inputs[task.dataset], task.dataset, cfg)
    latents = read_table(inputs["mp_latents"]).set_index("formula")["z"]
    z = _vectors(latents.loc[rows["formula"]].reset_index(drop=True))
    return rows[["formula", task.target]].rename(columns={task.target: "y"}), z, fraction_matrix(rows["formula"])


PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("formula", pa.string(), nullable=False),
        pa.field("fold", pa.int32(), nullable=False),
        pa.field("y", pa.float64(), nullable=False),
        pa.field("prediction", pa.float64(), nullable=False),
    ]
)


def property_job(task_name: str, features: str, inputs: dict, cfg: dict, outputs, threads: int) -> None:
    task = TASKS[task_name]
    rows, latent, fractions = property_rows(task_name, inputs, cfg)
    X = feature_matrix(features, latent, fractions)
    s = cfg["properties"]
    fold = group_folds(rows["formula"].to_numpy(), s["folds"], s["seed"])
    y = rows["y"].to_numpy(dtype=float)
    log.info("%s on %s features: %d rows x %d features, %d folds", task_name, features, *X.shape, s["folds"])
    prediction, scores = cross_validate(X, y, fold, task.kind, s["xgboost"], s["seed"], threads, f"{task_name} / {features}")
    target = y if task.kind == "regression" else (y > 0).astype(float)
    write_table(pd.DataFrame({"formula": rows["formula"], "fold": fold, "y": target, "prediction": prediction}), outputs.predictions, PREDICTION_SCHEMA)
    write_csv(scores.assign(task=task_name, features=features), outputs.folds)


def properties_summary_job(fold_files: dict, prediction_files: dict, cfg: dict, outputs) -> None:
    """The property-model table beside the SI's numbers, parity plots (S6) and ROC curves (S7); `protocol` says what each row's model read."""
    rows = []
    for (task_name, features), path in fold_files.items():
        folds = pd.read_csv(path)
        task = TASKS[task_name]
        for metric in [c for c in folds.columns if c not in ("fold", "n_test", "task", "features")]:
            rows.append({"task": task_name, "label": task.label, "features": features, "n": int(folds["n_test"].sum()), "metric": metric,
                         "mean": folds[metric].mean(), "sd": folds[metric].std(ddof=1), "si": task.paper.get(metric, np.nan),
                         "si_protocol": task.paper_protocol.format(source=source(cfg)) if metric in task.paper else "",
                         "protocol": task.protocol(source(cfg), features)})  # fmt: skip
    write_csv(pd.DataFrame(rows), outputs.table)
    # the figures keep the SI's form, latent beside Magpie; the references are in the table
    predictions = {key: read_table(path) for key, path in prediction_files.items() if key[1] in ("latent", "magpie")}
    plots.parity(predictions, {k: t.label for k, t in TASKS.items() if t.kind == "regression"}, outputs.parity_png, outputs.parity_csv)
    plots.roc(predictions, {k: t.label for k, t in TASKS.items() if t.kind == "classification"}, outputs.roc_png, outputs.roc_csv)


# --- the search race -----------------------------------------------------------------


def search_settings(cfg: dict) -> SearchSettings:
    """The strategies' settings; a job is handed only those its strategies read (rules/common.smk), the rest stay None."""
    import dataclasses

    s = cfg["search"]
    return SearchSettings(**{f.name: s.get(f.name) for f in dataclasses.fields(SearchSettings)})


def search_budget(cfg: dict) -> dict:
    s = cfg["search"]
    return s["budgets"][s["budget"]]


def search_target(cfg: dict, name: str) -> dict:
    return next(t for t in cfg["search"]["targets"] if t["name"] == name)


def target_values(y: np.ndarray, aim) -> np.ndarray:
    """What a race minimises: the property itself (aim 'lowest'), its negative ('highest'), or its distance to a number."""
    y = np.asarray(y, dtype=float)
    if aim == "lowest":
        return y
    if aim == "highest":
        return -y
    return np.abs(y - float(aim))


def search_pool(perovskites: pd.DataFrame, target: dict, projection: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A target's race runs over every perovskite: their points in the search space and the values to minimise."""
    from compgen.latent.search import project

    return project(joint_latent(perovskites), projection), target_values(perovskites[target["column"]].to_numpy(), target["aim"])


RUN_SCHEMA = pa.schema(
    [
        pa.field("target", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("seed", pa.int32(), nullable=False),
        pa.field("evaluation", pa.int32(), nullable=False),
        pa.field("material_id", pa.int64(), nullable=False),
        pa.field("formula", pa.string(), nullable=False),
        pa.field("property", pa.float64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("distance", pa.float64(), nullable=True),
        pa.field("seconds", pa.float64(), nullable=False),
    ]
)


def search_job(target_name: str, strategy: str, perovskites_path, cfg: dict, output, threads: int) -> None:
    """Every seed of one strategy on one target; each evaluated material is a row.

    No torch here: `threads` pins nothing (the searches are numpy, scikit-optimize and hyperopt).
    """
    target = search_target(cfg, target_name)
    pool = read_table(perovskites_path)
    points, value = search_pool(pool, target, cfg["search"]["projection"])
    budget = search_budget(cfg)
    frames = []
    for seed in range(budget["seeds"]):
        run = race(points, value, strategy, budget["evaluations"], seed, search_settings(cfg), f"{target_name} / {strategy} / seed {seed}")
        chosen = pool.iloc[run["index"]]
        frames.append(
            run.drop(columns="index").assign(target=target_name, strategy=strategy, seed=seed, material_id=chosen["material_id"].to_numpy(),
                                              formula=chosen["formula"].to_numpy(), property=chosen[target["column"]].to_numpy())  # fmt: skip
        )
    write_table(pd.concat(frames, ignore_index=True), output, RUN_SCHEMA)


TEST_FUNCTION_SCHEMA = pa.schema(
    [
        pa.field("function", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("seed", pa.int32(), nullable=False),
        pa.field("evaluation", pa.int32(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("regret", pa.float64(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
    ]
)


def test_function_job(function: str, cfg: dict, output, threads: int) -> None:
    """Fig. S8's runs: random search, GP and TPE on a 2-D test function."""
    from compgen.workflow import Progress

    s = cfg["search"]["test_functions"]
    strategies = ["random_box", "gp", "tpe"]
    progress = Progress(f"{function} runs", len(strategies) * s["seeds"], unit="run")
    frames = []
    for strategy in strategies:
        for seed in range(s["seeds"]):
            run = minimise(TEST_FUNCTIONS[function], strategy, s["evaluations"], seed, search_settings(cfg))
            frames.append(run.assign(function=function, strategy=strategy, seed=seed))
            progress.advance(f"{strategy} seed {seed}: best regret {run['regret'].min():.4g}")
    write_table(pd.concat(frames, ignore_index=True), output, TEST_FUNCTION_SCHEMA)


def search_summary_job(run_files: dict, test_function_files: list, perovskites_path, cfg: dict, outputs) -> None:
    runs = pd.concat([read_table(path) for path in run_files.values()], ignore_index=True)
    perovskites = read_table(perovskites_path)
    s = cfg["search"]
    pools = {t["name"]: target_values(perovskites[t["column"]].to_numpy(), t["aim"]) for t in s["targets"]}
    per_run = race_runs(runs, pools, s["top_fraction"], s["top_n"])
    summary = race_summary(per_run, pools, s["top_fraction"], s["success_percentiles"])
    log.info("race summary:\n%s", summary.to_string())
    write_csv(summary, outputs.summary)
    verdicts = race_verdicts(per_run)
    log.info("verdicts:\n%s", verdicts[["target", "measure", "strategy", "against", "mean_difference", "p_holm", "verdict"]].to_string())
    write_csv(verdicts, outputs.verdicts)
    write_csv(runs, outputs.evaluations)
    plots.best_so_far(runs, pools, outputs.curves_png, outputs.curves_csv)
    plots.top_reached(per_run, {t: (len(v), top_set(v, s["top_fraction"])[1]) for t, v in pools.items()}, outputs.top_png, outputs.top_csv)
    tests = pd.concat([read_table(path) for path in test_function_files], ignore_index=True)
    plots.test_functions(tests, outputs.test_functions_png, outputs.test_functions_csv)
    plots.seconds_per_iteration(runs, tests, outputs.seconds_png, outputs.seconds_csv)


# --- figures of the representations --------------------------------------------------


def figures_job(inputs: dict, cfg: dict, outputs) -> None:
    from compgen.latent.train import load_vae, reconstruct

    perovskites = read_table(inputs["perovskite_latents"])
    mp = read_table(inputs["mp_latents"])
    e = cfg["embedding"]
    plots.composition_embedding(mp, e["elements"], e["points"], e["perplexity"], e["seed"], outputs.composition_png, outputs.composition_csv)
    plots.xrd_embedding(perovskites, e["points"], e["perplexity"], e["seed"], outputs.xrd_png, outputs.xrd_csv)
    xrd_model, composition_model = load_vae(inputs["xrd_vae"]), load_vae(inputs["composition_vae"])
    xrd = read_table(inputs["xrd"])
    held = xrd[xrd_holdout(xrd, cfg)].head(e["examples"])  # of the XRD VAE's own dataset: perovskites, or MP structures
    patterns_true = _vectors(held["pattern"])
    plots.xrd_examples(patterns_true, reconstruct(xrd_model, patterns_true), XRDSettings(**cfg["xrd"]).grid, held["material_id"].tolist(),
                       outputs.xrd_examples_png, outputs.xrd_examples_csv)  # fmt: skip
    formulas = mp.loc[mp["holdout"], "formula"].head(e["examples"]).tolist()
    fractions = fraction_matrix(formulas)
    decoded = reconstruct(composition_model, fractions)
    plots.composition_examples(fractions, decoded, formulas, outputs.composition_examples_png, outputs.composition_examples_csv)
    plots.loss_curves({vae: pd.read_csv(inputs[f"{vae}_losses"]) for vae in ("composition", "xrd")}, outputs.losses_png, outputs.losses_csv)


# --- opt-in hyper-parameter search -------------------------------------------------------


def tune_job(vae: str, inputs: dict, cfg: dict, output, threads: int) -> None:
    from pathlib import Path

    from compgen.latent.train import VAESettings
    from compgen.latent.tuning import tune
    from compgen.training import use_threads

    use_threads(threads)
    x, holdout = vae_data(vae, inputs, cfg)
    t = cfg["tuning"]
    epochs = tuple(t["epochs"][vae])
    base = VAESettings.from_config(vae, {**cfg[f"{vae}_vae"], "log_every": epochs[1], "checkpoint_every": 1})
    table = tune(vae, base, x[~holdout], t["n_evals"], t["seed"], epochs, t["validation"], output, Path(output).parent / "work")
    log.info("best trial:\n%s", table.head(1).T.to_string())
