"""Materials Project data through its official client (mp-api), for users with an API key.

Opt-in (`snakemake mp_extract`, README "Materials Project data"): the studies reproduce the
papers from published extracts by default. The extraction pages through the summary
endpoint, sorted by material id, and writes each page as a gzipped JSON file beside a
manifest (database version, query, rows, SHA-256 per file). Pages are written atomically
and a killed extraction continues from the first missing page. The datasets
`mp_e_form`, `mp_gap` and `mp_structures` are then built from the pages the manifest
lists, with the same schemas and rejects tables as the others.

The API key comes from the environment variable MP_API_KEY only, never from the config,
a command line or a log.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from compgen.datasets import _STRUCTURE_FIELDS, SCHEMAS, DataError, _checked_structure, _Rejects, _strict_composition, structure_columns
from compgen.formula import FormulaError
from compgen.io import REJECTS_SCHEMA, atomic_path, write_table
from compgen.workflow import Progress

log = logging.getLogger(__name__)

KEY_ENV = "MP_API_KEY"
# What the studies read from each material: the SI's formation energy and band gap, the
# structure for XRD, the hull distance for filters, and the version of the database row.
FIELDS = ("material_id", "formula_pretty", "structure", "formation_energy_per_atom", "band_gap", "energy_above_hull", "nsites", "builder_meta")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGES = "pages"
STATE = "state.json"
HISTORY = "history.jsonl"

MP_STRUCTURES_SCHEMA = pa.schema(
    [
        pa.field("material_id", pa.string(), nullable=False),
        pa.field("e_form", pa.float64(), nullable=False),  # eV/atom
        pa.field("band_gap", pa.float64(), nullable=False),  # eV
        pa.field("e_above_hull", pa.float64(), nullable=False),  # eV/atom
    ]
    + _STRUCTURE_FIELDS
)
# The fields each dataset reads: one that no record of the snapshot holds fails the whole dataset.
NEEDED_FIELDS = {
    "mp_e_form": ["formula_pretty", "formation_energy_per_atom"],
    "mp_gap": ["formula_pretty", "band_gap"],
    "mp_structures": ["formula_pretty", "structure", "formation_energy_per_atom", "band_gap", "energy_above_hull"],
}
MP_API_SCHEMAS = {"mp_e_form": SCHEMAS["mp_e_form"], "mp_gap": SCHEMAS["mp_gap"], "mp_structures": MP_STRUCTURES_SCHEMA}


class MPAPIError(RuntimeError):
    """The service could not be used: no key, a rejected key, or it failed past the retries."""


# --- the query -------------------------------------------------------------------------


def api_key(environ: Mapping[str, str] = os.environ) -> str:
    key = environ.get(KEY_ENV, "").strip()
    if not key:
        raise MPAPIError(
            f"no Materials Project API key: set the environment variable {KEY_ENV} (the config and the command line are never read for it); "
            "a key is on your dashboard at https://next-gen.materialsproject.org/api"
        )
    return key


def query_criteria(filters: Mapping) -> dict:
    """The summary endpoint's query parameters for the config's filters, named as the client's `search` names them."""
    criteria: dict = {"deprecated": False, "_sort_fields": "material_id"}
    if filters.get("nsites_max") is not None:
        criteria |= {"nsites_min": 1, "nsites_max": int(filters["nsites_max"])}
    if filters.get("energy_above_hull_max") is not None:
        criteria |= {"energy_above_hull_min": 0.0, "energy_above_hull_max": float(filters["energy_above_hull_max"])}
    if filters.get("is_stable") is not None:
        criteria["is_stable"] = bool(filters["is_stable"])
    if not filters.get("include_gnome", False):
        criteria["batch_id_not_eq"] = "gnome_r2scan_statics"
    return criteria


def _status(error: Exception) -> int | None:
    """The HTTP status an mp-api error reports, if any."""
    found = re.search(r"status code (\d{3})|too many (\d{3}) error responses", str(error))
    return int(found.group(1) or found.group(2)) if found else None


