import copy
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from compgen.elpasolite.metrics import (
    class_table,
    energy_class,
    generation_metrics,
    js_distance,
    prevalence_draw,
    site_distributions,
    uniform_draw,
)
from compgen.elpasolite.oracle import element_kernel, fit, predict_grid
from compgen.elpasolite.space import (
    ELEMENTS,
    ROW_GROUP,
    SPACE_SIZE,
    SampleCounts,
    augmented_dft,
    collect_valid,
    count_valid,
    decode,
    element_index,
    encode,
    enumerate_space,
    from_keys,
    keys,
    valid,
)
from conftest import TINY_CONFIG, elpasolite_settings, run_workflow


def read_table_from_mirror(mirror):
    """The elpasolite_dft dataset built from the mirror's pickle, as the workflow builds it."""
    from compgen.datasets import build_elpasolite_dft

    table, rejects = build_elpasolite_dft({"elpasolite_train_set.pkl": mirror / "elpasolite" / "train_set.pkl"})
    assert rejects.empty
    return table


def test_the_space_has_1974024_compositions_of_distinct_elements():
    space = enumerate_space()
    assert len(space) == SPACE_SIZE == 39 * 38 * 37 * 36 == 1_974_024
    assert valid(space).all()
    assert len(np.unique(keys(space))) == len(space)
    np.testing.assert_array_equal(from_keys(keys(space[:1000])), space[:1000])


def test_the_39_main_group_elements_and_their_table_places():
    assert len(ELEMENTS) == 39 and ELEMENTS[:3] == ["H", "He", "Li"] and ELEMENTS[-1] == "Bi"
    places = dict(zip(ELEMENTS, map(tuple, ROW_GROUP), strict=True))
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
    metrics = generation_metrics(SampleCounts.from_samples(samples), lookup, space, target=1)
    assert metrics["n_samples"] == 8 and metrics["n_unique"] == 5
    assert metrics["precision_right"] == pytest.approx(5 / 8)
    assert metrics["precision_neigh"] == pytest.approx(2 / 8)  # class 2 only: class 0 does not exist
    assert metrics["coverage_right"] == pytest.approx(3 / 4)
    assert metrics["coverage_neigh"] == pytest.approx(1 / 3)
    # site A: samples {0, 1, 2, 4, 20} (1/5 each) against class 1's {0, 1, 2, 3} (1/4 each); B-D are shifts of A
    m = [9 / 40] * 3 + [1 / 8, 1 / 10, 1 / 10]
    divergence = -sum(x * np.log2(x) for x in m) - (np.log2(5) + 2) / 2
    assert metrics["js"] == pytest.approx(np.sqrt(divergence))
    perfect = generation_metrics(SampleCounts.from_samples(comps[:4]), lookup, space, target=1)
    assert perfect["coverage_right"] == 1.0 and perfect["js"] == 0.0


def test_invalid_samples_are_dropped_before_counting():
    comps, space, lookup = _toy_space()
    counts = SampleCounts.from_samples(np.array([[0, 1, 2, 3], [5, 5, 6, 7], [-1, 1, 2, 3]]))
    assert counts.n_invalid == 2
    metrics = generation_metrics(counts, lookup, space, target=1)
    assert metrics["n_samples"] == 1 and metrics["precision_right"] == 1.0


def test_counts_streamed_in_batches_equal_the_counts_of_the_whole_run():
    rng = np.random.default_rng(1)
    draws = [rng.integers(0, 6, size=(7, 4)) for _ in range(40)]  # small alphabet: many repeats and invalid rows
    batches = iter(draws)
    streamed = count_valid(50, lambda: next(batches), "test draws")
    whole = np.concatenate(draws)
    ok = valid(whole)
    in_order = whole[ok][:50]
    assert streamed.n_valid == 50 and streamed.n_invalid == int((~ok[: np.flatnonzero(ok)[49] + 1]).sum())
    run_keys = keys(in_order)
    distinct, first, count = np.unique(run_keys, return_index=True, return_counts=True)
    np.testing.assert_array_equal(streamed.key, distinct)
    np.testing.assert_array_equal(streamed.first, first)
    np.testing.assert_array_equal(streamed.count, count)
    again = SampleCounts.from_samples(in_order)
    np.testing.assert_array_equal(again.first, first)


