"""The hydrides study: periodic distances, the constraint, tensors <-> structures, judging, resume, a tiny run."""


import copy
import re

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from compgen.hydrides.data import BLOCK_ROWS, Crystals, crystals_from_table, kinds, structures, to_structure
from compgen.hydrides.evaluate import build, judge, judge_run, table2
from compgen.hydrides.geometry import FAR, constraint_terms, first_neighbour_distances
from conftest import run_workflow

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


@pytest.mark.parametrize("step, constraint, keep", [(1, "none", "last"), (2, "intended", "last"), (2, "intended", "lowest_constraint")])
def test_killed_training_resumes_to_the_same_weights(tmp_path, device, step_spy, hydrides, step, constraint, keep):
    from compgen.config import defaults
    from compgen.hydrides.study import domains, gan_settings
    from compgen.hydrides.train import train_cross_domain

    cfg = defaults("hydrides") | {"network": {"hidden": 16, "layers": 2}, "log_every": 3, "checkpoint_every": 3}
    cfg["training"] = cfg["training"] | {"epochs": 8, "batch": 12}
    cfg["constraint"] = {"margin": 0.1, "keep": keep}
    if keep == "lowest_constraint":  # fast enough that the constraint loss is lowest before the last epoch (at 6 of 8)
        cfg["training"]["lr"] = 3e-2
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
    assert straight["epoch"] == resumed["epoch"]
    if keep == "lowest_constraint" and device.type == "cpu":  # the learning rate was chosen on the CPU's draws
        assert straight["epoch"] < 8
    for net in ("g_ab", "g_ba"):
        for name, tensor in straight[net].items():
            torch.testing.assert_close(resumed[net][name], tensor, rtol=0, atol=0, msg=f"{net}.{name}")
    assert step_spy.generator_devices == {device.type} and step_spy.host_copies == 0  # draws made where they are used


@pytest.mark.e2e
def test_tiny_study_through_snakemake_writes_every_output(tiny_run, mirror):
    work, config = tiny_run
    out = work / "results" / "hydrides"
    candidates = pd.read_parquet(out / "candidates.parquet")
    assert len(candidates) == 5 * 70  # generators x (35 + 35), one seed
    assert candidates.groupby(["generator", "seed"]).size().eq(70).all()
    # every candidate that could be built is a ternary: the atom masks carry H and both metals
    assert candidates.loc[candidates["reason"] != "non-finite lattice or coordinates", "ternary"].all()
    assert (candidates["good"] == candidates[["ternary", "valid", "in_range", "unique", "novel"]].all(axis=1)).all()
    summary = pd.read_csv(out / "table2.csv").set_index("generator")
    assert summary["candidates_mean"].eq(70).all() and summary["n_seeds"].eq(1).all()
    assert summary.loc["crystalgan_geo", "paper_pd_ni_h"] == 9 and summary.loc["noise_gan", "paper_pd_ni_h"] == 0
    assert np.isnan(summary.loc["step1_transfer", "paper_pd_ni_h"]) and np.isnan(summary.loc["substitution", "paper_pd_ni_h"])
    # the baseline needs no training: the same 25 good candidates as on the full settings, none prototype-novel
    baseline = summary.loc["substitution"]
    assert (baseline["in_range_mean"], baseline["novel_mean"], baseline["prototype_novel_mean"]) == (51, 25, 0)
    good = candidates[candidates["good"]]
    assert not good.loc[good["generator"] == "substitution", "beyond_substitution"].any()
    known = pd.read_csv(out / "relaxed_known.csv")
    assert (known["kind"] == "training").sum() == 70 and set(known.loc[known["kind"] == "reference", "formula"]) == {"Pd", "Ni", "H2"}
    references = known[known["kind"] == "reference"]
    np.testing.assert_allclose(references["e_form"], 0.0, atol=1e-9)  # the references define the chemical potentials
    assert (known["e_above_hull"] >= -1e-9).all()  # the hull is built from these very entries
    sun = pd.read_csv(out / "sun.csv")
    assert sorted(sun["generator"]) == ["crystalgan_geo", "substitution"]  # relax.generators
    cap = config["hydrides"]["relax"]["max_per_run"]
    assert (sun["relaxed"] == sun["good"].clip(upper=cap)).all() and (sun["sun"] <= sun["relaxed"]).all()
    assert (sun["sun_prototype_novel"] <= sun["sun"]).all()
    good_per_run = candidates.groupby(["generator", "seed"])["good"].sum()
    assert sun.set_index(["generator", "seed"])["good"].to_dict() == good_per_run[sun.set_index(["generator", "seed"]).index].to_dict()
    for name in ["table2", "first_neighbour_distances", "hull", "best_candidates", "loss_curves"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000
        assert (out / "figures" / f"{name}.csv").exists()
    good = int(candidates["good"].sum())
    assert len(list((out / "structures" / "generated").glob("*.POSCAR"))) == good
    assert len(list((out / "structures" / "generated").glob("*.cif"))) == good
    log = (work / "logs" / "hydrides" / "crystalgan_geo_seed0.log").read_text()
    assert "step 2 epoch 6/6 (100%)" in log and "ETA" in log
    assert "keeping the translators of epoch" in log

    # d1 is read by step 2 and the judge only: step 1, the noise GAN and the training crystals'
    # relaxation stay as they are.
    changed = copy.deepcopy(config)
    changed["hydrides"]["d1"] = 1.7
    dry = run_workflow(work, ["hydrides"], changed, mirror, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:]
    planned = set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout, re.M))
    assert planned == {"hydrides_step2", "hydrides_candidates", "hydrides_relax", "hydrides_figures", "hydrides"}
    step2 = re.findall(r"^rule hydrides_step2:.*?wildcards: ([^\n]*)", dry.stdout, re.M | re.S)
    assert step2 and all("variant=crystalgan_geo" in w for w in step2)  # the unconstrained step 2 reads no d1