def _is_connection_failure(error: Exception) -> bool:
    import requests

    return isinstance(error, requests.RequestException) or any(
        text in str(error) for text in ("Max retries exceeded", "Connection refused", "Failed to establish", "timed out", "RemoteDisconnected")
    )


class Service:
    """The summary endpoint through mp-api's client, with the project's retries around each request."""

    def __init__(self, endpoint: str | None, retries: int, backoff_seconds: float, timeout_seconds: int):
        self.retries, self.backoff, self.timeout = retries, backoff_seconds, timeout_seconds
        key = api_key()
        from mp_api.client import MPRester
        from mp_api.client.core.utils import validate_endpoint

        self.endpoint = validate_endpoint(endpoint)  # None: the client's own setting
        if len(key) != 32:  # the client's own check, said here without echoing the key
            raise MPAPIError(f"{KEY_ENV} is {len(key)} characters long; Materials Project keys are 32 (https://next-gen.materialsproject.org/api)")

        def connect():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the client warns of its server's emmet version; the manifest records both
                return MPRester(api_key=key, endpoint=self.endpoint, use_document_model=False, mute_progress_bars=True)

        self.client = self._retried("connecting", connect, any_failure=True)
        self.database_version = self.client.db_version or "unknown"

    def _retried(self, what: str, call, any_failure: bool = False):
        """`call()`, retried with doubling pauses on 429, 5xx and lost connections (`any_failure`: on every error but a rejected key)."""
        from json import JSONDecodeError

        from mp_api.client.core.client import MPRestError

        for attempt in range(self.retries + 1):
            try:
                return call()
            except (MPRestError, JSONDecodeError, KeyError, OSError) as error:
                status = _status(error)
                if status in (401, 403):
                    raise MPAPIError(
                        f"the Materials Project API at {self.endpoint} rejected the key in {KEY_ENV} (HTTP {status}): "
                        "check it on https://next-gen.materialsproject.org/api"
                    ) from None
                retry = any_failure or status in RETRIED_STATUSES or (status is None and _is_connection_failure(error))
                reason = f"HTTP {status}" if status else f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
                if not retry:
                    raise MPAPIError(f"the Materials Project API at {self.endpoint} refused {what}: {reason}") from None
                if attempt == self.retries:
                    raise MPAPIError(
                        f"the Materials Project API at {self.endpoint} is down or rate-limiting: {what} failed {self.retries + 1} times, "
                        f"last with {reason}; the pages already written are kept, so rerunning continues from here"
                    ) from None
                pause = self.backoff * 2**attempt
                log.warning("%s: %s; retry %d/%d in %.1f s", what, reason, attempt + 1, self.retries, pause)
                time.sleep(pause)

    def page(self, criteria: dict, skip: int, size: int) -> tuple[list[dict], int]:
        """(records, total matching) of one page."""
        summary = self.client.materials.summary
        result = self._retried(
            f"page at offset {skip}",
            lambda: summary._query_resource(  # the client's paging, one page at a time so a killed run can resume
                criteria={**criteria, "_skip": skip, "_limit": size}, fields=list(FIELDS), use_document_model=False,
                num_chunks=1, chunk_size=size, timeout=self.timeout,
            ),
        )  # fmt: skip
        return list(result["data"]), int(result.get("meta", {}).get("total_doc", len(result["data"])))


# --- the snapshot ----------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(value, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def _page_name(index: int) -> str:
    return f"page-{index:05d}.json.gz"


def _write_page(records: list[dict], path: Path) -> None:
    # sorted keys and no gzip timestamp: the same records give the same bytes, so hashes compare across days
    payload = json.dumps(records, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(payload, mtime=0))


