"""The latent study: fraction vectors, XRD patterns, the VAEs, property scores, the search race, a tiny run."""

import copy
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from compgen.latent.data import ELEMENTS, CompositionError, fraction_matrix, fraction_vector
from compgen.latent.evaluate import (
    chance_censored_distribution,
    chance_of_top,
    chance_restricted_mean,
    classification_scores,
    composition_reconstruction,
    p_fewer_than_chance,
    race_runs,
    race_summary,
    race_verdicts,
    regression_scores,
    roc_auc,
)
from compgen.latent.models import CompositionVAE, active_units, kl_divergence
from compgen.latent.properties import TASKS, feature_matrix, group_folds, magpie_features
from compgen.latent.search import RACE_STRATEGIES, TEST_FUNCTIONS, Objective, Pool, SearchSettings, expected_improvement, minimise, project, race
from compgen.latent.train import VAESettings, load_vae, train_vae
from compgen.latent.xrd import XRDSettings, broaden, pattern_of
from compgen.registry import LATENT_STRATEGIES, LATENT_TASKS, LATENT_TEST_FUNCTIONS
from conftest import run_workflow

SEARCH = SearchSettings(initial_points=5, gp_points=200, gp_restarts=1, tpe_candidates=24, forest_trees=10)


def test_fraction_vectors_of_hand_written_formulas():
    fe2o3 = fraction_vector("Fe2O3")
    assert fe2o3.shape == (100,)
    assert fe2o3[25] == pytest.approx(0.4) and fe2o3[7] == pytest.approx(0.6)  # Fe is Z = 26, O is Z = 8
    assert np.count_nonzero(fe2o3) == 2
    water = fraction_vector("H2O")
    assert water[0] == pytest.approx(2 / 3) and water[7] == pytest.approx(1 / 3)
    matrix = fraction_matrix(["NaCl", "Fe2O3", "NaCl"])
    assert matrix.shape == (3, 100) and np.allclose(matrix.sum(axis=1), 1.0)
    assert np.array_equal(matrix[0], matrix[2]) and matrix[0][10] == pytest.approx(0.5)  # Na, Z = 11
    assert ELEMENTS[0] == "H" and ELEMENTS[99] == "Fm"


def test_an_element_beyond_fermium_is_named():
    with pytest.raises(CompositionError, match="Md"):
        fraction_vector("MdCl3")


def test_simple_cubic_pattern_peaks_where_braggs_law_puts_them():
    from pymatgen.core import Lattice, Structure

    a = 4.0
    cell = Structure(Lattice.cubic(a), ["Po"], [[0, 0, 0]])
    settings = XRDSettings(10.0, 90.0, 0.05, 0.2, "CuKa", 0.1)
    pattern, two_theta, intensity = pattern_of(cell, settings)
    wavelength = 1.54184  # pymatgen's Cu K-alpha
    # d = a / sqrt(h^2 + k^2 + l^2); 7 is no sum of three squares, and N = 14 lies beyond 90 degrees
    allowed = [n for n in range(1, 14) if n != 7]
    bragg = np.degrees(2 * np.arcsin(wavelength * np.sqrt(allowed) / (2 * a)))
    np.testing.assert_allclose(np.sort(two_theta), bragg, atol=1e-6)
    # (100) and (110) are the strongest lines, in that order, as for alpha-polonium
    strongest = two_theta[np.argsort(intensity)[::-1][:2]]
    np.testing.assert_allclose(strongest, bragg[:2], atol=1e-6)
    assert pattern.shape == (1601,) and pattern.max() == pytest.approx(1.0)
    grid = settings.grid
    assert grid[0] == 10.0 and grid[-1] == pytest.approx(90.0)
    assert abs(grid[np.argmax(pattern)] - bragg[0]) <= 0.025  # the grid's maximum is the (100) line


def test_broadening_puts_a_unit_gaussian_at_the_peak():
    grid = np.arange(0, 10.001, 0.05)
    pattern = broaden(np.array([5.0]), np.array([30.0]), grid, fwhm=0.2)
    assert pattern.max() == pytest.approx(1.0) and grid[np.argmax(pattern)] == pytest.approx(5.0)
    half = pattern[np.isclose(grid, 5.1)][0]
    assert half == pytest.approx(0.5, rel=1e-6)  # half maximum at half the FWHM from the centre