def _cell(lattice, metal_frac, h_frac=((0.5, 0.5, 0.5),), own: int = 1) -> Crystals:
    """One binary crystal with its metal in block `own`, from fractional coordinates."""
    lattice = np.asarray(lattice, dtype=float)
    coords = torch.zeros(1, 3, BLOCK_ROWS, 3)
    atoms = torch.zeros(1, 3, BLOCK_ROWS, dtype=torch.bool)
    for block, frac in ((0, h_frac), (own, metal_frac)):
        cartesian = np.asarray(frac, dtype=float) @ lattice
        coords[0, block, : len(frac)] = torch.tensor(cartesian, dtype=torch.float32)
        atoms[0, block, : len(frac)] = True
    return Crystals(torch.tensor(lattice, dtype=torch.float32)[None], coords, atoms, ["cell"])


def test_substitution_keeps_like_metals_apart_and_doubles_a_one_metal_cell():
    from compgen.hydrides.substitution import substitute, substituted_sites

    # four metal sites of a square-planar cell: rows 0-3 at (0,0), (1/2,0), (0,1/2), (1/2,1/2) in a 4 x 4 x 8 A cell
    lattice = np.diag([4.0, 4.0, 8.0])
    metal = [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0.5, 0.5, 0]]
    positions = np.asarray(metal) @ lattice
    # every second row hands rows 1 and 3 over: the two B (and the two A) sit 2 A apart, a column each
    assert substituted_sites(lattice, positions, "rows").tolist() == [False, True, False, True]
    # separated: a checkerboard (like metals 2.83 A apart); of its two choices, rows 0 and 3 come first
    assert substituted_sites(lattice, positions, "separated").tolist() == [True, False, False, True]
    (ternary,) = [substitute(_cell(lattice, metal), own=1, ordering="separated")]
    assert ternary.counts().tolist() == [[1, 2, 2]]
    np.testing.assert_allclose(ternary.coords[0, 2, :2].numpy(), positions[[0, 3]], atol=1e-6)
    np.testing.assert_allclose(ternary.coords[0, 1, :2].numpy(), positions[[1, 2]], atol=1e-6)
    np.testing.assert_allclose(ternary.lattice[0].numpy(), lattice)
    # a B crystal gives its sites to A the same way
    assert substitute(_cell(lattice, metal, own=2), own=2, ordering="separated").counts().tolist() == [[1, 2, 2]]
    # one metal atom: the cell doubles along its shortest vector (here the second, 3 A) and one copy changes
    single = _cell([[5.0, 0, 0], [0, 3.0, 0], [0, 0, 4.0]], [[0, 0, 0]], h_frac=((0.5, 0.5, 0.5),))
    doubled = substitute(single, own=1, ordering="separated")
    np.testing.assert_allclose(doubled.lattice[0].numpy(), np.diag([5.0, 6.0, 4.0]))
    assert doubled.counts().tolist() == [[2, 1, 1]]
    np.testing.assert_allclose(doubled.coords[0, 2, 0].numpy(), [0, 0, 0], atol=1e-6)  # the first site changes
    np.testing.assert_allclose(doubled.coords[0, 1, 0].numpy(), [0, 3, 0], atol=1e-6)
    np.testing.assert_allclose(doubled.coords[0, 0, :2].numpy(), [[2.5, 1.5, 2], [2.5, 4.5, 2]], atol=1e-6)
    with pytest.raises(ValueError, match="unknown substitution ordering"):
        substituted_sites(lattice, positions, "random")


