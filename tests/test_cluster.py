"""The slurm profile on a real SLURM cluster with accounting.

`make cluster` (profiles/slurm/testcluster/start.sh) installs and starts a one-node
cluster from Debian's packages; `.ci/run` calls it before the tests. Here every study, on
the tiny settings of .test/config.yaml, is submitted through `--profile profiles/slurm` with
the small override of profiles/slurm/testcluster/override.yaml (the test account, both
partitions on the one node, no GPU requests on a node without GPUs), and compared with the
same run made locally (the `tiny_run` fixture). Without the SLURM binaries the test is skipped with that reason; under CI it fails.

Every rule the local run ran is submitted at least once, but not every instance: a SLURM job
costs 5-8 s of Snakemake and interpreter start-up whatever it computes, and a second
instance of a rule exercises nothing the first did not (`cluster_config` below).
"""

import base64
import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import yaml

from compgen import config as settings
from compgen.registry import sweep_points
from conftest import ROOT, planned_jobs, run_workflow

TIMEOUT = 1200  # seconds for one cluster run (every tiny study: ~4 min on two idle cores); a hung run must not hang the suite


@pytest.fixture(scope="module")
def cluster():
    missing = [binary for binary in ("sbatch", "sacct", "sinfo", "sacctmgr") if shutil.which(binary) is None]
    if missing:
        reason = f"SLURM binaries {missing} are not installed; `make cluster` installs and starts a one-node cluster"
    elif importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        reason = "the SLURM executor plugin is not installed: pip install -e '.[slurm]' (`make cluster` does)"
    elif "up" not in subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True).stdout:
        reason = "no SLURM partition is up; `make cluster` starts the one-node cluster"
    elif subprocess.run(["sacctmgr", "-n", "list", "cluster"], capture_output=True).returncode != 0:
        reason = "SLURM runs without accounting (slurmdbd); the executor plugin's sacct queries would wait forever"
    else:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the cluster test: {reason}")
    pytest.skip(reason)


def slurm_profile(directory):
    """profiles/slurm with the test cluster's override laid over it, written to `directory`."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    override = yaml.safe_load((ROOT / "profiles" / "slurm" / "testcluster" / "override.yaml").read_text())
    gpu_rules = override.pop("gpu-rules-resources")
    for key, value in override.items():
        profile[key] = {**profile.get(key, {}), **value} if isinstance(value, dict) else value
    for resources in profile["set-resources"].values():
        resources.update(gpu_rules)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def accounted_jobs(since: str, expected: int) -> pd.DataFrame:
    """sacct's allocations since `since`: state, requested memory and time limit, and the rule in the plugin's comment.

    slurmctld hands finished jobs to slurmdbd asynchronously: wait (up to a minute)
    until `expected` of them have a final state.
    """
    for _ in range(60):
        out = subprocess.run(
            ["sacct", "-X", "-P", "-n", "-S", since, "-o", "JobID,State,ReqMem,Timelimit,Comment%200"], capture_output=True, text=True, check=True
        ).stdout
        rows = pd.DataFrame([line.split("|") for line in out.strip().splitlines() if line], columns=["job", "state", "mem", "time", "comment"])
        if (rows["state"].isin(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"]) & (rows["comment"] != "")).sum() >= expected:
            return rows
        time.sleep(1)
    return rows


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


# The cluster run starts from the local run's outputs of these: the verified datasets (their build
# is tested elsewhere) and the three slowest single jobs, deterministic and asserted by the studies'
# end-to-end tests (the oracle-labelled space, the relaxed references, the dimensionality classifiers).
# Every other rule of every study is submitted, with fewer instances (`cluster_config`).
REUSED_RULES = {"fetch", "dataset", "dataset_figure", "dataset_summary", "elpasolite_space", "hydrides_relax_known", "atmo_dimension"}
# Jobs that run on the submitting machine (localrule) are never in sacct: the scorecard, which is
# not asked for here because it needs the rows of every class, search and task of the tiny run.
LOCAL_RULES = {"scorecard"}
STUDIES = ["datasets", "atmo", "elpasolite", "hydrides", "latent"]
# Laid over the tiny config for the cluster run: one energy class, one search target with a
# model-based and a random strategy, one property task with the latent and a reference. Each
# kept instance has the tiny run's settings, so its rows must equal the local run's.
CLUSTER_TARGET_CLASS = 1
CLUSTER_SEARCH = {"target": "widest_gap", "strategies": ["gp", "random_choice"]}
CLUSTER_PROPERTIES = {"tasks": ["perovskite_heat"], "features": ["latent", "fractions"]}


def cluster_config(tiny: dict) -> dict:
    """The tiny config with fewer instances of the rules that have many (CLUSTER_* above)."""
    config = copy.deepcopy(tiny)
    elpasolite, latent = config["elpasolite"], config["latent"]
    elpasolite["targets"] = [t for t in elpasolite["targets"] if t["energy_class"] == CLUSTER_TARGET_CLASS]
    search = latent["search"]
    search["targets"] = [t for t in settings.effective(tiny, "latent")["search"]["targets"] if t["name"] == CLUSTER_SEARCH["target"]]
    search["strategies"] = CLUSTER_SEARCH["strategies"]
    latent["properties"] = {**latent["properties"], **CLUSTER_PROPERTIES}
    return config


def outputs_of(work, rules) -> list[str]:
    """Paths of the files that jobs of `rules` wrote in `work`, read from Snakemake's metadata records."""
    metadata = work / ".snakemake" / "metadata"
    found = []
    for record in metadata.rglob("*"):
        if record.is_file() and json.loads(record.read_text())["rule"] in rules:
            found.append(base64.urlsafe_b64decode("".join(record.relative_to(metadata).parts)).decode())
    return found