def test_kl_term_of_a_hand_computed_case():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    # 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2) summed: row 0 = 0.5 * (1 + 0) + 0.5 * (4 - 1 - log 4)
    expected = torch.tensor([0.5 + 0.5 * (3 - math.log(4.0)), 0.0])
    assert torch.allclose(kl_divergence(mu, logvar), expected)


def test_composition_likelihood_is_the_multinomial_of_its_atoms():
    model = CompositionVAE(3, (4, 4), 2, 0.0, "selu", "he_normal", atoms=10)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    x = torch.tensor([[0.5, 0.5, 0.0]])
    expected = -10 * (0.5 * math.log(0.5) + 0.5 * math.log(0.25))
    assert model.reconstruction_nll(logits, x).item() == pytest.approx(expected)


def _tiny_vae(kind: str, epochs: int) -> VAESettings:
    common = dict(latent=3, dropout=0.1, l1=1e-6, l2=1e-6, activation="selu", optimiser="adam", lr=1e-3, epochs=epochs, batch=16, seed=3,
                  log_every=1, checkpoint_every=2)  # fmt: skip
    if kind == "composition":
        return VAESettings(kind="composition", units=(8, 6), initialiser="he_normal", atoms=100, **common)
    return VAESettings(kind="xrd", units=(12, 8), initialiser="lecun_normal", filters=(2, 3, 4), kernel=4, pool=2, **common)


@pytest.mark.parametrize(("kind", "options"), [("composition", {}), ("xrd", {}),
                                               ("composition", {"lr_schedule": "cosine", "kl_warmup": 3, "free_bits": 0.5})])  # fmt: skip
