"""The hydrides study: periodic distances, the constraint, tensors <-> structures, judging, resume, a tiny run."""


import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from compgen.hydrides.data import BLOCK_ROWS, Crystals, crystals_from_table, kinds, structures, to_structure
from compgen.hydrides.evaluate import build, judge, judge_run, table2
from compgen.hydrides.geometry import FAR, constraint_terms, first_neighbour_distances

METALS = ("Pd", "Ni")


@pytest.fixture(scope="module")
def hydrides(mirror):
    from compgen.datasets import build_hydrides

    rows, rejects = build_hydrides({f"{m}H_dataset.mat": mirror / "hydrides" / f"{m}H_dataset.mat" for m in METALS})
    assert len(rows) == 70 and rejects.empty
    return rows.sort_values("identifier").reset_index(drop=True)


def pymatgen_first_neighbours(structure: Structure) -> np.ndarray:
    """Per site, the nearest same-kind neighbour (H-H, metal-metal) from pymatgen's own neighbour search."""
    hydrogen = [site.specie.symbol == "H" for site in structure]
    out = []
    for i, site in enumerate(structure):
        found = [n.nn_distance for n in structure.get_neighbors(site, 12.0) if (n.specie.symbol == "H") == hydrogen[i]]
        out.append(min(found))
    return np.array(out)


def torch_first_neighbours(crystals: Crystals) -> np.ndarray:
    atom, kind, _ = kinds(crystals.atoms)
    d = first_neighbour_distances(crystals.lattice.double(), crystals.coords.double().flatten(1, 2), atom, kind)
    return [d[i][atom[i]].numpy() for i in range(len(crystals))]


def test_periodic_first_neighbours_equal_pymatgens_on_all_70_crystals(hydrides):
    crystals = crystals_from_table(hydrides, METALS)
    crystals = Crystals(crystals.lattice.double(), crystals.coords.double(), crystals.atoms, crystals.names)
    for got, structure in zip(torch_first_neighbours(crystals), structures(crystals, METALS), strict=True):
        np.testing.assert_allclose(got, pymatgen_first_neighbours(structure), atol=1e-6)


def test_periodic_first_neighbours_in_a_strongly_skewed_cell():
    # a 60-degree-sheared, flat cell: the nearest image lies several cells away along the short axis
    lattice = np.array([[3.0, 0.0, 0.0], [8.5, 2.2, 0.0], [1.0, 1.5, 9.0]])
    frac = np.array([[0.0, 0.0, 0.0], [0.31, 0.62, 0.4], [0.7, 0.1, 0.8], [0.5, 0.5, 0.5]])
    structure = Structure(Lattice(lattice), ["H", "H", "Pd", "Ni"], frac)
    coords = torch.zeros(1, 3, BLOCK_ROWS, 3, dtype=torch.float64)
    atoms = torch.zeros(1, 3, BLOCK_ROWS, dtype=torch.bool)
    cartesian = torch.tensor(structure.cart_coords)
    coords[0, 0, :2], coords[0, 1, 0], coords[0, 2, 0] = cartesian[:2], cartesian[2], cartesian[3]
    atoms[0, 0, :2] = atoms[0, 1, 0] = atoms[0, 2, 0] = True
    crystals = Crystals(torch.tensor(lattice)[None], coords, atoms, ["skewed"])
    np.testing.assert_allclose(torch_first_neighbours(crystals)[0], pymatgen_first_neighbours(structure), atol=1e-6)


