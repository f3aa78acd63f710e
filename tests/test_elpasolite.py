import copy

import numpy as np
import pandas as pd
import pytest

from compgen.elpasolite.metrics import (
    class_table,
    energy_class,
    generation_metrics,
    js_distance,
    prevalence_baseline,
    site_distributions,
    uniform_baseline,
)
from compgen.elpasolite.oracle import augmented_dft, element_kernel, fit, predict_grid
from compgen.elpasolite.space import (
    ELEMENTS,
    ROW_GROUP,
    SPACE_SIZE,
    decode,
    element_index,
    encode,
    enumerate_space,
    from_keys,
    keys,
    valid,
)
from conftest import run_workflow


def test_the_space_has_1974024_compositions_of_distinct_elements():
    space = enumerate_space()
    assert len(space) == SPACE_SIZE == 39 * 38 * 37 * 36 == 1_974_024
    assert valid(space).all()
    assert len(np.unique(keys(space))) == len(space)
    np.testing.assert_array_equal(from_keys(keys(space[:1000])), space[:1000])


def test_the_39_main_group_elements_and_their_table_places():
    assert len(ELEMENTS) == 39 and ELEMENTS[:3] == ["H", "He", "Li"] and ELEMENTS[-1] == "Bi"
    places = dict(zip(ELEMENTS, map(tuple, ROW_GROUP)))
    assert places["H"] == (1, 1) and places["He"] == (1, 8) and places["F"] == (2, 7)
    assert places["Ga"] == (4, 3) and places["Xe"] == (5, 8) and places["Bi"] == (6, 5)


def test_eq1_round_trips_for_every_element_on_every_site():
    idx = np.arange(39)
    compositions = np.stack([idx, np.roll(idx, 1), np.roll(idx, 2), np.roll(idx, 3)], axis=1)
    x = encode(compositions)
    assert x.shape == (39, 8) and x.min() > -1 and x.max() < 1
    np.testing.assert_array_equal(decode(x), compositions)
    # eq 1 by hand: AlNaK2F6, Al = (3, 3): (2*3 - 1)/6 - 1 = -1/6, (2*3 - 1)/8 - 1 = -3/8
    np.testing.assert_allclose(encode(element_index(["Al", "Na", "K", "F"])[None])[0, :2], [-1 / 6, -3 / 8])
    # small noise still decodes to the same element
    np.testing.assert_array_equal(decode(x + 0.04), compositions)


def test_decoding_marks_missing_elements_and_repeats_invalid():
    # row 1, group 4 is empty; row 6, group 8 (Rn) is outside the space
    missing = encode(element_index(["H", "Li", "Na", "K"])[None])
    missing[0, 1] = (2 * 4 - 1) / 8 - 1
    assert decode(missing)[0, 0] == -1
    assert decode(np.full((1, 8), 0.999))[0, 0] == -1
    repeated = element_index(["Na", "Na", "K", "F"])[None]
    assert not valid(repeated)[0]


def test_energy_classes_clip_to_the_end_classes():
    edges = np.linspace(0.0, 10.0, 11)
    assert energy_class(np.array([-5.0, 0.0, 0.5, 1.0, 9.99, 10.0, 20.0]), edges).tolist() == [1, 1, 1, 2, 10, 10, 10]


def test_js_distance_is_zero_for_identical_and_one_for_disjoint():
    p = site_distributions(np.array([[0, 1, 2, 3], [4, 5, 6, 7]]))
    q = site_distributions(np.array([[8, 9, 10, 11]]))
    assert js_distance(p, p) == 0.0
    assert js_distance(p, q) == pytest.approx(1.0)


def _toy_space():
    """Ten compositions: classes 1 (four), 2 (three), 3 (three)."""
    comps = np.array([[i, i + 1, i + 2, i + 3] for i in range(10)])
    classes = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3], dtype=np.int8)
    space = pd.DataFrame(comps, columns=list("ABCD")).assign(key=keys(comps), energy_class=classes)
    return comps, space, class_table(space)


