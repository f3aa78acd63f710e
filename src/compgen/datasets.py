"""Turning the verified raw files into typed tables.

Each builder takes the raw files it needs (a mapping from source name to path)
and returns (rows, rejects). A row that cannot be used is not silently dropped:
it goes to the rejects table with its 1-based record number in its file, an
identifier and the reason. A raw file that is broken as a whole (missing
columns, wrong array shapes) raises `DataError` naming the file.

Every table carries `elements`, the sorted element set of each row, so the
summary and figures treat all datasets alike.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.io
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.periodic_table import Element

from compgen.formula import FormulaError, chemical_system, mole_fractions, parse_csd_formula
from compgen.io import REJECTS_SCHEMA, write_table
from compgen.registry import DATASETS
from compgen.safe_pickle import UnsafePickleError, load_numpy_pickle

log = logging.getLogger(__name__)

# Closer than this, two atoms are a data error rather than chemistry.
MIN_INTERATOMIC_DISTANCE = 0.5  # Angstrom

_ELEMENTS = pa.list_(pa.string())
_STRUCTURE_FIELDS = [
    pa.field("formula", pa.string(), nullable=False),
    pa.field("lattice", pa.list_(pa.float64(), 9), nullable=False),
    pa.field("species", pa.list_(pa.string()), nullable=False),
    pa.field("frac_coords", pa.list_(pa.list_(pa.float64(), 3)), nullable=False),
    pa.field("cell_volume", pa.float64(), nullable=False),
    pa.field("n_atoms", pa.int32(), nullable=False),
    pa.field("min_distance", pa.float64(), nullable=False),
    pa.field("elements", _ELEMENTS, nullable=False),
]

SCHEMAS: dict[str, pa.Schema] = {
    "atmo": pa.schema(
        [
            pa.field("identifier", pa.string(), nullable=False),
            pa.field("amine", pa.string(), nullable=False),
            pa.field("dimension", pa.int8(), nullable=False),
            pa.field("csdformula", pa.string(), nullable=False),
            pa.field("chemical_system", pa.string(), nullable=False),
            pa.field("elements", _ELEMENTS, nullable=False),
            pa.field("fractions", pa.list_(pa.float64()), nullable=False),
        ]
    ),
    "elpasolite_dft": pa.schema(
        [pa.field("entry", pa.int32(), nullable=False)]
        + [pa.field(site, pa.string(), nullable=False) for site in "ABCD"]
        + [pa.field(f"Z_{site}", pa.int8(), nullable=False) for site in "ABCD"]
        + [
            pa.field("e_form", pa.float64(), nullable=False),  # eV/atom
            pa.field("elements", _ELEMENTS, nullable=False),
        ]
    ),
    "hydrides": pa.schema(
        [
            pa.field("identifier", pa.string(), nullable=False),
            pa.field("metal", pa.string(), nullable=False),
            pa.field("source_row", pa.int32(), nullable=False),
        ]
        + _STRUCTURE_FIELDS
    ),
    "perovskites": pa.schema(
        [
            pa.field("material_id", pa.int64(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("heat_ref", pa.float64(), nullable=False),  # eV
            pa.field("dir_gap", pa.float64(), nullable=False),  # eV
            pa.field("ind_gap", pa.float64(), nullable=False),  # eV
        ]
        + _STRUCTURE_FIELDS
    ),
    "mp_e_form": pa.schema(
        [
            pa.field("formula", pa.string(), nullable=False),
            pa.field("formula_input", pa.string(), nullable=False),
            pa.field("e_form", pa.float64(), nullable=False),  # eV/atom
            pa.field("elements", _ELEMENTS, nullable=False),
        ]
    ),
    "mp_gap": pa.schema(
        [
            pa.field("formula", pa.string(), nullable=False),
            pa.field("formula_input", pa.string(), nullable=False),
            pa.field("band_gap", pa.float64(), nullable=False),  # eV
            pa.field("elements", _ELEMENTS, nullable=False),
        ]
    ),
}


class DataError(ValueError):
    """A raw file that is unusable as a whole."""


class _Rejects:
    """Collects rejected records and logs each one with its file."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, path: Path, row: int, identifier: str | None, reason: str) -> None:
        log.warning("%s: record %d (%s) rejected: %s", path, row, identifier, reason)
        self.rows.append({"row": row, "identifier": identifier, "reason": f"{Path(path).name}: {reason}"})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=REJECTS_SCHEMA.names).astype({"row": "int64"})


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV table (truncated or corrupt?): {' '.join(str(err).split())}") from err
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def _finite_float(text) -> float:
    if not isinstance(text, str):  # read_csv turns an empty cell into a float NaN
        raise ValueError("missing value")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _strict_composition(formula: str) -> Composition:
    """A pymatgen composition that refuses unknown symbols and empty formulas."""
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("empty formula")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            composition = Composition(formula, strict=True)
        except (ValueError, KeyError) as err:
            raise FormulaError(f"malformed formula {formula!r}: {err}") from None
    if composition.num_atoms <= 0:
        raise FormulaError(f"formula {formula!r} has no atoms")
    return composition