def test_penalty_is_zero_in_range_positive_outside_with_finite_gradients():
    lattice = (4.0 * torch.eye(3, dtype=torch.float64))[None].repeat(3, 1, 1)
    coords = torch.zeros(3, 3 * BLOCK_ROWS, 3, dtype=torch.float64)
    atom = torch.zeros(3, 3 * BLOCK_ROWS, dtype=torch.bool)
    kind = (torch.arange(3 * BLOCK_ROWS) >= BLOCK_ROWS).long().expand(3, -1)
    # crystal 0: two H 2.0 A apart (in range); crystal 1: 1.0 A apart (too close); crystal 2: one metal, its image 4 A away
    coords[0, 1, 0], coords[1, 1, 0] = 2.0, 1.0
    atom[0, :2] = atom[1, :2] = True
    atom[2, BLOCK_ROWS] = True
    coords.requires_grad_(True)
    distances = first_neighbour_distances(lattice, coords, atom, kind)
    counted = atom & (distances < FAR)
    low, high = constraint_terms(distances, counted, 1.8, 3.0)
    assert low[0].item() == 0 and high[0].item() == 0
    assert low[1].item() == pytest.approx(0.8**2) and high[1].item() == 0
    assert low[2].item() == 0 and high[2].item() == pytest.approx(1.0**2)  # 4.0 - 3.0
    (low.sum() + high.sum()).backward()
    assert torch.isfinite(coords.grad).all() and coords.grad[1].abs().sum() > 0
    printed_low, printed_high = constraint_terms(distances.detach(), counted, 1.8, 3.0, "printed")
    assert printed_low[0].item() == pytest.approx(0.2**2) and printed_high[0].item() == pytest.approx(-(1.0**2))
    with pytest.raises(ValueError, match="unknown constraint form"):
        constraint_terms(distances, counted, 1.8, 3.0, "other")


def test_mat_to_tensors_to_poscar_and_back_keeps_the_h_at_the_origin(hydrides, tmp_path):
    first = hydrides[hydrides["identifier"] == "PdH-00"]
    crystals = crystals_from_table(first, METALS)
    assert crystals.counts().tolist() == [[1, 4, 0]]
    assert crystals.atoms[0, 0, 0] and (crystals.coords[0, 0, 0] == 0).all()  # an atom at the origin, not padding
    structure = to_structure(crystals.lattice[0], crystals.coords[0], crystals.atoms[0], METALS)
    assert structure.composition.reduced_formula == "HPd4"
    structure.to(filename=str(tmp_path / "POSCAR"), fmt="poscar")
    again = Structure.from_file(tmp_path / "POSCAR")
    assert [s.specie.symbol for s in again] == [s.specie.symbol for s in structure]
    np.testing.assert_allclose(again.cart_coords, structure.cart_coords, atol=1e-5)
    np.testing.assert_allclose(again.cart_coords[0], [0, 0, 0], atol=1e-8)
    row = {"identifier": "x", "lattice": again.lattice.matrix.ravel(), "species": [s.specie.symbol for s in again], "frac_coords": again.frac_coords.tolist()}
    back = crystals_from_table(pd.DataFrame([row]), METALS)
    torch.testing.assert_close(back.coords, crystals.coords, atol=1e-5, rtol=0)