def test_killed_vae_job_resumes_to_the_same_weights(tmp_path, device, step_spy, kind, options):
    rng = np.random.default_rng(0)
    width = 100 if kind == "composition" else 161
    x = rng.random((70, width)).astype(np.float32)
    if kind == "composition":
        x = x * (rng.random((70, width)) < 0.05)
        x[:, 0] += 0.1
        x /= x.sum(axis=1, keepdims=True)
    s = VAESettings(**{**_tiny_vae(kind, epochs=5).__dict__, **options})
    straight, resumed = tmp_path / "straight.pt", tmp_path / "resumed.pt"
    train_vae(s, x[:60], x[60:], straight, tmp_path / "straight.csv")
    assert train_vae(s, x[:60], x[60:], resumed, tmp_path / "resumed.csv", stop_after=3) is None
    assert not resumed.exists() and (tmp_path / "resumed.pt.ckpt").exists()
    train_vae(s, x[:60], x[60:], resumed, tmp_path / "resumed.csv")
    a, b = torch.load(straight, weights_only=True)["model"], torch.load(resumed, weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert pd.read_csv(tmp_path / "straight.csv").equals(pd.read_csv(tmp_path / "resumed.csv"))
    assert not (tmp_path / "resumed.pt.ckpt").exists()
    assert load_vae(resumed).encode(torch.as_tensor(x[:2]))[0].shape == (2, 3)
    assert step_spy.generator_devices == {device.type} and step_spy.host_copies == 0


def test_composition_reconstruction_scores_by_hand():
    true = np.zeros((2, 100))
    true[0, [0, 7]] = [2 / 3, 1 / 3]
    true[1, [10, 16]] = [0.5, 0.5]
    decoded = np.zeros((2, 100))
    decoded[0, [0, 7, 8]] = [0.6, 0.39, 0.01]  # F at 1% is below the 2% threshold: same element set
    decoded[1, [10, 16, 18]] = [0.4, 0.5, 0.1]  # K at 10%: a wrong set
    scores = composition_reconstruction(true, decoded, threshold=0.02)
    assert scores["element_set_match"] == 0.5
    l1 = (abs(2 / 3 - 0.6) + abs(1 / 3 - 0.39) + 0.01 + 0.1 + 0.0 + 0.1) / 2
    assert scores["mean_l1"] == pytest.approx(l1)


def test_regression_and_classification_scores_by_hand():
    scores = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert scores["mae"] == pytest.approx(1 / 3) and scores["rmse"] == pytest.approx(math.sqrt(1 / 3)) and scores["r2"] == pytest.approx(0.5)
    y = np.array([1, 1, 0, 0])
    # positives score 0.9 and 0.4, negatives 0.6 and 0.1: 3 of 4 positive-negative pairs ordered right
    assert roc_auc(y, np.array([0.9, 0.4, 0.6, 0.1])) == pytest.approx(0.75)
    c = classification_scores(y, np.array([0.9, 0.4, 0.6, 0.1]))
    assert c["accuracy"] == 0.5 and c["f1"] == pytest.approx(0.5)


def test_vectorised_magpie_features_equal_matminers():
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    formulas = ["Fe2O3", "NaCl", "Li7La3Zr2O12", "CsPbI3", "LaNi5H6", "Ne", "UO2", "Ar3Kr"]
    featurizer = ElementProperty.from_preset("magpie")
    expected = np.array([featurizer.featurize(Composition(f)) for f in formulas])
    ours = magpie_features(fraction_matrix(formulas))
    assert ours.shape == (8, 132)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_folds_keep_every_formula_in_one_fold():
    groups = np.array(["A", "B", "A", "C", "D", "B", "E", "A"])
    fold = group_folds(groups, 3, seed=0)
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1
    assert set(fold) == {0, 1, 2}
    assert np.array_equal(fold, group_folds(groups, 3, seed=0))


def test_registry_names_are_the_librarys():
    assert tuple(TASKS) == LATENT_TASKS
    assert set(TEST_FUNCTIONS) == set(LATENT_TEST_FUNCTIONS)
    assert LATENT_STRATEGIES == tuple(RACE_STRATEGIES)


@pytest.mark.parametrize("strategy", LATENT_STRATEGIES)
def test_nearest_unasked_lookup_never_answers_twice(strategy):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(30, 4))
    values = rng.random(30)
    run = race(points, values, strategy, 30, seed=0, s=SEARCH)
    assert sorted(run["index"]) == list(range(30))  # every material once, the pool exhausted exactly
    assert np.allclose(run["value"], values[run["index"]])


def test_pool_answers_with_the_nearest_unasked_material():
    pool = Pool(np.array([[0.0, 0.0], [1.0, 1.0], [0.2, 0.0], [0.5, 1.0]]), np.arange(4.0))
    assert pool.nearest_unasked(np.array([0.0, 0.0])) == 0
    assert pool.nearest_unasked(np.array([0.0, 0.0])) == 2  # 0 is taken; (0.2, 0) is next closest
    assert pool.nearest_unasked(np.array([0.0, 0.0])) == 3
    assert pool.nearest_unasked(np.array([0.0, 0.0])) == 1
    with pytest.raises(ValueError, match="every one of the pool's 4"):
        pool.nearest_unasked(np.array([0.0, 0.0]))


QUADRATIC = Objective(lambda x: float((x[0] - 1.0) ** 2 + (x[1] + 0.5) ** 2), ((-3.0, 3.0), (-3.0, 3.0)), 0.0)


@pytest.mark.parametrize(("strategy", "evaluations"), [("gp", 30), ("tpe", 100)])
def test_search_on_a_2d_quadratic_finds_its_minimum(strategy, evaluations):
    run = minimise(QUADRATIC, strategy, evaluations, seed=0, s=SEARCH)
    assert run["regret"].min() < 0.05
    assert run["regret"].iloc[SEARCH.initial_points :].min() < run["regret"].iloc[: SEARCH.initial_points].min()  # the model, not the start, found it