def test_substitution_of_the_real_crystals_is_ternary_and_relabels_training_prototypes(hydrides):
    from compgen.hydrides.evaluate import judge_run
    from compgen.hydrides.study import domains
    from compgen.hydrides.substitution import substitution_candidates

    a, b, _ = domains(hydrides, {"domains": list(METALS)})
    candidates = substitution_candidates(a, b, "separated")
    assert len(candidates) == 70 and (candidates.counts()[:, 1:] > 0).all()
    metal = np.concatenate([a.counts()[:, 1], b.counts()[:, 2]])
    metal = np.where(metal == 1, 2, metal)  # one-metal cells are doubled
    np.testing.assert_array_equal(candidates.counts()[:, 1:].sum(1), metal)
    training = structures(a, METALS) + structures(b, METALS)
    table, _ = judge_run(candidates, METALS, training, 1.8, 3.0, structures(candidates, METALS))
    # the judge's distances ignore which metal: in range exactly where the parent crystal is
    assert table["ternary"].all() and table["valid"].all()
    assert not table["prototype_novel"].any() and not table["beyond_substitution"].any()


def test_alternate_transfer_puts_each_metal_on_the_same_rows_in_both_domains(hydrides):
    from compgen.hydrides.models import Translator
    from compgen.hydrides.study import domains
    from compgen.hydrides.train import feature_transfer

    a, b, _ = domains(hydrides, {"domains": list(METALS)})
    torch.manual_seed(0)
    g_ab, g_ba = Translator(8, 1, swap=True).eval(), Translator(8, 1, swap=True).eval()
    x, y = feature_transfer(g_ab, g_ba, a, b, "alternate")
    rows = torch.arange(BLOCK_ROWS)
    several_x, several_y = a.counts()[:, 1] > 1, b.counts()[:, 2] > 1
    for domain, several in ((x, several_x), (y, several_y)):
        atoms = domain.atoms[torch.tensor(several)]
        assert not (atoms[:, 1] & (rows % 2 == 0)).any()  # metal A only on odd rows
        assert not (atoms[:, 2] & (rows % 2 == 1)).any()  # metal B only on even rows
    # so the share of atoms on each row is alike in both domains, not mirrored
    share_x = x.atoms[torch.tensor(several_x), 1:].float().mean(0)
    share_y = y.atoms[torch.tensor(several_y), 1:].float().mean(0)
    assert ((share_x > 0) == (share_y > 0)).all()


def test_translator_keeps_fractional_coordinates_when_the_lattice_changes():
    from compgen.hydrides.data import flatten, unflatten
    from compgen.hydrides.models import Translator, feature_mask

    crystal = _cell([[3.0, 0, 0], [0.5, 3.5, 0], [0, 0, 4.0]], [[0, 0, 0], [0.5, 0.5, 0.5]], h_frac=((0.25, 0.5, 0.75),))
    net = Translator(4, 1, swap=False)
    x = flatten(crystal)
    keep = feature_mask(crystal.atoms)
    same = unflatten(net(x, keep).detach(), crystal.atoms, crystal.names)
    torch.testing.assert_close(same.coords, crystal.coords, atol=1e-5, rtol=0)  # untrained: the identity
    with torch.no_grad():  # the last layer now stretches the first lattice vector by 10% and moves no site
        net.net[-1].bias[0] = 0.3 / 10.0
    out = unflatten(net(x, keep).detach(), crystal.atoms, crystal.names)
    new_lattice = crystal.lattice.clone()
    new_lattice[0, 0, 0] = 3.3
    torch.testing.assert_close(out.lattice, new_lattice, atol=1e-5, rtol=0)
    frac_in = crystal.coords[0][crystal.atoms[0]] @ torch.linalg.inv(crystal.lattice[0])
    frac_out = out.coords[0][out.atoms[0]] @ torch.linalg.inv(out.lattice[0])
    torch.testing.assert_close(frac_out, frac_in, atol=1e-5, rtol=0)
    # step 1's translator does the same after moving the metal rows to the other block
    swapped = Translator(4, 1, swap=True)
    atoms = crystal.atoms[:, [0, 2, 1]]
    moved = unflatten(swapped(x, feature_mask(atoms)).detach(), atoms, crystal.names)
    torch.testing.assert_close(moved.coords[:, 2], crystal.coords[:, 1], atol=1e-5, rtol=0)