def test_feature_transfer_counts(hydrides):
    from compgen.hydrides.models import Translator
    from compgen.hydrides.study import domains
    from compgen.hydrides.train import feature_transfer

    a, b, _ = domains(hydrides, {"domains": list(METALS)})
    torch.manual_seed(0)
    g_ab, g_ba = Translator(8, 1, swap=True).eval(), Translator(8, 1, swap=True).eval()
    x, y = feature_transfer(g_ab, g_ba, a, b, "fill")
    ca, cb = a.counts(), b.counts()
    # AHB_g_i: H of AH_i, A atoms as many as BH_i's metal atoms, B atoms as many as AH_i's; BHA_g_i: H of BH_i
    np.testing.assert_array_equal(x.counts(), np.stack([ca[:, 0], cb[:, 2], ca[:, 1]], 1))
    np.testing.assert_array_equal(y.counts(), np.stack([cb[:, 0], cb[:, 2], ca[:, 1]], 1))
    assert (x.counts()[:, 1:] > 0).all()  # every transferred crystal is a ternary
    assert x.names[0] == "PdH-00+NiH-00"
    # 'alternate': each side keeps its own metal sites, every second one taken by the other metal
    x, y = feature_transfer(g_ab, g_ba, a, b, "alternate")
    several = ca[:, 1] > 1
    np.testing.assert_array_equal(x.counts()[several], np.stack([ca[:, 0], ca[:, 1] // 2, ca[:, 1] - ca[:, 1] // 2], 1)[several])
    np.testing.assert_array_equal(x.counts()[~several], np.stack([ca[:, 0], cb[:, 2], ca[:, 1]], 1)[~several])
    assert (x.counts()[:, 1:] > 0).all() and (y.counts()[:, 1:] > 0).all()
    with pytest.raises(ValueError, match="unknown feature transfer"):
        feature_transfer(g_ab, g_ba, a, b, "swap")


def test_unbuildable_candidates_are_rows_with_their_reason():
    coords = torch.zeros(3, BLOCK_ROWS, 3)
    atoms = torch.zeros(3, BLOCK_ROWS, dtype=torch.bool)
    atoms[:, 0] = True
    assert build(torch.full((3, 3), float("nan")), coords, atoms, METALS) == (None, "non-finite lattice or coordinates")
    structure, reason = build(torch.zeros(3, 3), coords, atoms, METALS)
    assert structure is None and reason.startswith("cell volume 0 A^3 is below 0.1")
    lattices = torch.stack([torch.full((3, 3), float("nan")), 4 * torch.eye(3)])
    crystals = Crystals(lattices, torch.zeros(2, 3, BLOCK_ROWS, 3), atoms[None].repeat(2, 1, 1), ["nan", "ok"])
    table, built = judge_run(crystals, METALS, [], 1.8, 3.0)
    assert table["reason"].tolist()[0] == "non-finite lattice or coordinates" and built[0] is None
    assert not table["good"].any()


def test_judge_accepts_a_spaced_ternary_and_says_why_others_fail():
    good = Structure(Lattice.cubic(4.0), ["H", "Pd", "Ni"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5]])
    row = judge(good, METALS, 1.8, 3.0)
    # H-H: its own image 4.0 A away, above d2 = 3: out of range
    assert row["ternary"] and row["valid"] and not row["in_range"] and "outside [1.8, 3.0]" in row["reason"]
    cell = Structure(Lattice.cubic(2.8), ["H", "Pd", "Ni"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5]])
    assert judge(cell, METALS, 1.8, 3.0)["in_range"]  # H-H 2.8, Pd-Ni 1.98 A
    overlapping = Structure(Lattice.cubic(2.8), ["H", "Pd", "Ni"], [[0, 0, 0], [0.1, 0, 0], [0.5, 0, 0.5]])
    assert judge(overlapping, METALS, 1.8, 3.0)["reason"] == "two atoms 0.28 A apart"
    flat = Structure(Lattice([[5, 0, 0], [0, 5, 0], [0, 0, 0.01]]), ["H", "Pd", "Ni"], [[0, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0]])
    assert judge(flat, METALS, 1.8, 3.0)["reason"] == "degenerate cell"  # 0.25 A^3 passes the volume test, not the search
    binary = Structure(Lattice.cubic(2.8), ["H", "Pd"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert judge(binary, METALS, 1.8, 3.0)["reason"] == "not ternary: H-Pd"


def test_table2_counts_each_check_cumulatively_over_seeds():
    candidates = pd.DataFrame(
        {
            "generator": ["g"] * 6,
            "seed": [0, 0, 0, 1, 1, 1],
            "ternary": [True, True, False, True, True, True],
            "valid": [True, False, True, True, True, True],
            "in_range": [True, True, True, True, False, True],
            "unique": [True, False, False, True, False, False],
            "novel": [True, False, False, False, False, False],
        }
    )
    summary, per_seed = table2(candidates)
    assert per_seed[["ternary", "valid", "in_range", "unique", "novel"]].values.tolist() == [[2, 1, 1, 1, 1], [3, 3, 2, 1, 0]]
    assert summary.loc[0, "novel_mean"] == 0.5 and summary.loc[0, "ternary_std"] == 0.5


@pytest.mark.parametrize("step, constraint", [(1, "none"), (2, "intended")])
def test_killed_training_resumes_to_the_same_weights(tmp_path, hydrides, step, constraint):
    from compgen.config import defaults
    from compgen.hydrides.study import domains, gan_settings
    from compgen.hydrides.train import train_cross_domain

    cfg = defaults("hydrides") | {"network": {"hidden": 16, "layers": 2}, "log_every": 3, "checkpoint_every": 3}
    cfg["training"] = cfg["training"] | {"epochs": 8, "batch": 12}
    a, b, _ = domains(hydrides, cfg)
    settings = gan_settings(cfg, step, constraint, seed=0)
    train_cross_domain(settings, a, b, tmp_path / "straight.pt")
    train_cross_domain(settings, a, b, tmp_path / "resumed.pt", stop_after=5)
    assert not (tmp_path / "resumed.pt").exists() and (tmp_path / "resumed.pt.ckpt").exists()
    losses = train_cross_domain(settings, a, b, tmp_path / "resumed.pt", tmp_path / "losses.csv")
    assert losses["epoch"].tolist() == list(range(1, 9)) and not (tmp_path / "resumed.pt.ckpt").exists()
    if constraint != "none":
        assert (losses["geo1"] > 0).any()
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    for net in ("g_ab", "g_ba"):
        for name, tensor in straight[net].items():
            torch.testing.assert_close(resumed[net][name], tensor, rtol=0, atol=0, msg=f"{net}.{name}")


@pytest.mark.e2e
def test_tiny_study_through_snakemake_writes_every_output(tiny_run):
    work, _ = tiny_run
    out = work / "results" / "hydrides"
    candidates = pd.read_parquet(out / "candidates.parquet")
    assert len(candidates) == 4 * 70  # generators x (35 + 35), one seed
    assert candidates.groupby(["generator", "seed"]).size().eq(70).all()
    # every candidate that could be built is a ternary: the atom masks carry H and both metals
    assert candidates.loc[candidates["reason"] != "non-finite lattice or coordinates", "ternary"].all()
    assert (candidates["good"] == candidates[["ternary", "valid", "in_range", "unique", "novel"]].all(axis=1)).all()
    summary = pd.read_csv(out / "table2.csv").set_index("generator")
    assert summary["candidates_mean"].eq(70).all() and summary["n_seeds"].eq(1).all()
    assert summary.loc["crystalgan_geo", "paper_pd_ni_h"] == 9 and summary.loc["noise_gan", "paper_pd_ni_h"] == 0
    known = pd.read_csv(out / "relaxed_known.csv")
    assert (known["kind"] == "training").sum() == 70 and set(known.loc[known["kind"] == "reference", "formula"]) == {"Pd", "Ni", "H2"}
    references = known[known["kind"] == "reference"]
    np.testing.assert_allclose(references["e_form"], 0.0, atol=1e-9)  # the references define the chemical potentials
    assert (known["e_above_hull"] >= -1e-9).all()  # the hull is built from these very entries
    sun = pd.read_csv(out / "sun.csv")
    assert len(sun) == 4 and (sun["sun"] <= sun["good"]).all()
    assert sun.set_index(["generator", "seed"])["good"].to_dict() == candidates.groupby(["generator", "seed"])["good"].sum().to_dict()
    for name in ["table2", "first_neighbour_distances", "hull", "best_candidates", "loss_curves"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000
        assert (out / "figures" / f"{name}.csv").exists()
    good = int(candidates["good"].sum())
    assert len(list((out / "structures" / "generated").glob("*.POSCAR"))) == good
    assert len(list((out / "structures" / "generated").glob("*.cif"))) == good
    log = (work / "logs" / "hydrides" / "crystalgan_geo_seed0.log").read_text()
    assert "step 2 epoch 6/6 (100%)" in log and "ETA" in log
