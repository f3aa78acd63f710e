"""Dataset builders on tiny inputs made here: good rows kept, bad rows rejected with a reason."""

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.io

from compgen.datasets import SCHEMAS, DataError, build_dataset, structure_from_columns
from compgen.io import read_table, write_table


def _build(tmp_path, name, paths):
    out, rejects = tmp_path / f"{name}.parquet", tmp_path / f"{name}.rejects.parquet"
    build_dataset(name, paths, out, rejects)
    return read_table(out), read_table(rejects)


def test_atmo_rows_and_rejects(tmp_path):
    csv = tmp_path / "atmo.csv"
    pd.DataFrame(
        {
            "identifier": ["GOOD1", "WATERX", "BADDIM", "BADEL"],
            "dimension": ["2", "3", "7", "0"],
            "smiles": ["NCCN", "CNC", "NCCN", "NCCN"],
            "csdformula": ["(O4 P1 V1 1-)n,0.5n(C2 H10 N2 2+)", "(Al1 O4 P1)n,x(H2 O1)", "O1 V1", "Qq1 O2"],
        }
    ).to_csv(csv, index=False)
    rows, rejects = _build(tmp_path, "atmo", {"atmo.csv": csv})
    assert rows["identifier"].tolist() == ["GOOD1"]
    good = rows.iloc[0]
    # O4 P1 V1 + 0.5 x C2 H10 N2 = C1 H5 N1 O4 P1 V1, 13 atoms
    assert list(good["elements"]) == ["C", "H", "N", "O", "P", "V"]
    np.testing.assert_allclose(good["fractions"], np.array([1, 5, 1, 4, 1, 1]) / 13)
    assert good["chemical_system"] == "C-H-N-O-P-V"
    assert good["dimension"] == 2
    assert rejects["row"].tolist() == [2, 3, 4]
    reasons = rejects.set_index("identifier")["reason"]
    assert "undetermined" in reasons["WATERX"] and reasons["WATERX"].startswith("atmo.csv:")
    assert "dimension '7'" in reasons["BADDIM"]
    assert "unknown element 'Qq'" in reasons["BADEL"]