def test_baselines_give_valid_compositions_and_follow_the_training_sites():
    rng = np.random.default_rng(0)
    uniform, _ = collect_valid(5000, uniform_draw(rng, 1000), "uniform")
    assert len(uniform) == 5000 and valid(uniform).all()
    training = element_index(["Na", "K", "Al", "F"])[None].repeat(3, axis=0)
    training[1, 0] = element_index(["Li"])[0]
    drawn, _ = collect_valid(2000, prevalence_draw(training, rng, 1000), "prevalence")
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


TINY_MODELS = {kind: yaml.safe_load(TINY_CONFIG.read_text())["elpasolite"][kind] for kind in ("cvae", "wgan", "dqn")}


@pytest.mark.e2e
def test_tiny_study_through_snakemake_writes_every_output(tiny_run, mirror, tmp_path):
    work, config = tiny_run
    out = work / "results" / "elpasolite"
    classes = pd.read_csv(out / "class_sizes.csv")
    assert classes["n_space"].sum() == 1_974_024
    assert classes.loc[0, "n_training"] == 86  # class 1 of the DFT set with A/B swaps, as in the paper
    curve = pd.read_csv(out / "oracle_metrics.csv")
    assert list(curve.columns) == ["n_train", "mae", "rmse"] and curve["n_train"].iloc[0] == 200
    space = pd.read_parquet(out / "space.parquet", columns=["source"])
    assert (space["source"] != "oracle").sum() == 21_112
    summary = pd.read_csv(out / "metrics_summary.csv")
    models = {"uniform", "prevalence", "cvae", "wgan", "dqn"}
    assert set(summary["model"]) == models and len(summary) == 2 * len(models)
    assert summary.groupby("target_class")["n_samples"].max().to_dict() == {1: 200, 5: 300}
    assert (summary["n_seeds"] == 1).all()
    # every precision in the table, recomputed from its sample file and the class table alone
    lookup = np.load(out / "class_table.npy")
    per_seed = pd.read_csv(out / "metrics_per_seed.csv").set_index(["model", "target_class"])
    for (model, target), row in per_seed.iterrows():
        sampler = f"dqn_class{target}" if model == "dqn" else model
        counts = pd.read_parquet(out / "samples" / "all" / f"class{target}" / f"{sampler}_seed0.parquet")
        assert counts["count"].sum() == row["n_samples"] == {1: 200, 5: 300}[target]
        assert row["precision_right"] == pytest.approx(counts["count"][lookup[counts["key"]] == target].sum() / counts["count"].sum())
        assert row["n_unique"] == len(counts) == counts["key"].nunique()
        # first draws are distinct positions among the valid samples, the very first at 0
        assert counts["first"].is_unique and counts["first"].min() == 0 and counts["first"].max() < row["n_samples"]
    # one DQN agent per target class; the sweep's seed 0 reuses the study's full-set models and adds the subset's
    main = {"cvae_seed0.pt", "wgan_seed0.pt", "dqn_class1_seed0.pt", "dqn_class5_seed0.pt"}
    assert {p.name for p in (out / "models" / "all").glob("*.pt")} == main
    assert {p.name for p in (out / "models" / "400").glob("*.pt")} == {"cvae_seed0.pt", "wgan_seed0.pt", "dqn_class1_seed0.pt"}
    assert "cvae update 20/20" in (work / "logs" / "elpasolite" / "train" / "all" / "cvae_seed0.log").read_text()
    assert "dqn class 5 update 20/20" in (work / "logs" / "elpasolite" / "train" / "all" / "dqn_class5_seed0.log").read_text()
    assert (out / "figures" / "oracle_learning_curve.png").exists()
    sites = pd.read_csv(out / "figures" / "site_distributions.csv")
    assert set(sites["set"]) == {"full space, class 1", "training set, class 1"} | models
    np.testing.assert_allclose(sites.groupby(["set", "site"])["p"].sum(), 1.0)
    energies = pd.read_csv(out / "figures" / "sample_energies.csv")
    assert (energies["set"] == "training set").sum() == 86
    assert (out / "figures" / "site_distributions.png").stat().st_size > 10_000
    discovery = pd.read_csv(out / "figures" / "discovery_curves.csv")
    last = discovery.groupby(["target_class", "model"])["n_generated"].max()
    assert last.loc[1].eq(200).all() and last.loc[5].eq(300).all() and set(last.loc[5].index) == models
    balance = pd.read_csv(out / "charge_balance.csv").set_index("set")
    assert balance.loc["full space, class 1", "n_unique"] == classes.loc[0, "n_space"]
    assert balance.loc["training set, class 1", "n_unique"] == 86
    assert balance.loc["training set, class 1", "share_balanced"] == pytest.approx(56 / 86)  # independent of the oracle
    sweep = pd.read_csv(out / "training_size_per_seed.csv")
    assert sorted(set(sweep["n_train"])) == [400, 21_112] and set(sweep["model"]) == {"cvae", "wgan", "dqn"}
    assert (sweep["seed"] == 0).all() and (sweep["n_samples"] == 200).all()
    full = sweep[sweep["n_train"] == 21_112].set_index("model")["precision_right"]
    main_run = per_seed.xs(1, level="target_class")["precision_right"]
    assert full.to_dict() == main_run.loc[full.index].to_dict()  # the same sample files
    assert (out / "figures" / "training_size.png").exists()

    # Figures read the sample files: redrawing one reruns the figure job, no sampling or training.
    figure = out / "figures" / "discovery_curves.png"
    figure.rename(aside := tmp_path / figure.name)
    dry = run_workflow(work, ["elpasolite"], config, mirror, "--dry-run")
    aside.rename(figure)  # the same file, its time stamp kept: later tests find the run as it was
    assert dry.returncode == 0, dry.stdout[-2000:]
    scheduled = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout.split("Job stats:")[1].split("Reasons:")[0], re.MULTILINE))
    assert set(scheduled) == {"elpasolite_figures", "elpasolite", "total"}