def test_tpe_asked_trial_by_trial_is_hyperopts_fmin():
    import functools

    from hyperopt import Trials, fmin, hp, tpe

    trials = Trials()
    loss = lambda p: QUADRATIC.f(np.array([-3.0 + 6.0 * p["x0"], -3.0 + 6.0 * p["x1"]]))
    space = {name: hp.uniform(name, 0.0, 1.0) for name in ("x0", "x1")}
    algo = functools.partial(tpe.suggest, n_startup_jobs=SEARCH.initial_points, n_EI_candidates=SEARCH.tpe_candidates)
    fmin(loss, space, algo=algo, max_evals=30, trials=trials, rstate=np.random.default_rng(4), show_progressbar=False)
    ours = minimise(QUADRATIC, "tpe", 30, seed=4, s=SEARCH)
    np.testing.assert_allclose(ours["value"], trials.losses(), rtol=1e-12)


def test_race_summary_counts_by_hand():
    runs = pd.DataFrame(
        {"target": "t", "strategy": "s", "seed": [0, 0, 0, 1, 1, 1], "evaluation": [1, 2, 3, 1, 2, 3], "value": [5.0, 0.0, 3.0, 4.0, 3.0, 2.0]}
    )
    pool = np.arange(10.0)  # top 10% = the single best (0), top 3 = {0, 1, 2}
    per_run = race_runs(runs, {"t": pool}, top_fraction=0.1, top_n=3)
    summary = race_summary(per_run, {"t": pool}, top_fraction=0.1, success_percentiles=[5, 25]).iloc[0]
    assert summary["top_set"] == 1 and summary["runs_reaching_top"] == 1
    assert summary["evaluations_to_top_mean"] == 3.0  # seed 0 at evaluation 2, seed 1 censored at 3 + 1
    # chance: the one best of 10 within 3 draws, 3/10; E[min(T, 4)] for T uniform on 1..10 = 1 + .9 + .8 + .7
    assert summary["chance_runs_reaching_top"] == pytest.approx(0.6) and summary["chance_evaluations_to_top"] == pytest.approx(3.4)
    # exact p of a censored sum of 2 + 4 = 6 or less by chance: T_c takes 1, 2, 3 with 1/10 each and 4 with 7/10;
    # pairs summing to at most 6: all but (3, 4), (4, 3), (4, 4)
    assert summary["p_vs_chance"] == pytest.approx(1 - 2 * 0.1 * 0.7 - 0.7**2)
    assert summary["p_vs_chance_holm"] == pytest.approx(summary["p_vs_chance"])  # one strategy tested: a family of one
    assert summary["best_rank_median"] == 2.0  # ranks 1 (value 0) and 3 (value 2)
    assert summary["top_n_found_mean"] == 1.0
    assert summary["best_mean"] == 1.0 and summary["best_se"] == pytest.approx(1.0)  # bests 0 and 2
    # 5th percentile of 0..9 is 0.45 (one run below), 25th is 2.25 (both)
    assert summary["sr5"] == 0.5 and summary["sr25"] == 1.0


def test_chance_of_top_is_a_brute_force_count():
    from itertools import combinations

    pool, marked = 7, {0, 1}
    for n in range(pool + 1):
        draws = list(combinations(range(pool), n))
        share = sum(bool(marked & set(d)) for d in draws) / len(draws)
        assert chance_of_top(pool, len(marked), n) == pytest.approx(share), n
    # the censored mean by hand: one marked of 5, T uniform on 1..5, budget 3: (1 + 2 + 3 + 4 + 4) / 5
    assert chance_restricted_mean(5, 1, 3) == pytest.approx(2.8)
    np.testing.assert_allclose(chance_censored_distribution(5, 1, 3), [0, 0.2, 0.2, 0.2, 0.4])
    # one run at evaluation 1: chance does as well with probability 0.2; two runs summing to 2: 0.2^2
    assert p_fewer_than_chance(np.array([1]), 5, 1, 3) == pytest.approx(0.2)
    assert p_fewer_than_chance(np.array([1, 1]), 5, 1, 3) == pytest.approx(0.04)
    assert p_fewer_than_chance(np.array([4, 4]), 5, 1, 3) == pytest.approx(1.0)