def test_metrics_on_a_hand_built_toy_space():
    comps, space, lookup = _toy_space()
    # 8 samples, target class 1: five in class 1 (three unique), two in class 2 (one unique), one not in the space
    samples = np.concatenate([comps[[0, 0, 1, 2, 2]], comps[[4, 4]], [[20, 21, 22, 23]]])
    metrics = generation_metrics(samples, lookup, space, target=1)
    assert metrics["n_samples"] == 8 and metrics["n_unique"] == 5
    assert metrics["precision_right"] == pytest.approx(5 / 8)
    assert metrics["precision_neigh"] == pytest.approx(2 / 8)  # class 2 only: class 0 does not exist
    assert metrics["coverage_right"] == pytest.approx(3 / 4)
    assert metrics["coverage_neigh"] == pytest.approx(1 / 3)
    assert 0 < metrics["js"] < 1
    perfect = generation_metrics(comps[:4], lookup, space, target=1)
    assert perfect["coverage_right"] == 1.0 and perfect["js"] == 0.0


def test_invalid_samples_are_dropped_before_counting():
    comps, space, lookup = _toy_space()
    metrics = generation_metrics(np.array([[0, 1, 2, 3], [5, 5, 6, 7], [-1, 1, 2, 3]]), lookup, space, target=1)
    assert metrics["n_samples"] == 1 and metrics["precision_right"] == 1.0


def test_baselines_give_valid_compositions_and_follow_the_training_sites():
    rng = np.random.default_rng(0)
    uniform = uniform_baseline(5000, rng)
    assert len(uniform) == 5000 and valid(uniform).all()
    training = element_index(["Na", "K", "Al", "F"])[None].repeat(3, axis=0)
    training[1, 0] = element_index(["Li"])[0]
    drawn = prevalence_baseline(2000, training, rng)
    assert set(drawn[:, 3]) == {element_index(["F"])[0]}
    assert set(drawn[:, 0]) == set(element_index(["Na", "Li"]))


def test_ab_swaps_are_added_once_and_share_a_twin_id():
    dft = pd.DataFrame({"A": ["Na", "K", "Li"], "B": ["K", "Na", "Cs"], "C": ["Al", "Al", "Ga"], "D": ["F", "F", "Cl"], "e_form": [-2.0, -2.1, -1.0]})
    table = augmented_dft(dft)
    # NaK and KNa were both computed: only LiCs gets a swap
    assert len(table) == 4 and (table["source"] == "dft_ab_swap").sum() == 1
    assert table.loc[0, "twin"] == table.loc[1, "twin"]
    swap = table[table["source"] == "dft_ab_swap"].iloc[0]
    assert [ELEMENTS[swap[s]] for s in "ABCD"] == ["Cs", "Li", "Ga", "Cl"] and swap["e_form"] == -1.0


def test_factorised_grid_prediction_equals_the_direct_kernel_sum():
    rng = np.random.default_rng(1)
    train = enumerate_space()[rng.choice(SPACE_SIZE, 60, replace=False)]
    y = rng.normal(size=60)
    alpha = fit(train, y, sigma=16.0, lam=1e-2)
    grid = predict_grid(train, alpha, 16.0)
    queries = enumerate_space()[rng.choice(SPACE_SIZE, 25, replace=False)]
    g = element_kernel(16.0)
    direct = np.array([sum(alpha[j] * np.prod([g[q[s], train[j, s]] for s in range(4)]) for j in range(60)) for q in queries])
    np.testing.assert_allclose(grid[keys(queries)], direct, rtol=1e-10)
    # with a vanishing ridge the fit interpolates its training targets
    interpolating = predict_grid(train, fit(train, y, sigma=16.0, lam=1e-9), 16.0)
    np.testing.assert_allclose(interpolating[keys(train)], y, atol=1e-5)