def test_paper_scale_overlay_schedules_50_seeds_and_one_agent_per_class(tmp_path, mirror, default_config):
    config = copy.deepcopy(default_config)
    config["elpasolite"]["paper_scale"] = True
    dry = run_workflow(tmp_path / "work", ["elpasolite"], config, mirror, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout.split("Job stats:")[1].split("Reasons:")[0], re.MULTILINE))
    # full set: 50 VAEs, 50 WGANs, 2 x 50 agents; sweep: 5 sizes x 3 generators x 50 subsets
    assert int(counts["elpasolite_train"]) == 50 + 50 + 100 + 5 * 3 * 50


@pytest.mark.parametrize("kind", ["cvae", "wgan", "dqn"])
def test_killed_training_resumes_to_the_same_weights_and_samples_valid_compositions(tmp_path, device, step_spy, kind):
    import torch

    from compgen.elpasolite.generators import GENERATORS, load_generator
    from compgen.elpasolite.training import generator_draw

    train = GENERATORS[kind].train
    rng = np.random.default_rng(0)
    indices = enumerate_space()[rng.choice(SPACE_SIZE, 300, replace=False)]
    classes = rng.integers(1, 11, size=300)
    tiny = {k: v for k, v in TINY_MODELS[kind].items() if k not in ("updates", "log_every", "checkpoint_every")}
    settings = elpasolite_settings(kind, **tiny, updates=12, log_every=6, checkpoint_every=5)
    train(settings, indices, classes, tmp_path / "straight.pt")
    train(settings, indices, classes, tmp_path / "resumed.pt", stop_after=7)  # killed after update 7
    assert not (tmp_path / "resumed.pt").exists() and (tmp_path / "resumed.pt.ckpt").exists()
    train(settings, indices, classes, tmp_path / "resumed.pt")
    assert not (tmp_path / "resumed.pt.ckpt").exists()
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["model"]
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    samples, _ = collect_valid(500, generator_draw(load_generator(tmp_path / "straight.pt"), target=1, seed=0, batch=256), kind)
    assert samples.shape == (500, 4) and valid(samples).all()
    again, _ = collect_valid(500, generator_draw(load_generator(tmp_path / "resumed.pt"), target=1, seed=0, batch=256), kind)
    np.testing.assert_array_equal(again, samples)  # sampling is seeded
    assert step_spy.generator_devices == {device.type} and step_spy.host_copies == 0  # draws made where they are used


