"""A stand-in for the Materials Project API on 127.0.0.1, answering mp-api's requests in the API's response format.

It serves `/heartbeat` and the summary endpoint `/materials/summary/` with the query
parameters the client sends (`_skip`, `_limit`, `_fields`, `_sort_fields`, the
`<field>_min` / `<field>_max` ranges, `is_stable`, `deprecated`, `batch_id_not_eq`),
checks the `x-api-key` header, and answers `{"data": [...], "meta": {"total_doc": ...}}`.
A NaN goes out as null, as the real service's JSON encoder (orjson) sends it.

Records are built from real perov_5 structures of the data mirror (`perovskite_records`).
"""

from __future__ import annotations

import csv
import json
import math
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

EMMET_VERSION = "0.87.3"
TEST_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as the client requires


def perovskite_records(csv_path: Path, n: int, database_version: str = "2026.11.01") -> list[dict]:
    """`n` summary documents of real perov_5 structures: every one with a gap first (they are few), then the rest in file order."""
    import warnings

    from pymatgen.core import Structure

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = sorted(rows, key=lambda r: float(r["dir_gap"]) <= 0)[:n]
    records = []
    for row in rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_str(row["cif"], fmt="cif")
        records.append(
            {
                "material_id": f"mp-{int(row['material_id']) + 100000}",
                "formula_pretty": structure.composition.reduced_formula,
                "structure": structure.as_dict(),
                "formation_energy_per_atom": float(row["heat_ref"]) / len(structure),
                "band_gap": float(row["dir_gap"]),
                "energy_above_hull": 0.0,
                "is_stable": True,
                "nsites": len(structure),
                "builder_meta": {"database_version": database_version, "emmet_version": EMMET_VERSION},
            }
        )
    return records


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class MaterialsProjectServer:
    """Start with `with MaterialsProjectServer(records) as server:`; `server.endpoint` is its address."""

    def __init__(self, records: list[dict], key: str = TEST_KEY, database_version: str = "2026.11.01"):
        self.records, self.key, self.database_version = records, key, database_version
        self.failures: list[int] = []  # statuses for the next summary requests, in order
        self.requests: list[dict] = []  # the query of every summary request that was answered or failed
        self.hold_from_skip: int | None = None  # requests for offsets from here wait until `release` is set
        self.held, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> MaterialsProjectServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the tests read `requests`
                pass

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(_json_safe(body), allow_nan=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802 (the http.server name)
                url = urlparse(self.path)
                if url.path.rstrip("/") == "/heartbeat":
                    return self._send(200, {"db_version": server.database_version, "version": EMMET_VERSION, "access_controlled_batch_ids": []})
                if url.path.rstrip("/") != "/materials/summary":
                    return self._send(404, {"detail": "Not Found"})
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with server._lock:
                    server.requests.append(query)
                    status = server.failures.pop(0) if server.failures else 200
                if self.headers.get("x-api-key") != server.key:
                    return self._send(401, {"detail": "Invalid API key"})
                if status != 200:
                    return self._send(status, {"detail": "the service is unavailable, try again later"})
                skip = int(query.get("_skip", 0))
                if server.hold_from_skip is not None and skip >= server.hold_from_skip:
                    server.held.set()
                    server.release.wait(timeout=60)
                return self._send(200, server.answer(query))

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._http.server_address[1]}/"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._http.shutdown()
        self._http.server_close()

    def answer(self, query: dict) -> dict:
        rows = [r for r in self.records if self._matches(r, query)]
        if sort := query.get("_sort_fields"):
            field = sort.lstrip("-")
            rows = sorted(rows, key=lambda r: r.get(field), reverse=sort.startswith("-"))
        skip, limit = int(query.get("_skip", 0)), int(query.get("_limit", 1000))
        fields = query["_fields"].split(",") if "_fields" in query else None
        page = [{k: v for k, v in r.items() if fields is None or k in fields} for r in rows[skip : skip + limit]]
        meta = {"api_version": EMMET_VERSION, "time_stamp": datetime.now(UTC).isoformat(), "total_doc": len(rows), "max_limit": 1000}
        return {"data": page, "errors": [], "meta": meta}

    @staticmethod
    def _matches(record: dict, query: dict) -> bool:
        for name, value in query.items():
            if name.startswith("_"):
                continue
            if name.endswith(("_min", "_max")):
                field, bound = name[:-4], float(value)
                have = record.get(field)
                if have is None or (have < bound if name.endswith("_min") else have > bound):
                    return False
            elif name == "is_stable" and record.get("is_stable") != (value == "true" or value == "True"):
                return False
            elif name == "deprecated" and record.get("deprecated", False) != (value == "true" or value == "True"):
                return False
            elif name == "batch_id_not_eq" and record.get("batch_id") == value:
                return False
        return True