def test_prototype_novelty_rejects_a_relabelled_training_crystal_and_accepts_a_new_arrangement():
    from compgen.hydrides.evaluate import matches_any, prototype

    training = [Structure(Lattice.cubic(3.9), ["Pd"] * 4 + ["H"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0.5]])]
    relabelled = Structure(Lattice.cubic(3.8), ["Pd", "Ni", "Ni", "Pd", "H"], training[0].frac_coords)
    assert not matches_any(relabelled, training)  # species differ: "novel" by the old test
    assert matches_any(prototype(relabelled), [prototype(s) for s in training])  # but no new prototype
    # H moved from the octahedral to a tetrahedral site: a new arrangement
    moved = Structure(Lattice.cubic(3.8), ["Pd", "Ni", "Ni", "Pd", "H"], [*training[0].frac_coords[:4], [0.25, 0.25, 0.25]])
    assert not matches_any(prototype(moved), [prototype(s) for s in training])


def test_margin_and_centred_penalties_by_hand_push_at_the_range_edges():
    # one crystal, two H at distance s in a 10 A cell (their images are far): s = d1 = 1.8 and s = d2 = 3.0
    for s, side in ((1.8, 0), (3.0, 1)):
        lattice = (10.0 * torch.eye(3, dtype=torch.float64))[None]
        coords = torch.zeros(1, 3 * BLOCK_ROWS, 3, dtype=torch.float64)
        coords[0, 1, 0] = s
        coords.requires_grad_(True)
        atom = torch.zeros(1, 3 * BLOCK_ROWS, dtype=torch.bool)
        atom[0, :2] = True
        kind = (torch.arange(3 * BLOCK_ROWS) >= BLOCK_ROWS).long()[None]
        distances = first_neighbour_distances(lattice, coords, atom, kind)
        counted = atom & (distances < FAR)
        plain = constraint_terms(distances, counted, 1.8, 3.0)
        assert plain[side].item() == pytest.approx(0, abs=1e-20)
        (grad,) = torch.autograd.grad(plain[side].sum(), coords, retain_graph=True)
        assert grad.abs().sum() < 1e-12  # no push at the edge without a margin
        margin = constraint_terms(distances, counted, 1.8, 3.0, "intended", margin=0.2)
        assert margin[side].item() == pytest.approx(0.2**2)  # 0.2 short of the margin, on both atoms
        (grad,) = torch.autograd.grad(margin[side].sum(), coords, retain_graph=True)
        # each atom's term is 0.2^2 with d/ds = -+2 * 0.2, and s grows with the second atom's x: the mean
        # over the two atoms moves x by -0.4 at d1 (descent pulls them apart) and +0.4 at d2
        assert grad[0, 1, 0].item() == pytest.approx(-0.4 if side == 0 else 0.4, abs=1e-9)
        assert grad[0, 0, 0].item() == pytest.approx(-grad[0, 1, 0].item())
        centred = constraint_terms(distances, counted, 1.8, 3.0, "centred")
        assert centred[0].item() == pytest.approx((s - 1.8) ** 2) and centred[1].item() == pytest.approx((3.0 - s) ** 2)
        (grad,) = torch.autograd.grad(sum(centred).sum(), coords)
        # d/ds [(s - d1)^2 + (d2 - s)^2] = 2(s - d1) - 2(d2 - s): -2.4 at d1, +2.4 at d2, never zero there
        assert grad[0, 1, 0].item() == pytest.approx(2 * (s - 1.8) - 2 * (3.0 - s), abs=1e-9)


def test_lowest_constraint_keeps_the_weights_it_was_offered_at_the_lowest_loss():
    from compgen.hydrides.train import LowestConstraint

    net = torch.nn.Linear(2, 1)
    lowest = LowestConstraint({"g": net})
    kept = {}
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 1.0], start=1):  # a tie does not replace the first
        with torch.no_grad():
            net.weight.fill_(epoch)
        kept[epoch] = net.weight.clone()
        lowest.offer(torch.tensor(loss), epoch, {"g": net})
    assert int(lowest.epoch) == 2 and float(lowest.loss) == 1.0
    torch.testing.assert_close(lowest.weights("g", net)["weight"], kept[2])
    again = LowestConstraint({"g": torch.nn.Linear(2, 1)})
    again.load_state_dict(lowest.state_dict())  # what a checkpoint restores
    assert int(again.epoch) == 2