def test_dqn_episode_spells_the_composition_with_the_end_reward():
    from compgen.elpasolite.dqn import offline_transitions

    knaf = element_index(["K", "Na", "Al", "F"])  # K (4, 1), Na (3, 1), Al (3, 3), F (2, 7)
    t = offline_transitions(np.stack([knaf, knaf[[1, 0, 2, 3]]]), classes=np.array([1, 4]), target=1)
    np.testing.assert_array_equal(t["actions"][:8], [3, 0, 2, 0, 2, 2, 1, 6])  # row - 1, group - 1
    np.testing.assert_array_equal(t["rewards"], [0] * 7 + [1] + [0] * 7 + [-1])
    np.testing.assert_array_equal(t["final"], ([False] * 7 + [True]) * 2)
    x = encode(knaf[None])[0]
    assert (t["states"][0] == 0).all() and (t["next_states"][7] == x).all()
    np.testing.assert_array_equal(t["states"][3], np.r_[x[:3], np.zeros(5)])  # about to choose B's group
    # after choosing row 3 for B the open groups are those of Na..Ar: all 8
    assert t["next_legal"][2].all()


def test_dqn_offers_only_rows_1_to_6_and_the_groups_a_row_holds():
    from compgen.elpasolite.dqn import legal_actions, place_value

    assert legal_actions(np.zeros((1, 8)), 0)[0].tolist() == [True] * 6 + [False] * 2
    state = np.zeros((2, 8))
    state[0, 0], state[1, 0] = place_value(0, 0), place_value(5, 0)  # row 1 (H, He) and row 6 (Cs..Bi)
    groups = legal_actions(state, 1)
    assert groups[0].tolist() == [True] + [False] * 6 + [True]
    assert groups[1].tolist() == [True] * 5 + [False] * 3


def test_dqn_generation_names_only_elements_of_the_space():
    import torch

    from compgen.elpasolite.dqn import QNetwork

    torch.manual_seed(0)
    agent = QNetwork(elpasolite_settings("dqn", hidden=8, layers=1, target_class=3)).eval()
    with torch.no_grad():
        samples = agent.sample(2000, 3, torch.Generator().manual_seed(0))
    assert (samples >= 0).all()  # no empty table place; only repeated elements make a sample invalid
    with pytest.raises(ValueError, match="class 3, not class 1"):
        agent.sample(10, 1, torch.Generator())


def test_dqn_episode_distribution_is_the_product_of_its_step_policies_and_samples_like_the_steps():
    import torch

    from compgen.elpasolite.dqn import STEPS, QNetwork, legal_actions, place_value

    torch.manual_seed(0)
    agent = QNetwork(elpasolite_settings("dqn", hidden=16, layers=2, target_class=3)).eval()
    episodes, probability = agent.episode_distribution(chunk=1000)
    assert episodes.shape == (39**4, 4) and (episodes >= 0).all()
    np.testing.assert_array_equal(np.sort(keys(episodes)), np.arange(39**4))  # every sequence of table places once
    assert probability.sum() == pytest.approx(1.0, abs=1e-12)
    # one episode by hand: K Na Al F is rows/groups (4,1) (3,1) (3,3) (2,7)
    knaf = element_index(["K", "Na", "Al", "F"])
    actions, state, by_hand = [3, 0, 2, 0, 2, 2, 1, 6], np.zeros((1, STEPS)), 1.0
    for step, action in enumerate(actions):
        with torch.no_grad():
            q = agent(torch.as_tensor(state, dtype=torch.float32))[0].double()
        legal = torch.as_tensor(legal_actions(state, step)[0].copy())
        by_hand *= float(torch.softmax(agent.beta * q.masked_fill(~legal, -torch.inf), 0)[action])
        state[0, step] = place_value(action, step)
    assert probability[keys(episodes) == keys(knaf[None])[0]][0] == pytest.approx(by_hand, rel=1e-6)
    # the sampler draws what the eight policy steps draw: every site's element frequencies agree
    # to within 5 standard errors of a difference of two 100,000-draw frequencies
    with torch.no_grad():
        stepwise = agent.sample(100_000, 3, torch.Generator().manual_seed(0))
    whole = agent.sampler(3)(100_000, torch.Generator().manual_seed(1))
    for site in range(4):
        a, b = (np.bincount(draws[:, site], minlength=39) / 100_000 for draws in (stepwise, whole))
        assert np.abs(a - b).max() < 5 * np.sqrt(2 * 0.25 / 100_000), site
    exact_valid = probability[valid(episodes)].sum()
    assert abs(valid(whole).mean() - exact_valid) < 5 * np.sqrt(0.25 / 100_000)
    with pytest.raises(ValueError, match="class 3, not class 1"):
        agent.sampler(1)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    import torch

    from compgen.elpasolite.training import one_hot
    from compgen.elpasolite.wgan import Critic, gradient_penalty

    critic = Critic(elpasolite_settings("wgan", layers=0))  # a single linear map: its gradient is the weight everywhere
    with torch.no_grad():
        critic.net[0].weight.fill_(0.5)  # 8 composition inputs at 0.5: norm sqrt(2)
    real, fake = torch.rand(4, 8), torch.rand(4, 8)
    penalty = gradient_penalty(critic, real, fake, one_hot([1, 2, 3, 4]), torch.rand(4, 1))
    assert penalty.item() == pytest.approx((2**0.5 - 1) ** 2)


