"""The opt-in Materials Project extraction, against a local server that speaks the API's format, through the real client."""

import copy
import gzip
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, run_workflow
from mp_api_server import TEST_KEY, MaterialsProjectServer, perovskite_records

pytest.importorskip("mp_api", reason="the [mp] extra (make test installs it)")

from compgen.datasets import DataError  # noqa: E402
from compgen.mp_api import FIELDS, MP_API_SCHEMAS, MPAPIError, build, extract  # noqa: E402


@pytest.fixture(scope="module")
def records(mirror):
    return perovskite_records(mirror / "perovskites" / "perov_5_val.csv", 25)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", TEST_KEY)
    return TEST_KEY


def settings(server, page_size=10, retries=3):
    return {
        "endpoint": server.endpoint,
        "filters": {"nsites_max": None, "energy_above_hull_max": None, "is_stable": None, "include_gnome": False},
        "page_size": page_size,
        "retries": retries,
        "backoff_seconds": 0.01,
        "timeout_seconds": 10,
    }


def snapshot_ids(manifest_path):
    manifest = json.loads(manifest_path.read_text())
    return [r["material_id"] for f in manifest["files"] for r in json.loads(gzip.decompress((manifest_path.parent / f["path"]).read_bytes()))]


def test_extraction_writes_pages_and_a_manifest_that_says_whether_mp_changed(tmp_path, records, key, caplog):
    caplog.set_level(logging.INFO)
    manifest_path = tmp_path / "mp_api" / "manifest.json"
    with MaterialsProjectServer(records) as server:
        manifest = extract(settings(server), manifest_path)
        asked = [(int(q["_skip"]), int(q["_limit"])) for q in server.requests]
        first_query = server.requests[0]
    assert asked == [(0, 10), (10, 10), (20, 10)]
    assert first_query["_fields"] == ",".join(FIELDS) and first_query["_sort_fields"] == "material_id"
    assert first_query["batch_id_not_eq"] == "gnome_r2scan_statics" and first_query["deprecated"] == "False"
    assert manifest["database_version"] == "2026.11.01" and manifest["rows"] == 25 and manifest["client"] == "mp-api 0.46.5"
    assert [f["rows"] for f in manifest["files"]] == [10, 10, 5]
    for entry in manifest["files"]:
        assert hashlib.sha256((manifest_path.parent / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert snapshot_ids(manifest_path) == sorted(r["material_id"] for r in records)
    assert manifest["compared_with_last"] == "first extraction of this query here"
    assert json.loads(manifest_path.read_text()) == manifest
    assert "mp_api pages 3/3" in caplog.text and "ETA" in caplog.text
    # the key is in no file and no log line
    assert TEST_KEY not in caplog.text and all(TEST_KEY not in p.read_bytes().decode(errors="ignore") for p in manifest_path.parent.rglob("*") if p.is_file())

    # the same data on another day: unchanged, same bytes; a new database release with a changed energy: changed
    with MaterialsProjectServer(records) as server:
        assert extract(settings(server), manifest_path)["compared_with_last"].startswith("unchanged since")
    changed = copy.deepcopy(records)
    changed[3]["formation_energy_per_atom"] += 0.01
    with MaterialsProjectServer(changed[:-1], database_version="2026.12.01") as server:
        text = extract(settings(server), manifest_path)["compared_with_last"]
    assert text.startswith("changed since") and "2026.11.01 -> 2026.12.01" in text and "25 -> 24 materials" in text


def test_a_503_and_a_429_are_retried_and_a_service_that_stays_down_is_named(tmp_path, records, key, caplog):
    with MaterialsProjectServer(records) as server:
        server.failures = [503, 429]
        manifest = extract(settings(server), tmp_path / "a" / "manifest.json")
        offsets = [int(q["_skip"]) for q in server.requests]
    assert manifest["rows"] == 25 and offsets == [0, 0, 0, 10, 20]  # the first page asked three times
    assert "page at offset 0: HTTP 503; retry 1/3" in caplog.text

    with MaterialsProjectServer(records) as server:
        server.failures = [200, 503, 503, 503]
        with pytest.raises(MPAPIError, match=r"is down or rate-limiting: page at offset 10 failed 3 times, last with HTTP 503") as error:
            extract(settings(server, retries=2), tmp_path / "b" / "manifest.json")
    assert server.endpoint in str(error.value)
    assert not (tmp_path / "b" / "manifest.json").exists() and (tmp_path / "b" / "pages" / "page-00000.json.gz").exists()


def test_a_killed_extraction_resumes_after_its_first_page_without_duplicates(tmp_path, records, key):
    manifest_path = tmp_path / "mp_api" / "manifest.json"
    with MaterialsProjectServer(records) as server:
        server.hold_from_skip = 10  # the second page's request waits: the extraction is killed during it
        cfg = settings(server)
        code = textwrap.dedent(f"""
            import json, sys
            from compgen.mp_api import extract
            extract(json.loads(sys.argv[1]), {str(manifest_path)!r})
        """)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        process = subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert server.held.wait(timeout=120), process.communicate(timeout=5)[0]
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert sorted(p.name for p in (manifest_path.parent / "pages").glob("page-*")) == ["page-00000.json.gz"]
        assert not manifest_path.exists()
        server.hold_from_skip = None
        manifest = extract(cfg, manifest_path)
        offsets = [int(q["_skip"]) for q in server.requests]
    assert offsets == [0, 10, 10, 20]  # the first page was not asked again; the killed one was
    ids = snapshot_ids(manifest_path)
    assert manifest["rows"] == 25 and len(ids) == len(set(ids)) == 25


def test_no_key_and_a_rejected_key_each_say_so(tmp_path, records, monkeypatch, caplog):
    with MaterialsProjectServer(records) as server:
        monkeypatch.delenv("MP_API_KEY", raising=False)
        with pytest.raises(MPAPIError, match="set the environment variable MP_API_KEY"):
            extract(settings(server), tmp_path / "manifest.json")
        monkeypatch.setenv("MP_API_KEY", "short")
        with pytest.raises(MPAPIError, match="MP_API_KEY is 5 characters long; Materials Project keys are 32"):
            extract(settings(server), tmp_path / "manifest.json")
        wrong = "f" * 32
        monkeypatch.setenv("MP_API_KEY", wrong)
        with pytest.raises(MPAPIError, match=r"rejected the key in MP_API_KEY \(HTTP 401\)") as error:
            extract(settings(server), tmp_path / "manifest.json")
        assert len(server.requests) == 1  # a rejected key is not retried
    assert wrong not in str(error.value) and wrong not in caplog.text
    assert not (tmp_path / "manifest.json").exists()


def test_datasets_from_the_snapshot_follow_their_schemas_and_reject_bad_records_by_id(tmp_path, records, key):
    served = copy.deepcopy(records)
    served[0]["formation_energy_per_atom"] = float("nan")  # sent as null
    served[1]["structure"]["lattice"]["matrix"] = [[1, 0], [0, 1]]  # not a 3 x 3 lattice
    del served[2]["band_gap"]
    bad = {served[i]["material_id"]: reason for i, reason in enumerate(["formation_energy_per_atom is None", "structure does not parse", "no field band_gap"])}
    manifest_path = tmp_path / "mp_api" / "manifest.json"
    with MaterialsProjectServer(served) as server:
        extract(settings(server), manifest_path)
    expected_rejects = {"mp_e_form": {served[0]["material_id"]}, "mp_gap": {served[2]["material_id"]}, "mp_structures": set(bad)}
    for name, rejected in expected_rejects.items():
        table = build(name, manifest_path, tmp_path / f"{name}.parquet", tmp_path / f"{name}.rejects.parquet")
        assert pq.read_schema(tmp_path / f"{name}.parquet").remove_metadata() == MP_API_SCHEMAS[name]
        assert len(table) == 25 - len(rejected)
        rejects = pd.read_parquet(tmp_path / f"{name}.rejects.parquet")
        assert set(rejects["identifier"]) == rejected, name
        order = sorted(r["material_id"] for r in served)  # the snapshot's order; 10 to a page
        for row in rejects.itertuples():
            position = order.index(row.identifier)
            assert bad[row.identifier] in row.reason and row.row == position + 1
            assert row.reason.startswith(f"page-{position // 10:05d}.json.gz: ")
    structures = pd.read_parquet(tmp_path / "mp_structures.parquet").set_index("material_id")
    first_good = served[3]
    assert structures.loc[first_good["material_id"], "e_form"] == pytest.approx(first_good["formation_energy_per_atom"])
    assert structures.loc[first_good["material_id"], "formula"] == first_good["formula_pretty"] and structures["n_atoms"].eq(5).all()
    gaps = pd.read_parquet(tmp_path / "mp_gap.parquet")
    assert gaps["band_gap"].tolist() == [r["band_gap"] for r in sorted(served, key=lambda r: r["material_id"]) if "band_gap" in r]

    # a page changed after extraction fails the whole dataset, naming the file
    page = manifest_path.parent / "pages" / "page-00001.json.gz"
    page.write_bytes(gzip.compress(b"[]", mtime=0))
    with pytest.raises(DataError, match=r"page-00001.json.gz: SHA-256 differs"):
        build("mp_gap", manifest_path, tmp_path / "again.parquet", tmp_path / "again.rejects.parquet")
    assert not (tmp_path / "again.parquet").exists()


@pytest.mark.e2e
def test_tiny_latent_study_from_the_served_snapshot_writes_every_output(tmp_path, tiny_run, mirror, key):
    """`snakemake latent` with latent.source mp_api: extraction, datasets, the XRD VAE on MP patterns, the SI-protocol model."""
    work, tiny = tiny_run
    served = perovskite_records(mirror / "perovskites" / "perov_5_val.csv", 400)
    mp_work = tmp_path / "work"
    for kept in ("results/raw", "results/datasets"):  # the perovskites and matbench tables of the tiny run, not built again
        shutil.copytree(work / kept, mp_work / kept)
    # the perovskites' patterns do not depend on the source: the tiny run's, times kept, are not computed again
    (mp_work / "results" / "latent_mp_api").mkdir(parents=True)
    shutil.copy2(work / "results" / "latent" / "xrd.parquet", mp_work / "results" / "latent_mp_api" / "xrd.parquet")
    config = copy.deepcopy(tiny)
    config["latent"] |= {"source": "mp_api", "mp_structures": 300}
    # the race and the reference features run the same code as the tiny run's: two of each keep this run short
    config["latent"]["search"]["strategies"] = ["tpe", "random_choice"]
    config["latent"]["properties"]["features"] = ["latent", "magpie"]
    with MaterialsProjectServer(served) as server:
        config["mp_api"] = {"endpoint": server.endpoint, "page_size": 150, "backoff_seconds": 0.01}
        result = run_workflow(mp_work, ["latent"], config, mirror, cores=4)  # as the tiny run: job starts overlap well
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((mp_work / "results/raw/mp_api/manifest.json").read_text())
    assert manifest["rows"] == 400 and [f["rows"] for f in manifest["files"]] == [150, 150, 100]
    out = mp_work / "results" / "latent_mp_api"
    assert not (mp_work / "results" / "latent").exists()  # the sources never share a directory
    assert len(pd.read_parquet(mp_work / "results/datasets/mp_api/mp_structures.parquet")) == 400
    xrd_mp = pd.read_parquet(out / "xrd_mp.parquet")
    assert len(xrd_mp) == 300 and xrd_mp["material_id"].str.startswith("mp-").all() and xrd_mp["pattern"].map(len).eq(1601).all()
    assert pd.read_csv(out / "xrd_reconstruction.csv").iloc[0]["n"] == 60  # 20% of the 300 MP structures held out of the XRD VAE
    latents = pd.read_parquet(out / "mp_structure_latents.parquet")
    assert len(latents) == 300 and latents["z_composition"].map(len).eq(24).all() and latents["z_xrd"].map(len).eq(64).all()
    assert pd.read_parquet(out / "perovskite_latents.parquet")["xrd_holdout"].all()  # the XRD VAE saw no perovskite
    models = pd.read_csv(out / "property_models.csv")
    assert set(models["task"]) == {"mp_metal", "perovskite_heat", "mp_formation_energy_si"}
    si = models[(models["task"] == "mp_formation_energy_si") & (models["features"] == "latent")].set_index("metric")
    assert si.loc["r2", "si"] == 0.93 and si.loc["r2", "n"] == 300 and pd.notna(si.loc["mae", "mean"])
    assert si.loc["r2", "protocol"] == "MP structures of the mp_api snapshot; concatenated composition + XRD latents (the SI)"
    metal = models[(models["task"] == "mp_metal") & (models["features"] == "latent")]
    assert metal["protocol"].eq("MP formulas (mp_api snapshot); composition latent only").all()
    assert len(pd.read_csv(out / "search_summary.csv")) == 2 * 2  # targets x strategies
    for name in ["parity", "roc", "best_so_far", "xrd_tsne", "xrd_reconstructions", "vae_losses"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000, name
    assert (mp_work / "logs" / "latent_mp_api" / "xrd_mp.log").exists()