def test_censored_evaluations_to_the_top_by_hand():
    runs = pd.DataFrame({"target": "t", "strategy": ["a"] * 4 + ["b"] * 4, "seed": 0, "evaluation": [1, 2, 3, 4] * 2,
                         "value": [9.0, 7.0, 1.0, 0.0, 9.0, 8.0, 7.0, 6.0]})  # fmt: skip
    per_run = race_runs(runs, {"t": np.arange(20.0)}, top_fraction=0.1, top_n=3).set_index("strategy")  # top 10% of 20: values 0 and 1
    assert (per_run.loc["a", "evaluations_to_top"], per_run.loc["a", "censored"]) == (3, False)
    assert (per_run.loc["b", "evaluations_to_top"], per_run.loc["b", "censored"]) == (5, True)  # never: budget 4 + 1
    assert (per_run.loc["a", "best_rank"], per_run.loc["b", "best_rank"]) == (1, 7)


def test_race_verdicts_pair_seeds_and_adjust_by_holm():
    from compgen.stats import holm

    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])
    a = np.array([2, 3, 4, 2, 3, 5, 2, 3])
    b = a + np.arange(10, 18)  # b needs 10..17 more evaluations than a on the same seed
    per_run = pd.DataFrame({"target": "t", "strategy": ["a"] * 8 + ["b"] * 8 + ["c"] * 8, "seed": list(range(8)) * 3,
                            "evaluations_to_top": np.concatenate([a, b, b]), "best_rank": 1})  # fmt: skip
    table = race_verdicts(per_run).set_index(["measure", "strategy", "against"])
    ab = table.loc[("evaluations_to_top", "a", "b")]
    assert ab["mean_difference"] == pytest.approx(-13.5) and ab["n_seeds"] == 8
    assert ab["p_wilcoxon"] == pytest.approx(2 / 2**8)  # eight negative differences of distinct sizes: the exact two-sided p
    assert ab["p_holm"] == pytest.approx(3 * ab["p_wilcoxon"])  # the smallest two of a family of three (b against c is p 1)
    assert ab["verdict"] == "a better" and table.loc[("evaluations_to_top", "b", "c"), "verdict"] == "tie"
    assert table.loc[("best_rank", "a", "b"), "verdict"] == "tie"


@pytest.mark.parametrize("strategy", LATENT_STRATEGIES)
def test_paired_seeds_open_with_the_same_materials(strategy):
    rng = np.random.default_rng(5)
    points, values = project(rng.normal(size=(60, 6)), 3), rng.random(60)
    reference = race(points, values, "random_choice", 12, seed=3, s=SEARCH)["index"].to_numpy()
    run = race(points, values, strategy, 12, seed=3, s=SEARCH)["index"].to_numpy()
    assert np.array_equal(run[: SEARCH.initial_points], reference[: SEARCH.initial_points])
    other = race(points, values, strategy, 12, seed=4, s=SEARCH)["index"].to_numpy()
    assert not np.array_equal(other[: SEARCH.initial_points], reference[: SEARCH.initial_points])


def test_projection_keeps_the_leading_component_and_fills_the_cube():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    latents = np.column_stack([t, t, 0.01 * rng.normal(size=200), 0.01 * rng.normal(size=200)])  # one real direction
    space = project(latents, 1)
    assert space.shape == (200, 1) and space.min() == 0.0 and space.max() == 1.0
    assert abs(np.corrcoef(space[:, 0], t)[0, 1]) > 0.99
    assert project(latents, None).shape == (200, 4)


def test_expected_improvement_by_hand():
    from scipy.stats import norm

    ei = expected_improvement(np.array([1.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0]), best=1.0)
    assert ei[0] == pytest.approx(norm.pdf(0.0))  # mean at the best: sd x phi(0)
    assert ei[1] == 1.0 and ei[2] == 0.0  # no uncertainty: the plain improvement