def extract(cfg: dict, manifest_path: str | os.PathLike, service: Service | None = None) -> dict:
    """Page the summary endpoint into the snapshot beside `manifest_path`; return the manifest.

    `cfg`: the config's `mp_api` section (filters, page_size, retries, backoff_seconds,
    timeout_seconds, endpoint).
    """
    manifest_path = Path(manifest_path)
    root = manifest_path.parent
    pages = root / PAGES
    service = service or Service(cfg.get("endpoint"), cfg["retries"], cfg["backoff_seconds"], cfg["timeout_seconds"])
    criteria, size = query_criteria(cfg["filters"]), int(cfg["page_size"])
    query = {"endpoint": service.endpoint, "database_version": service.database_version, "criteria": criteria, "fields": list(FIELDS), "page_size": size}
    log.info("Materials Project at %s, database version %s; query %s", service.endpoint, service.database_version, criteria)

    state = json.loads((pages / STATE).read_text()) if (pages / STATE).exists() else None
    if state is not None and (state.get("complete") or state["query"] != query):
        why = "the last extraction finished" if state.get("complete") else "the query or the database version changed"
        log.info("starting afresh: %s (%s)", why, pages)
        shutil.rmtree(pages)
        state = None
    if state is None:
        shutil.rmtree(pages, ignore_errors=True)  # pages of an extraction killed before it saved its query
        pages.mkdir(parents=True, exist_ok=True)
        state = {"query": query, "total": None, "complete": False, "started": datetime.now(UTC).isoformat(timespec="seconds")}

    present = {int(p.name[5:10]) for p in pages.glob("page-*.json.gz")}
    total = state["total"]
    if total is None:
        first, total = service.page(criteria, 0, size)
        _write_page(first, pages / _page_name(0))
        present.add(0)
        state["total"] = total
        _write_json(state, pages / STATE)
    n_pages = max(1, math.ceil(total / size))
    if present - {0}:
        log.info("resuming: %d of %d pages already here", len(present), n_pages)
    progress = Progress("mp_api pages", n_pages, unit="page", done=len(present & set(range(n_pages))))
    for index in range(n_pages):
        if index in present:
            continue
        records, now = service.page(criteria, index * size, size)
        if now != total:
            shutil.rmtree(pages)
            raise MPAPIError(f"the Materials Project changed during the extraction ({total} materials matched, now {now}); rerun to start afresh")
        _write_page(records, pages / _page_name(index))
        progress.advance(f"{min((index + 1) * size, total)} of {total} materials")

    files, seen, rows = [], {}, 0
    for index in range(n_pages):
        path = pages / _page_name(index)
        records = json.loads(gzip.decompress(path.read_bytes()))
        for record in records:
            material_id = record.get("material_id")
            if material_id in seen:
                shutil.rmtree(pages)
                raise MPAPIError(
                    f"the service returned {material_id} on pages {seen[material_id]} and {index}: its order changed under the extraction; "
                    "rerun to start afresh"
                )
            seen[material_id] = index
        rows += len(records)
        files.append({"path": f"{PAGES}/{path.name}", "rows": len(records), "sha256": _sha256(path)})
    if rows != total:
        raise MPAPIError(f"{rows} materials in {n_pages} pages, but the service said {total} matched")

    snapshot = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()
    from importlib.metadata import version

    manifest = {
        "database_version": service.database_version,
        "endpoint": service.endpoint,
        "client": f"mp-api {version('mp-api')}",
        "query": criteria,
        "fields": list(FIELDS),
        "page_size": size,
        "rows": rows,
        "files": files,
        "snapshot_sha256": snapshot,
        "started": state["started"],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    manifest["compared_with_last"] = _compare_with_last(manifest, root / HISTORY)
    state["complete"] = True
    _write_json(state, pages / STATE)
    _write_json(manifest, manifest_path)
    with open(root / HISTORY, "a") as history:
        history.write(json.dumps({k: manifest[k] for k in ("finished", "database_version", "query", "rows", "snapshot_sha256")}, sort_keys=True) + "\n")
    return manifest


def _compare_with_last(manifest: dict, history: Path) -> str:
    """One sentence: whether the Materials Project changed since the last extraction of the same query."""
    last = None
    if history.exists():
        for line in history.read_text().splitlines():
            entry = json.loads(line)
            if entry["query"] == manifest["query"]:
                last = entry
    if last is None:
        text = "first extraction of this query here"
    elif last["snapshot_sha256"] == manifest["snapshot_sha256"]:
        text = f"unchanged since {last['finished']} (database {last['database_version']}, {last['rows']} materials, same bytes)"
    else:
        text = (
            f"changed since {last['finished']}: database {last['database_version']} -> {manifest['database_version']}, "
            f"{last['rows']} -> {manifest['rows']} materials"
        )
    log.info("Materials Project %s", text)
    return text


def snapshot_records(manifest_path: str | os.PathLike) -> Iterator[tuple[Path, int, dict]]:
    """(page file, 1-based record number in the snapshot, record) of every material the manifest lists, each file's hash checked."""
    manifest_path = Path(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{manifest_path}: not a readable snapshot manifest: {err}") from err
    number = 0
    for entry in files:
        path = manifest_path.parent / entry["path"]
        if not path.exists():
            raise DataError(f"{path}: listed in {manifest_path} but missing; rerun `snakemake mp_extract --forcerun mp_extract`")
        if _sha256(path) != entry["sha256"]:
            raise DataError(f"{path}: SHA-256 differs from {manifest_path}'s; the snapshot was changed after extraction")
        try:
            records = json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: not a gzipped JSON page: {err}") from err
        for record in records:
            number += 1
            yield path, number, record


# --- datasets from the snapshot ----------------------------------------------------------------


def _finite(record: dict, field: str) -> float:
    if field not in record:
        raise ValueError(f"no field {field}")
    value = record[field]
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field} is {value!r}, not a finite number")
    return float(value)


def _structure(record: dict):
    from pymatgen.core import Structure

    if not isinstance(record.get("structure"), dict):
        raise ValueError("no field structure" if "structure" not in record else "structure is not a pymatgen structure document")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Structure.from_dict(record["structure"])
        except Exception as err:  # pymatgen raises many types for one meaning
            raise ValueError(f"structure does not parse: {type(err).__name__}: {' '.join(str(err).split())[:200]}") from None


def _row(name: str, record: dict) -> dict:
    formula_input = record.get("formula_pretty")
    composition = _strict_composition(formula_input)
    common = {"formula": composition.reduced_formula, "formula_input": formula_input, "elements": sorted(el.symbol for el in composition.elements)}
    if name == "mp_e_form":
        return common | {"e_form": _finite(record, "formation_energy_per_atom")}
    if name == "mp_gap":
        return common | {"band_gap": _finite(record, "band_gap")}
    values = {
        "e_form": _finite(record, "formation_energy_per_atom"),
        "band_gap": _finite(record, "band_gap"),
        "e_above_hull": _finite(record, "energy_above_hull"),
    }
    columns = _checked_structure(structure_columns(_structure(record)))
    if columns["formula"] != common["formula"]:
        raise ValueError(f"formula_pretty {formula_input!r} disagrees with the structure ({columns['formula']})")
    return {"material_id": str(record["material_id"]), **values, **columns}


def build(name: str, manifest_path: str | os.PathLike, output, rejects_output) -> pd.DataFrame:
    """Dataset `name` (mp_e_form, mp_gap or mp_structures) from the snapshot; a record that cannot be used goes to the rejects with its id."""
    if name not in MP_API_SCHEMAS:
        raise KeyError(f"unknown Materials Project dataset {name!r}; known: {sorted(MP_API_SCHEMAS)}")
    rows, rejects, fields_seen, n = [], _Rejects(), set(), 0
    for path, number, record in snapshot_records(manifest_path):
        n += 1
        fields_seen |= set(record)
        material_id = record.get("material_id")
        try:
            if material_id is None:
                raise ValueError("no field material_id")
            rows.append(_row(name, record))
        except (ValueError, FormulaError) as err:
            rejects.add(path, number, None if material_id is None else str(material_id), str(err))
    needed = NEEDED_FIELDS[name]
    if n and (absent := [f for f in needed if f not in fields_seen]):
        raise DataError(f"{manifest_path}: field(s) {absent} are in none of the {n} records; the API no longer serves them under these names")
    table = pd.DataFrame(rows, columns=MP_API_SCHEMAS[name].names)
    log.info("%s from the Materials Project snapshot: %d rows, %d rejects", name, len(table), len(rejects.rows))
    write_table(rejects.frame(), rejects_output, REJECTS_SCHEMA)
    write_table(table, output, MP_API_SCHEMAS[name])
    return table