def test_training_subsets_keep_ab_twins_together_and_are_seeded(mirror):
    from compgen.elpasolite.study import training_rows

    dft = read_table_from_mirror(mirror)
    full, full_classes = training_rows(dft)
    assert len(full) == 21_112 and (full_classes == 1).sum() == 86
    subset, _ = training_rows(dft, 1000, seed=3)
    assert len(subset) == 1000
    swapped = subset[:, [1, 0, 2, 3]]
    assert np.isin(keys(swapped), keys(subset)).all()  # every composition comes with its A/B swap
    np.testing.assert_array_equal(training_rows(dft, 1000, seed=3)[0], subset)
    assert not np.array_equal(training_rows(dft, 1000, seed=4)[0], subset)
    with pytest.raises(ValueError, match="outside 2..21112"):
        training_rows(dft, 30_000)


def test_charge_balance_under_common_oxidation_states():
    from compgen.elpasolite.charge import charge_balanced

    formulas = [
        ["K", "Li", "Mg", "F"],  # 1 + 1 + 2*2 = 6 * 1
        ["Li", "K", "Mg", "F"],  # its A/B swap
        ["K", "Na", "P", "O"],  # 1 + 1 + 2*5 = 6 * 2
        ["K", "Na", "Al", "F"],  # 1 + 1 + 2*3 = 8, not 6
        ["He", "Ne", "Ar", "Kr"],  # noble gases take no oxidation state
    ]
    balanced = charge_balanced(np.stack([element_index(f) for f in formulas]))
    assert balanced.tolist() == [True, True, True, False, False]


def test_generator_names_parse_the_agent_class():
    from compgen.registry import agent_name, parse_generator

    assert parse_generator("cvae") == ("cvae", None) and parse_generator("dqn_class10") == ("dqn", 10)
    assert parse_generator(agent_name(5)) == ("dqn", 5)


def test_discovery_curve_counts_by_hand():
    from compgen.elpasolite.metrics import discovery_curve

    comps, space, lookup = _toy_space()
    # training knows comps[0]; run: 0 (rediscovery), 1 (novel, class 1), 1 (repeat), 4 (novel, class 2), 8 (novel, class 3)
    run = SampleCounts.from_samples(comps[[0, 1, 1, 4, 8]])
    curve = discovery_curve(run, keys(comps[[0]]), lookup, target=1, points=5).set_index("n_generated")
    assert curve.loc[5].to_dict() == {"novel_target": 1, "novel_neighbours": 1, "novel_other": 1, "repetitions": 1, "rediscoveries": 1}
    assert curve.loc[2, "novel_target"] == 1 and curve.loc[2, "repetitions"] == 0 and curve.loc[3, "repetitions"] == 1


# Run in a child process without the variables some machines set to pick OpenBLAS kernels: with
# them unset, numpy/scipy's OpenBLAS 0.3.30 Cholesky dies with SIGSEGV above ~16,000 rows on AMD
# EPYC (issue 8), and a crash must fail this test rather than take pytest down with it.
LARGE_FIT = """
import numpy as np
from compgen.elpasolite.oracle import fit, predict_grid
from compgen.elpasolite.space import SPACE_SIZE, enumerate_space, keys
rng = np.random.default_rng(0)
train = enumerate_space()[rng.choice(SPACE_SIZE, 17_000, replace=False)]
y = rng.normal(size=len(train))
alpha = fit(train, y, sigma=16.0, lam=1e-2)
# (K + lam I) alpha = y, with K alpha read off the factorised grid prediction
residual = predict_grid(train, alpha, 16.0)[keys(train)] + 1e-2 * alpha - y
print("max residual", np.abs(residual).max())
assert np.abs(residual).max() < 1e-6
"""