def test_atmo_missing_column_names_the_file(tmp_path):
    csv = tmp_path / "atmo.csv"
    pd.DataFrame({"identifier": ["A"], "smiles": ["N"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"atmo\.csv: missing column\(s\) \['dimension', 'csdformula'\]"):
        _build(tmp_path, "atmo", {"atmo.csv": csv})
    assert not (tmp_path / "atmo.parquet").exists()


def test_elpasolite_energy_per_atom_and_rejects(tmp_path):
    pkl = tmp_path / "train.pkl"
    numbers = np.array([[11, 19, 13, 9], [3, 3, 13, 9], [55, 37, 31, 17], [1, 2, 3, 200]], dtype=np.int32)
    energies = np.array([-25.0, -10.0, np.nan, 1.0])
    pkl.write_bytes(pickle.dumps({"ANs": numbers, "FEs": energies}, protocol=4))
    rows, rejects = _build(tmp_path, "elpasolite_dft", {"elpasolite_train_set.pkl": pkl})
    assert rows[["A", "B", "C", "D"]].values.tolist() == [["Na", "K", "Al", "F"]]
    assert rows["e_form"].tolist() == [-2.5]  # eV per 10-atom formula unit -> eV/atom
    assert list(rows["elements"][0]) == ["Al", "F", "K", "Na"]
    assert rejects["row"].tolist() == [2, 3, 4]
    assert "distinct" in rejects["reason"][0]
    assert "formation energy is nan" in rejects["reason"][1]
    assert "outside 1-118" in rejects["reason"][2]


def _hydride_table(cells):
    table = np.empty((len(cells), 4), dtype=object)
    for i, (lattice, hydrogen, metal) in enumerate(cells):
        table[i] = [np.asarray(lattice, float), np.asarray(hydrogen, float), np.zeros((18, 3)), np.asarray(metal, float)]
    return table


def test_hydrides_reads_cartesian_blocks_and_rejects_overlapping_atoms(tmp_path):
    cubic = np.eye(3) * 4.0
    pd_table = np.empty((0, 4), dtype=object)
    ni_cells = [
        (cubic, [[2.0, 2.0, 2.0]], [[0.0, 0.0, 0.0]]),  # a Ni atom at the origin is an atom, not padding
        (cubic, [[0.1, 0.0, 0.0]], [[0.0, 0.0, 0.0]]),  # H 0.1 A from Ni
    ]
    scipy.io.savemat(tmp_path / "PdH.mat", {"Pd_POSCAR_data": pd_table})
    scipy.io.savemat(tmp_path / "NiH.mat", {"Ni_POSCAR_data": _hydride_table(ni_cells)})
    rows, rejects = _build(tmp_path, "hydrides", {"PdH_dataset.mat": tmp_path / "PdH.mat", "NiH_dataset.mat": tmp_path / "NiH.mat"})
    assert rows["identifier"].tolist() == ["NiH-00"]
    row = rows.iloc[0]
    assert row["formula"] == "NiH" and row["n_atoms"] == 2
    assert row["cell_volume"] == pytest.approx(64.0)
    assert row["min_distance"] == pytest.approx(np.sqrt(3) * 2.0)
    np.testing.assert_allclose(np.stack(row["frac_coords"]), [[0.5, 0.5, 0.5], [0, 0, 0]])
    assert structure_from_columns(row).composition.reduced_formula == "NiH"
    assert rejects["identifier"].tolist() == ["NiH-01"] and "0.100 A apart" in rejects["reason"][0]


@pytest.mark.parametrize("name, target", [("mp_e_form", "e_form"), ("mp_gap", "band_gap")])
def test_formula_tables_reduce_and_reject(tmp_path, name, target):
    csv = tmp_path / f"{name}.csv"
    csv.write_text("formula,target\nFe4O6,-1.5\nFe2O3,-1.6\nXx2O3,0.1\nNaCl,\nMg1O1,nan\nK)2O,0.3\n")
    rows, rejects = _build(tmp_path, name, {f"{name}.csv": csv})
    assert rows["formula"].tolist() == ["Fe2O3", "Fe2O3"]  # polymorph rows stay, formula reduced
    assert rows["formula_input"].tolist() == ["Fe4O6", "Fe2O3"]
    assert rows[target].tolist() == [-1.5, -1.6]
    assert rejects["row"].tolist() == [3, 4, 5, 6]
    assert "Xx2O3" in rejects["reason"][0]
    assert rejects["reason"][1] == f"{name}.csv: missing value"
    assert rejects["reason"][2] == f"{name}.csv: not a finite number: 'nan'"
    assert "malformed formula" in rejects["reason"][3]


def test_write_table_refuses_a_frame_that_breaks_the_schema(tmp_path):
    frame = pd.DataFrame({"formula": ["H2O"], "formula_input": ["H2O"], "e_form": ["not a float"], "elements": [["H", "O"]]})
    with pytest.raises(pa.ArrowInvalid, match="not a float"):
        write_table(frame, tmp_path / "x.parquet", SCHEMAS["mp_e_form"])
    with pytest.raises(ValueError, match="unexpected \\['extra'\\]"):
        write_table(frame.assign(extra=1), tmp_path / "x.parquet", SCHEMAS["mp_e_form"])
    assert list(tmp_path.iterdir()) == []


# --- broken raw files: one clear error naming the file, nothing written ---------------------


def _truncated(source, tmp_path, name, keep):
    broken = tmp_path / name
    broken.write_bytes(source.read_bytes()[:keep])
    return broken


def _refused(tmp_path, name, paths, match):
    with pytest.raises(DataError, match=match):
        _build(tmp_path, name, paths)
    assert not (tmp_path / f"{name}.parquet").exists() and not (tmp_path / f"{name}.rejects.parquet").exists()


def test_truncated_mat_file_is_named_with_what_is_wrong(tmp_path, mirror):
    hydrides = mirror / "hydrides"
    broken = _truncated(hydrides / "PdH_dataset.mat", tmp_path, "PdH_dataset.mat", 3000)
    paths = {"PdH_dataset.mat": broken, "NiH_dataset.mat": hydrides / "NiH_dataset.mat"}
    _refused(tmp_path, "hydrides", paths, r"PdH_dataset\.mat: not a readable MATLAB \.mat file \(truncated or corrupt\?\)")


def test_truncated_perovskite_csv_is_named_with_what_is_wrong(tmp_path, mirror):
    source = mirror / "perovskites" / "perov_5_val.csv"
    text = source.read_text()
    # cut inside the quoted CIF of the third record: the tokenizer meets the end of the file in a string
    cut = text.index('"', text.index("\n", text.index("\n") + 1) + 1) + 100
    broken = tmp_path / "perov_5_val.csv"
    broken.write_text(text[:cut])
    paths = {"perov_5_val.csv": broken, "perov_5_test.csv": mirror / "perovskites" / "perov_5_test.csv"}
    _refused(tmp_path, "perovskites", paths, r"perov_5_val\.csv: not a readable CSV table \(truncated or corrupt\?\)")


def test_truncated_and_garbage_pickles_are_named(tmp_path, mirror):
    broken = _truncated(mirror / "elpasolite" / "train_set.pkl", tmp_path, "train_set.pkl", 5000)
    _refused(tmp_path, "elpasolite_dft", {"elpasolite_train_set.pkl": broken}, r"train_set\.pkl: not a readable pickle of numpy arrays")
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    _refused(tmp_path, "elpasolite_dft", {"elpasolite_train_set.pkl": garbage}, r"garbage\.pkl: not a readable pickle")


def test_a_cif_that_does_not_parse_rejects_its_row_only(tmp_path, mirror):
    source = pd.read_csv(mirror / "perovskites" / "perov_5_test.csv", nrows=3)
    source.loc[1, "cif"] = "data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\nthis is not a CIF"
    source.loc[2, "cif"] = ""
    broken = tmp_path / "perov_5_test.csv"
    source.to_csv(broken, index=False)
    good = tmp_path / "perov_5_val.csv"
    source.iloc[:0].to_csv(good, index=False)
    rows, rejects = _build(tmp_path, "perovskites", {"perov_5_val.csv": good, "perov_5_test.csv": broken})
    assert rows["material_id"].tolist() == [int(source.loc[0, "material_id"])]
    assert rejects["row"].tolist() == [2, 3]
    assert rejects["reason"].tolist() == [
        "perov_5_test.csv: CIF does not parse: ValueError: Invalid CIF file with no structures!",
        "perov_5_test.csv: empty CIF",
    ]


def test_a_failed_job_ends_its_log_with_one_line_naming_the_file(tmp_path, mirror):
    from compgen.workflow import job_logging

    broken = _truncated(mirror / "hydrides" / "NiH_dataset.mat", tmp_path, "NiH_dataset.mat", 1000)
    log = tmp_path / "logs" / "hydrides.log"
    with pytest.raises(DataError):
        with job_logging(log):
            _build(tmp_path, "hydrides", {"PdH_dataset.mat": mirror / "hydrides" / "PdH_dataset.mat", "NiH_dataset.mat": broken})
    last = log.read_text().strip().splitlines()[-1]
    assert "compgen job failed: DataError: " in last and "NiH_dataset.mat: not a readable MATLAB .mat file" in last