def test_surrogates_find_a_smooth_minimum_in_fewer_evaluations_than_chance():
    rng = np.random.default_rng(0)
    points = project(rng.random((400, 3)), None)
    values = ((points - 0.3) ** 2).sum(axis=1)
    threshold = np.sort(values)[3]  # the best 1%
    for strategy in ("gp", "rf"):
        hits = [race(points, values, strategy, 40, seed, SEARCH)["value"].le(threshold).any() for seed in range(3)]
        assert all(hits), strategy  # chance: 1 - C(396, 40) / C(400, 40) = 0.34 a run
    assert chance_of_top(400, 4, 40) == pytest.approx(0.344, abs=0.001)


def test_active_units_of_a_hand_made_posterior():
    mu = torch.tensor([[-1.0, 0.3, 0.00], [1.0, 0.3, 0.10], [-1.0, 0.3, 0.00], [1.0, 0.3, 0.10]])
    # variances over the rows: 1, 0 (the prior's mean for every input) and 0.0025 (below 0.01)
    assert active_units(mu).tolist() == [True, False, False]


def test_kl_warmup_and_cosine_learning_rate_by_epoch():
    s = _tiny_vae("composition", epochs=6)
    assert s.kl_weight(0) == 1.0
    warm = VAESettings(**{**s.__dict__, "kl_warmup": 4})
    assert [warm.kl_weight(e) for e in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    cosine = VAESettings(**{**s.__dict__, "lr_schedule": "cosine", "lr": 1.0, "epochs": 4})
    assert [cosine.learning_rate(e) for e in range(4)] == pytest.approx([1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4)])
    assert s.learning_rate(5) == s.lr


def test_target_values_and_reference_features():
    from compgen.latent.study import target_values

    y = np.array([0.0, 1.5, 3.0])
    assert target_values(y, "lowest").tolist() == [0.0, 1.5, 3.0]
    assert target_values(y, "highest").tolist() == [-0.0, -1.5, -3.0]
    assert target_values(y, 1.0).tolist() == [1.0, 0.5, 2.0]
    fractions = fraction_matrix(["Fe2O3", "FeO"])
    assert np.array_equal(feature_matrix("element_set", None, fractions), (fractions > 0).astype(np.float32))
    assert feature_matrix("element_set", None, fractions)[0].tolist() == feature_matrix("element_set", None, fractions)[1].tolist()
    assert np.array_equal(feature_matrix("fractions", None, fractions), fractions)