def test_oracle_fit_of_17000_rows_survives_machines_without_openblas_variables():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    result = subprocess.run([sys.executable, "-c", LARGE_FIT], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "max residual" in result.stdout


class _AlternatingSampler:
    """Every other composition it names repeats an element: half its draws are invalid."""

    def __init__(self, valid_every: int):
        self.valid_every, self.calls = valid_every, 0

    def sample(self, n, target, generator):
        self.calls += 1
        good = element_index(["Na", "K", "Al", "F"])
        bad = element_index(["Na", "Na", "Al", "F"])
        return np.stack([good if i % self.valid_every == 0 else bad for i in range(n)])


def test_sampling_counts_invalid_draws_and_gives_up_on_a_generator_that_only_fails():
    from compgen.elpasolite.space import SamplingError
    from compgen.elpasolite.training import generator_draw

    samples, invalid = collect_valid(10, generator_draw(_AlternatingSampler(2), target=1, seed=0, batch=4), "alternating")
    assert len(samples) == 10 and invalid == 9  # valid, invalid, ... : the tenth valid draw is the 19th
    counts = count_valid(10, generator_draw(_AlternatingSampler(2), target=1, seed=0, batch=4), "alternating")
    assert counts.n_valid == 10 and counts.n_invalid == 9 and counts.first.tolist() == [0]
    hopeless = _AlternatingSampler(10**9)
    hopeless.sample = lambda n, target, generator: np.tile(element_index(["Na", "Na", "Al", "F"]), (n, 1))
    with pytest.raises(SamplingError, match=r"400 draws gave 0 valid compositions of the 4 asked for"):
        count_valid(4, generator_draw(hopeless, target=1, seed=0, batch=100), "hopeless")


def test_prevalence_baseline_of_a_class_that_admits_no_composition_fails_with_counts():
    from compgen.elpasolite.space import SamplingError

    same_everywhere = np.tile(element_index(["Na", "Na", "Na", "Na"]), (3, 1))  # p(Z|S) puts Na on every site
    with pytest.raises(SamplingError, match="prevalence baseline: 1000 draws gave 0 valid"):
        count_valid(10, prevalence_draw(same_everywhere, np.random.default_rng(0), 20), "prevalence baseline")


def test_oracle_split_keeps_ab_twins_on_one_side(mirror):
    from compgen.elpasolite.oracle import first_rows, split_by_twins

    table = augmented_dft(read_table_from_mirror(mirror))
    twins = table["twin"].to_numpy()
    train, val, test = split_by_twins(table, (0.1, 0.1), seed=0)
    assert len(train) + len(val) + len(test) == 21_112
    sides = [set(twins[part]) for part in (train, val, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    n_groups = len(set(twins))
    assert [len(side) for side in sides[1:]] == [round(0.1 * n_groups)] * 2
    assert (table.loc[test, "source"] == "dft_ab_swap").sum() > 0  # swaps are held out with their originals
    taken = first_rows(train, twins, 1000, seed=0)
    assert 1000 <= len(taken) <= 1001
    counts = table.loc[taken, "twin"].value_counts()
    assert counts.to_dict() == table.loc[table["twin"].isin(counts.index), "twin"].value_counts().to_dict()  # whole groups


def test_dqn_values_of_distinct_states_equal_a_pass_over_every_state():
    import torch

    from compgen.elpasolite.dqn import STEPS, QNetwork, place_value

    network = QNetwork(elpasolite_settings("dqn", target_class=5, **TINY_MODELS["dqn"])).eval()
    rng = np.random.default_rng(0)
    states = np.zeros((3000, STEPS))
    for step in range(STEPS):
        with torch.no_grad():
            every = network(torch.as_tensor(states, dtype=torch.float32))
            distinct = network.distinct_state_values(states, step)
        torch.testing.assert_close(distinct, every, rtol=0, atol=1e-6)
        states[:, step] = place_value(rng.integers(0, 6, len(states)), step)