def test_step2_writes_the_translators_of_its_lowest_constraint_epoch(tmp_path, hydrides):
    from compgen.config import defaults
    from compgen.hydrides.study import domains, gan_settings
    from compgen.hydrides.train import train_cross_domain

    cfg = defaults("hydrides") | {"network": {"hidden": 16, "layers": 2}, "log_every": 4, "checkpoint_every": 4}
    cfg["training"] = cfg["training"] | {"epochs": 20, "batch": 12, "lr": 1e-2}
    cfg["constraint"] = {"margin": 0.2, "keep": "lowest_constraint"}
    a, b, _ = domains(hydrides, cfg)
    settings = gan_settings(cfg, 2, "intended", seed=0)
    losses = train_cross_domain(settings, a, b, tmp_path / "kept.pt", tmp_path / "losses.csv")
    total = (losses["geo1"] + losses["geo2"]).to_numpy()
    saved = torch.load(tmp_path / "kept.pt", weights_only=True)
    best = saved["epoch"]
    assert total[best - 1] <= total.min() + 1e-6 and total[best - 1] < total[-1]  # the loss rose again after its lowest point
    # the kept weights are those after best - 1 updates: a run of that length ends on them
    shorter = gan_settings(cfg | {"training": cfg["training"] | {"epochs": best - 1}, "constraint": {"margin": 0.2, "keep": "last"}}, 2, "intended", 0)
    train_cross_domain(shorter, a, b, tmp_path / "short.pt")
    short = torch.load(tmp_path / "short.pt", weights_only=True)
    for name, tensor in short["g_ab"].items():
        torch.testing.assert_close(saved["g_ab"][name], tensor, rtol=0, atol=0)


def test_relaxation_takes_at_most_the_cap_per_run_and_the_baseline_once():
    from compgen.hydrides.study import to_relax

    rows = [("substitution", seed, i) for seed in (0, 1) for i in range(4)]
    rows += [("crystalgan_geo", seed, i) for seed in (0, 1) for i in range(5 if seed == 0 else 2)]
    good = pd.DataFrame(rows, columns=["generator", "seed", "candidate"])
    cfg = {"seeds": [0, 1], "relax": {"max_per_run": 3, "generators": ["substitution", "crystalgan_geo"]}}
    chosen = to_relax(good, cfg)
    counts = chosen.groupby(["generator", "seed"]).size().to_dict()
    assert counts == {("crystalgan_geo", 0): 3, ("crystalgan_geo", 1): 2, ("substitution", 0): 3}
    again = to_relax(good, cfg)  # seeded by the run's seed: the same draw every time
    assert again["candidate"].tolist() == chosen["candidate"].tolist()
    assert len(to_relax(good, cfg | {"relax": {"max_per_run": None, "generators": ["substitution", "crystalgan_geo"]}})) == 4 + 5 + 2
    assert set(to_relax(good, cfg | {"relax": {"max_per_run": None, "generators": ["crystalgan_geo"]}})["generator"]) == {"crystalgan_geo"}


def test_paired_comparisons_by_hand():
    from compgen.hydrides.evaluate import paired_comparisons
    from compgen.stats import seeds_for_power

    per_seed = pd.DataFrame({
        "generator": ["geo"] * 3 + ["plain"] * 3 + ["substitution"] * 3, "seed": [0, 1, 2] * 3,
        "novel": [10, 12, 14, 4, 7, 8, 11, 11, 11], "prototype_novel": [5, 5, 5, 1, 1, 1, 0, 0, 0],
    })  # fmt: skip
    table = paired_comparisons(per_seed, "geo").set_index(["measure", "against"])
    plain = table.loc[("good", "plain")]
    # differences 6, 5, 6: mean 17/3, sd 0.577, t = 17.0, p = 0.0034 (two-sided, 2 df)
    assert (plain["mean_difference"], plain["min_difference"], plain["max_difference"]) == (pytest.approx(17 / 3), 5, 6)
    assert plain["p_paired_t"] == pytest.approx(0.003443, abs=1e-5) and plain["significant_at_0.05"]
    baseline = table.loc[("good", "substitution")]
    # differences -1, 1, 3 against the baseline's constant 11: t = 1 / (2 / sqrt 3) = 0.866, p = 0.478
    assert baseline["p_paired_t"] == pytest.approx(0.4778, abs=1e-4) and not baseline["significant_at_0.05"]
    assert baseline["seeds_for_80pct_power"] == seeds_for_power(0.5) and 30 < seeds_for_power(0.5) < 40  # d = 0.5: 34
    novel = table.loc[("good_prototype_novel", "substitution")]
    # the same gap every seed: no t statistic; three equal signs give the exact signed-rank p = 2 / 2^3
    assert novel["mean_difference"] == 5 and np.isnan(novel["p_paired_t"]) and novel["p_wilcoxon"] == 0.25
    assert not novel["significant_at_0.05"]