def assert_same_table(local, cluster, path, drop=(), kept=None):
    """The cluster's table equals the local one; `kept`: {column: values} of the local rows the cluster run has."""
    read = pd.read_parquet if path.endswith(".parquet") else pd.read_csv
    tables = [read(w / path).drop(columns=list(drop)) for w in (local, cluster)]
    if kept:
        rows = np.logical_and.reduce([tables[0][column].isin(values) for column, values in kept.items()])
        tables[0] = tables[0][rows].reset_index(drop=True)
        assert len(tables[0]), f"{path}: no local rows with {kept}"
    # a column empty in every kept row reads back as float from the cluster's csv
    pd.testing.assert_frame_equal(*tables, obj=path, check_dtype=not kept)


@pytest.mark.e2e
def test_every_tiny_study_through_the_slurm_profile(cluster, tiny_run, tmp_path, mirror):
    local, tiny = tiny_run
    config = cluster_config(tiny)
    profile = slurm_profile(tmp_path / "profile")
    work = tmp_path / "cluster"
    reused = outputs_of(local, REUSED_RULES)
    assert "results/elpasolite/class_table.npy" in reused and "results/datasets/summary.csv" in reused
    for path in reused:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local / path, work / path)  # times kept: Snakemake sees them as done
    dry = run_workflow(work, STUDIES, config, mirror, "--profile", str(profile), "--dry-run", timeout=TIMEOUT)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    planned = planned_jobs(dry.stdout)
    # the atmo layout of the tiny config: packed, one job per network and one for the sweep; else per fold and per point
    atmo = settings.effective(config, "atmo")
    packed = atmo["pack"]
    assert planned["atmo_train"] == 2 * (1 if packed else atmo["n_folds"])
    assert planned["atmo_sweep_train"] == (1 if packed else len({point[:2] for point in sweep_points(atmo)}))
    # elpasolite: three generators on the full set and on the sweep's 400 rows, class 1 only
    assert planned["elpasolite_train"] == 6 and planned["latent_search"] == 2 and planned["latent_property"] == 2
    # every rule that the local run ran, but those reused and the local ones, goes through SLURM
    ran_locally = {json.loads(record.read_text())["rule"] for record in (local / ".snakemake" / "metadata").rglob("*") if record.is_file()}
    assert set(planned) == ran_locally - REUSED_RULES - LOCAL_RULES
    since = _now()
    started = time.monotonic()
    result = run_workflow(work, STUDIES, config, mirror, "--profile", str(profile), timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"every tiny study through SLURM: {sum(planned.values())} jobs in {time.monotonic() - started:.0f} s")

    # files the local run wrote too, and the deterministic ones equal to it
    local_files = {p.relative_to(local) for p in (local / "results").rglob("*") if p.is_file()}
    cluster_files = {p.relative_to(work) for p in (work / "results").rglob("*") if p.is_file()}
    assert cluster_files <= local_files, sorted(cluster_files - local_files)[:5]
    assert len(cluster_files) > 0.6 * len(local_files)
    xrd_local, xrd_cluster = (pd.read_parquet(w / "results/latent/xrd.parquet") for w in (local, work))
    assert xrd_local["crystal_system"].equals(xrd_cluster["crystal_system"])
    np.testing.assert_array_equal(np.stack(xrd_local["pattern"]), np.stack(xrd_cluster["pattern"]))
    latents_local, latents_cluster = (pd.read_parquet(w / "results/latent/perovskite_latents.parquet") for w in (local, work))
    for column in ("z_composition", "z_xrd"):  # seeded training on the same number of threads
        np.testing.assert_array_equal(np.stack(latents_local[column]), np.stack(latents_cluster[column]))
    search = {"target": [CLUSTER_SEARCH["target"]], "strategy": CLUSTER_SEARCH["strategies"]}
    assert_same_table(local, work, "results/latent/search_evaluations.csv", drop=["seconds"], kept=search)
    properties = {"task": CLUSTER_PROPERTIES["tasks"], "features": CLUSTER_PROPERTIES["features"]}
    assert_same_table(local, work, "results/latent/property_models.csv", kept=properties)
    assert_same_table(local, work, "results/atmo/CNC__NCCN/deltas.parquet")
    assert_same_table(local, work, "results/atmo/CNC__NCCN/figures/fraction_sweep.csv")
    assert_same_table(local, work, "results/elpasolite/metrics_per_seed.csv", kept={"target_class": [CLUSTER_TARGET_CLASS]})
    assert_same_table(local, work, "results/elpasolite/training_size_per_seed.csv", kept={"target_class": [CLUSTER_TARGET_CLASS]})
    assert_same_table(local, work, "results/hydrides/candidates.parquet")

    # sacct: one allocation per rule instance, each with the memory and time limit its rule declares
    jobs = accounted_jobs(since, sum(planned.values()))
    assert (jobs["state"] == "COMPLETED").all(), jobs[jobs["state"] != "COMPLETED"]
    assert Counter(jobs["comment"]).most_common(1)[0][1] == 1  # no rule instance ran twice
    rules = Counter(comment.removeprefix("rule_").split("_wildcards_")[0] for comment in jobs["comment"])
    assert rules == planned
    by_comment = jobs.set_index("comment")
    assert by_comment.loc["rule_latent_xrd", ["mem", "time"]].tolist() == ["4000M", "00:30:00"]
    # the XRD VAE's limit follows its epochs: 10 + ceil(3 x 1 epoch x 70 s / 60) minutes
    assert by_comment.loc["rule_latent_vae_wildcards_xrd", ["mem", "time"]].tolist() == ["6000M", "00:14:00"]
    print(jobs.to_string(index=False))  # the closing note quotes a few lines

    # a deleted model, asked for again with the latents: it and what reads it are submitted, nothing upstream
    model = "results/latent/models/composition_vae.pt"
    (work / model).unlink()
    since = _now()
    result = run_workflow(work, [model, "results/latent/mp_latents.parquet"], config, mirror, "--profile", str(profile), timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    again = accounted_jobs(since, 2)
    assert sorted(again["comment"]) == ["rule_latent_encode", "rule_latent_vae_wildcards_composition"]
    # the rebuilt model (same seed) gives bit-identical latents, so Snakemake, comparing contents,
    # plans only the job that reads the model file itself: nothing upstream, nothing unchanged
    dry = run_workflow(work, ["latent"], config, mirror, "--profile", str(profile), "--dry-run", timeout=TIMEOUT)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout, re.M)) == {"latent_figures", "latent"}

    # a job that fails is reported failed, and Snakemake exits non-zero
    broken = {**config, "latent": {**config["latent"], "search": {**config["latent"]["search"], "budgets": {"tiny": {"evaluations": 5000, "seeds": 1}}}}}
    since = _now()
    result = run_workflow(work, ["results/latent/search/widest_gap_random_choice.parquet"], broken, mirror, "--profile", str(profile), timeout=TIMEOUT)
    assert result.returncode != 0
    assert "Error in rule latent_search" in result.stdout + result.stderr
    job_log = (work / "logs/latent/search/widest_gap_random_choice.log").read_text()
    assert "compgen job failed: ValueError: 5000 evaluations asked of a pool of" in job_log
    assert not (work / "results/latent/search/widest_gap_random_choice.parquet").exists()
    failed = accounted_jobs(since, 1)
    assert failed["comment"].tolist() == ["rule_latent_search_wildcards_widest_gap_random_choice"]
    assert failed["state"].tolist() == ["FAILED"]