@pytest.mark.e2e
def test_tiny_study_through_snakemake_writes_every_output(tiny_run, mirror):
    work, config = tiny_run
    out = work / "results" / "latent"
    xrd = pd.read_parquet(out / "xrd.parquet")
    assert len(xrd) == 900 and xrd["pattern"].map(len).eq(1601).all()
    assert set(xrd["crystal_system"]) <= {"cubic", "tetragonal", "orthorhombic", "trigonal", "monoclinic", "triclinic", "hexagonal"}
    perovskites = pd.read_parquet(out / "perovskite_latents.parquet")
    assert len(perovskites) == 900 and perovskites["z_composition"].map(len).eq(24).all() and perovskites["z_xrd"].map(len).eq(64).all()
    assert perovskites["xrd_holdout"].sum() == 180
    reconstruction = pd.read_csv(out / "composition_reconstruction.csv").iloc[0]
    assert 0 <= reconstruction["element_set_match"] <= 1 and reconstruction["n"] > 0
    xrd_scores = pd.read_csv(out / "xrd_reconstruction.csv").iloc[0]
    assert xrd_scores["n"] == 180 and 0 < xrd_scores["cosine_mean_of_average_pattern"] < 1
    models = pd.read_csv(out / "property_models.csv")
    assert set(models["task"]) == {"mp_metal", "perovskite_heat"} and set(models["features"]) == {"latent", "magpie", "fractions", "element_set"}
    assert set(models.loc[models["task"] == "perovskite_heat", "metric"]) == {"r2", "mae", "rmse"}
    auc = models[(models["task"] == "mp_metal") & (models["metric"] == "roc_auc")]
    assert auc["si"].eq(0.93).all() and len(auc) == 4 and auc["mean"].between(0.5, 1).all()
    assert auc["si_protocol"].str.startswith("not comparable").all()
    runs = pd.read_csv(out / "search_evaluations.csv")
    assert len(runs) == 2 * 5 * 2 * 12  # targets x strategies x seeds x evaluations
    assert runs.groupby(["target", "strategy", "seed"])["material_id"].nunique().eq(12).all()  # nobody asked twice
    opening = runs[runs["evaluation"] <= 10].groupby(["target", "seed", "strategy"])["material_id"].apply(tuple)
    assert opening.groupby(["target", "seed"]).nunique().eq(1).all()  # every strategy of a seed opens alike
    gap = runs[runs["target"] == "widest_gap"]
    assert np.allclose(gap["value"], -gap["property"])
    summary = pd.read_csv(out / "search_summary.csv")
    assert len(summary) == 10 and summary["runs"].eq(2).all() and summary["pool"].eq(900).all()
    assert summary["p_vs_chance"].between(0, 1).all() and (summary["chance_evaluations_to_top"] <= 13).all()
    verdicts = pd.read_csv(out / "search_verdicts.csv")
    assert len(verdicts) == 2 * 2 * 10 and verdicts["n_seeds"].eq(2).all()  # targets x measures x pairs of 5 strategies
    dimensions = pd.read_csv(out / "composition_latent_dimensions.csv")
    assert len(dimensions) == 24 and reconstruction["active_units"] == dimensions["active"].sum()
    for name in ["parity", "roc", "best_so_far", "top_reached", "test_functions", "seconds_per_iteration", "composition_tsne", "xrd_tsne",
                 "xrd_reconstructions", "composition_reconstructions", "vae_losses"]:  # fmt: skip
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000, name
        assert (out / "figures" / f"{name}.csv").exists(), name
    log = (work / "logs" / "latent" / "composition_vae.log").read_text()
    assert "composition vae epoch 2/2 (100%)" in log and "ETA" in log and "active_units" in log

    # a new race budget plans the races and their summary again, not the test functions (their own settings)
    changed = copy.deepcopy(config)
    changed["latent"]["search"]["budgets"]["tiny"]["evaluations"] = 13
    dry = run_workflow(work, ["latent"], changed, mirror, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:]
    assert set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout, re.M)) == {"latent_search", "latent_search_summary", "latent"}


def test_a_killed_vae_search_resumes_with_the_same_trials(tmp_path, monkeypatch):
    from compgen.latent import tuning

    rng = np.random.default_rng(2)
    x = rng.random((50, 100)).astype(np.float32) * (rng.random((50, 100)) < 0.05)
    x[:, 0] += 0.1
    x /= x.sum(axis=1, keepdims=True)
    base = _tiny_vae("composition", epochs=1)
    straight = tuning.tune("composition", base, x[:40], 3, 0, (1, 3), 0.25, tmp_path / "a" / "trials.csv", tmp_path / "a")
    assert len(straight) == 3 and straight["validation_score"].is_monotonic_increasing
    assert straight["units"].map(lambda u: 48 <= u[0] <= 96 and 20 <= u[1] <= 64).all()  # Table S1's ranges
    assert set(straight["optimiser"]) <= set(tuning.CATEGORIES["optimiser"])
    # the levers of how much the latent keeps are searched too
    assert straight["epochs"].between(1, 3).all() and straight["atoms"].between(*tuning.ATOMS_RANGE).all() and straight["lr"].nunique() == 3

    real, calls = tuning.train_vae, []

    def dies_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "train_vae", dies_on_the_third)
    output = tmp_path / "b" / "trials.csv"
    with pytest.raises(KeyboardInterrupt):
        tuning.tune("composition", base, x[:40], 3, 0, (1, 3), 0.25, output, tmp_path / "b")
    assert not output.exists() and len(json.loads((tmp_path / "b" / "trials.csv.trials.json").read_text())["trials"]) == 2
    monkeypatch.setattr(tuning, "train_vae", real)
    resumed = tuning.tune("composition", base, x[:40], 3, 0, (1, 3), 0.25, output, tmp_path / "b")
    pd.testing.assert_frame_equal(straight.reset_index(drop=True), resumed.reset_index(drop=True))
    assert not (tmp_path / "b" / "trials.csv.trials.json").exists()