# --- atmo -------------------------------------------------------------------------


def build_atmo(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = Path(paths["atmo.csv"])
    raw = _read_csv(path, ["identifier", "dimension", "smiles", "csdformula"])
    rows, rejects = [], _Rejects()
    for record, rec in enumerate(raw.itertuples(index=False), start=1):
        try:
            if not isinstance(rec.smiles, str) or not rec.smiles.strip():
                raise ValueError("no amine SMILES")
            if rec.dimension not in {"0", "1", "2", "3"}:
                raise ValueError(f"dimension {rec.dimension!r} is not one of 0-3")
            fractions = mole_fractions(parse_csd_formula(rec.csdformula))
        except ValueError as err:
            rejects.add(path, record, rec.identifier, str(err))
            continue
        rows.append(
            {
                "identifier": rec.identifier,
                "amine": rec.smiles.strip(),
                "dimension": int(rec.dimension),
                "csdformula": rec.csdformula,
                "chemical_system": chemical_system(fractions),
                "elements": list(fractions),
                "fractions": list(fractions.values()),
            }
        )
    return pd.DataFrame(rows, columns=SCHEMAS["atmo"].names), rejects.frame()


# --- elpasolites ----------------------------------------------------------------


def build_elpasolite_dft(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = Path(paths["elpasolite_train_set.pkl"])
    try:
        data = load_numpy_pickle(path)
    except UnsafePickleError:
        raise
    except Exception as err:  # a truncated or corrupt pickle fails in many ways, all meaning the same
        raise DataError(f"{path}: not a readable pickle of numpy arrays (truncated or corrupt?): {type(err).__name__}: {err}") from err
    if not isinstance(data, dict) or not {"ANs", "FEs"} <= set(data):
        raise DataError(f"{path}: expected a dict with 'ANs' and 'FEs'")
    numbers, energies = np.asarray(data["ANs"]), np.asarray(data["FEs"], dtype=float)
    if numbers.ndim != 2 or numbers.shape[1] != 4 or len(numbers) != len(energies):
        raise DataError(f"{path}: ANs must be n x 4 and FEs n long, got {numbers.shape} and {energies.shape}")
    # The file stores eV per ABC2D6 formula unit of 10 atoms.
    e_form = energies / 10.0
    rows, rejects = [], _Rejects()
    for entry, (sites, energy) in enumerate(zip(numbers.tolist(), e_form, strict=True)):
        record = entry + 1
        if not all(1 <= z <= 118 for z in sites):
            rejects.add(path, record, str(sites), f"atomic number outside 1-118 in {sites}")
            continue
        symbols = [Element.from_Z(z).symbol for z in sites]
        if len(set(symbols)) != 4:
            rejects.add(path, record, "-".join(symbols), "the four sites must hold distinct elements")
        elif not np.isfinite(energy):
            rejects.add(path, record, "-".join(symbols), f"formation energy is {energy}")
        else:
            rows.append(
                {"entry": entry, **dict(zip("ABCD", symbols, strict=True)), **{f"Z_{s}": z for s, z in zip("ABCD", sites, strict=True)}}
                | {"e_form": float(energy), "elements": sorted(symbols)}
            )
    return pd.DataFrame(rows, columns=SCHEMAS["elpasolite_dft"].names), rejects.frame()


# --- crystal structures ----------------------------------------------------------


def structure_columns(structure: Structure) -> dict:
    """The stored form of a structure plus the quantities every structure table carries."""
    if len(structure) > 1:
        distances = structure.distance_matrix
        min_distance = float(distances[~np.eye(len(structure), dtype=bool)].min())
    else:
        min_distance = float(min(structure.lattice.abc))
    return {
        "formula": structure.composition.reduced_formula,
        "lattice": structure.lattice.matrix.reshape(-1).tolist(),
        "species": [site.specie.symbol for site in structure],
        "frac_coords": structure.frac_coords.tolist(),
        "cell_volume": float(structure.volume),
        "n_atoms": len(structure),
        "min_distance": min_distance,
        "elements": sorted({site.specie.symbol for site in structure}),
    }


def structure_from_columns(row: Mapping) -> Structure:
    """Inverse of `structure_columns`."""
    lattice = Lattice(np.asarray(row["lattice"], dtype=float).reshape(3, 3))
    return Structure(lattice, list(row["species"]), np.stack(row["frac_coords"]).astype(float))


def _checked_structure(columns: dict) -> dict:
    if columns["min_distance"] < MIN_INTERATOMIC_DISTANCE:
        raise ValueError(f"two atoms {columns['min_distance']:.3f} A apart (< {MIN_INTERATOMIC_DISTANCE} A)")
    return columns


# The .mat files keep H in column 1 and the metal in column 2 (Pd) or 3 (Ni);
# the other metal column is an all-zero placeholder.
_HYDRIDE_FILES = {"PdH_dataset.mat": ("Pd", "Pd_POSCAR_data", 2), "NiH_dataset.mat": ("Ni", "Ni_POSCAR_data", 3)}


def build_hydrides(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, rejects = [], _Rejects()
    for source, (metal, variable, metal_column) in _HYDRIDE_FILES.items():
        path = Path(paths[source])
        try:
            content = scipy.io.loadmat(path)
        except Exception as err:  # scipy raises OSError, ValueError or TypeError for broken files
            raise DataError(f"{path}: not a readable MATLAB .mat file (truncated or corrupt?): {type(err).__name__}: {err}") from err
        if variable not in content:
            raise DataError(f"{path}: no variable {variable!r}")
        table = content[variable]
        if table.ndim != 2 or table.shape[1] != 4:
            raise DataError(f"{path}: {variable} must have 4 columns, has shape {table.shape}")
        for index in range(table.shape[0]):
            identifier = f"{metal}H-{index:02d}"
            try:
                lattice = np.asarray(table[index, 0], dtype=float)
                hydrogen = np.asarray(table[index, 1], dtype=float).reshape(-1, 3)
                metals = np.asarray(table[index, metal_column], dtype=float).reshape(-1, 3)
                if lattice.shape != (3, 3) or abs(np.linalg.det(lattice)) < 1e-6:
                    raise ValueError(f"lattice is not a non-singular 3x3 matrix: {lattice.tolist()}")
                structure = Structure(
                    Lattice(lattice),
                    ["H"] * len(hydrogen) + [metal] * len(metals),
                    np.vstack([hydrogen, metals]),
                    coords_are_cartesian=True,
                )
                columns = _checked_structure(structure_columns(structure))
            except ValueError as err:
                rejects.add(path, index + 1, identifier, str(err))
                continue
            rows.append({"identifier": identifier, "metal": metal, "source_row": index, **columns})
    return pd.DataFrame(rows, columns=SCHEMAS["hydrides"].names), rejects.frame()


_PEROVSKITE_FILES = {"perov_5_val.csv": "val", "perov_5_test.csv": "test"}


def _parse_cif(text) -> Structure:
    """The structure of one CIF string; any parser failure becomes a ValueError that rejects the row."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty CIF")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Structure.from_str(text, fmt="cif")
        except Exception as err:  # pymatgen's CIF parser raises many types for one meaning
            raise ValueError(f"CIF does not parse: {type(err).__name__}: {' '.join(str(err).split())[:200]}") from None


def build_perovskites(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, rejects = [], _Rejects()
    for source, split in _PEROVSKITE_FILES.items():
        path = Path(paths[source])
        raw = _read_csv(path, ["material_id", "cif", "formula", "heat_ref", "dir_gap", "ind_gap"])
        for record, rec in enumerate(raw.itertuples(index=False), start=1):
            try:
                values = {name: _finite_float(getattr(rec, name)) for name in ("heat_ref", "dir_gap", "ind_gap")}
                structure = _parse_cif(rec.cif)
                columns = _checked_structure(structure_columns(structure))
                stated = _strict_composition(rec.formula).reduced_formula
                if stated != columns["formula"]:
                    raise ValueError(f"formula column {rec.formula!r} disagrees with the CIF ({columns['formula']})")
                material_id = int(rec.material_id)
            except (ValueError, FormulaError) as err:
                rejects.add(path, record, str(rec.material_id), str(err))
                continue
            rows.append({"material_id": material_id, "split": split, **values, **columns})
    return pd.DataFrame(rows, columns=SCHEMAS["perovskites"].names), rejects.frame()


# --- Materials Project composition tables ---------------------------------------------


def _build_formula_target(path: Path, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = _read_csv(path, ["formula", "target"])
    rows, rejects = [], _Rejects()
    reduced_cache: dict[str, tuple[str, list[str]]] = {}
    for record, rec in enumerate(raw.itertuples(index=False), start=1):
        try:
            value = _finite_float(rec.target)
            if rec.formula not in reduced_cache:
                composition = _strict_composition(rec.formula)
                reduced_cache[rec.formula] = (
                    composition.reduced_formula,
                    sorted(el.symbol for el in composition.elements),
                )
            formula, elements = reduced_cache[rec.formula]
        except (ValueError, FormulaError) as err:
            rejects.add(path, record, rec.formula, str(err))
            continue
        rows.append({"formula": formula, "formula_input": rec.formula, target: value, "elements": elements})
    return pd.DataFrame(rows, columns=["formula", "formula_input", target, "elements"]), rejects.frame()


def build_mp_e_form(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _build_formula_target(Path(paths["mp_e_form.csv"]), "e_form")


def build_mp_gap(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _build_formula_target(Path(paths["mp_gap.csv"]), "band_gap")


BUILDERS: dict[str, Callable[[Mapping[str, Path]], tuple[pd.DataFrame, pd.DataFrame]]] = {
    "atmo": build_atmo,
    "elpasolite_dft": build_elpasolite_dft,
    "hydrides": build_hydrides,
    "perovskites": build_perovskites,
    "mp_e_form": build_mp_e_form,
    "mp_gap": build_mp_gap,
}


def build_dataset(name: str, paths: Mapping[str, Path], output: Path, rejects_output: Path) -> pd.DataFrame:
    """Build dataset `name` from its raw files and write it and its rejects as parquet."""
    if name not in BUILDERS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(BUILDERS)}")
    needed = DATASETS[name]["sources"]
    absent = [s for s in needed if s not in paths]
    if absent:
        raise KeyError(f"dataset {name!r} needs raw file(s) {absent}")
    rows, rejects = BUILDERS[name](paths)
    log.info("%s: %d rows, %d rejects", name, len(rows), len(rejects))
    write_table(rejects, rejects_output, REJECTS_SCHEMA)
    write_table(rows, output, SCHEMAS[name])
    return rows