def test_tiny_study_through_snakemake_writes_every_output(tmp_path, mirror, default_config):
    config = copy.deepcopy(default_config)
    config["elpasolite"] = {
        "oracle": {"sigmas": [16], "lambdas": [1e-2], "search_train_size": 500, "learning_curve": [200, 400]},
        "targets": [{"energy_class": 1, "n_samples": 200}],
        "seeds": [0],
        "cvae": {"hidden": 16, "updates": 20, "batch": 50, "log_every": 10, "checkpoint_every": 10},
    }
    work = tmp_path / "work"
    result = run_workflow(work, ["elpasolite"], config, mirror)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = work / "results" / "elpasolite"
    classes = pd.read_csv(out / "class_sizes.csv")
    assert classes["n_space"].sum() == 1_974_024
    assert classes.loc[0, "n_training"] == 86  # class 1 of the DFT set with A/B swaps, as in the paper
    curve = pd.read_csv(out / "oracle_metrics.csv")
    assert list(curve.columns) == ["n_train", "mae", "rmse"] and curve["n_train"].iloc[0] == 200
    space = pd.read_parquet(out / "space.parquet", columns=["source"])
    assert (space["source"] != "oracle").sum() == 21_112
    summary = pd.read_csv(out / "metrics_summary.csv")
    assert set(summary["model"]) == {"uniform", "prevalence", "cvae"}
    assert (summary["n_samples"] == 200).all() and (summary["n_seeds"] == 1).all()
    assert summary["precision_right_mean"].between(0, 1).all()
    assert "update 20/20" in (work / "logs" / "elpasolite" / "train_cvae_seed0.log").read_text()
    assert (out / "figures" / "oracle_learning_curve.png").exists()
    sites = pd.read_csv(out / "figures" / "site_distributions.csv")
    assert set(sites["set"]) == {"full space, class 1", "training set, class 1", "uniform", "prevalence", "cvae"}
    np.testing.assert_allclose(sites.groupby(["set", "site"])["p"].sum(), 1.0)
    energies = pd.read_csv(out / "figures" / "sample_energies.csv")
    assert (energies["set"] == "training set").sum() == 86
    assert (out / "figures" / "site_distributions.png").stat().st_size > 10_000
    discovery = pd.read_csv(out / "figures" / "discovery_curves.csv")
    last = discovery.groupby("model")["n_generated"].max()
    assert (last == 200).all() and set(last.index) == {"uniform", "prevalence", "cvae"}


def test_cvae_resumes_to_the_same_weights_and_samples_valid_compositions(tmp_path):
    import torch

    from compgen.elpasolite.cvae import CVAESettings, load_cvae, sample_valid, train_cvae

    rng = np.random.default_rng(0)
    indices = enumerate_space()[rng.choice(SPACE_SIZE, 300, replace=False)]
    classes = rng.integers(1, 11, size=300)
    settings = CVAESettings(hidden=16, updates=12, batch=32, log_every=6, checkpoint_every=5)
    train_cvae(settings, indices, classes, tmp_path / "straight.pt")
    train_cvae(settings, indices, classes, tmp_path / "resumed.pt", stop_after=7)  # killed after update 7
    assert not (tmp_path / "resumed.pt").exists() and (tmp_path / "resumed.pt.ckpt").exists()
    train_cvae(settings, indices, classes, tmp_path / "resumed.pt")
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["model"]
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    samples, invalid = sample_valid(load_cvae(tmp_path / "straight.pt"), target=1, n=500, seed=0, batch=256)
    assert samples.shape == (500, 4) and valid(samples).all() and invalid >= 0


def test_discovery_curve_counts_by_hand():
    from compgen.elpasolite.metrics import discovery_curve

    comps, space, lookup = _toy_space()
    # training knows comps[0]; run: 0 (rediscovery), 1 (novel, class 1), 1 (repeat), 4 (novel, class 2), 8 (novel, class 3)
    run = comps[[0, 1, 1, 4, 8]]
    curve = discovery_curve(run, keys(comps[[0]]), lookup, target=1, points=5).set_index("n_generated")
    assert curve.loc[5].to_dict() == {"novel_target": 1, "novel_neighbours": 1, "novel_other": 1, "repetitions": 1, "rediscoveries": 1}
    assert curve.loc[2, "novel_target"] == 1 and curve.loc[2, "repetitions"] == 0 and curve.loc[3, "repetitions"] == 1
