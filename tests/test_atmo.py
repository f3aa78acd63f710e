import copy
import dataclasses
import importlib.util
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from compgen.atmo.data import AminePools, build_pools, element_ratios, pair_label, seen_in_training
from compgen.atmo.evaluate import delta, random_on_support, summarise
from compgen.atmo.models import CompositionGAN, Generator, LogFractions, support_softmax
from compgen.atmo.train import WeightAverage, learning_rates, load_model, train, train_stack
from compgen.datasets import build_atmo
from conftest import atmo_train_settings, planned_jobs, run_workflow


def test_delta_on_hand_worked_vectors():
    target = np.array([0.5, 0.3, 0.2, 0.0])
    generated = np.array([0.4, 0.4, 0.1, 0.1])
    # over the 3 elements of the target: (0.1 + 0.1 + 0.1) / 3; the 4th element is not counted
    assert delta(generated, target) == pytest.approx(0.1)
    assert delta(target, target) == 0.0
    batch = np.stack([generated, target])
    np.testing.assert_allclose(delta(batch, target), [0.1, 0.0])
    assert float(delta(torch.tensor(generated), torch.tensor(target))) == pytest.approx(0.1)


def test_random_baseline_keeps_support_and_sums_to_one():
    target = np.array([0.0, 0.2, 0.0, 0.8])
    vector = random_on_support(target, np.random.default_rng(0))
    assert (vector > 0).tolist() == [False, True, False, True]
    assert vector.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("input_skip", [False, True])
def test_generator_keeps_the_chemical_system_and_sums_to_one(input_skip):
    torch.manual_seed(0)
    generator = Generator(n_elements=6, width=8, blocks=2, latent_dim=1, input_skip=input_skip).eval()
    source = torch.tensor([[0.5, 0.0, 0.25, 0.25, 0.0, 0.0], [0.0, 0.1, 0.0, 0.0, 0.3, 0.6]])
    out = generator(source, torch.randn(2, 1))
    assert torch.equal(out > 0, source > 0)
    torch.testing.assert_close(out.sum(1), torch.ones(2))


def test_untrained_skip_generator_returns_its_input():
    generator = CompositionGAN(5, 8, 1, augmented=True, input_skip=True).G_AB.eval()
    source = torch.tensor([[0.2, 0.0, 0.3, 0.5, 0.0]])
    torch.testing.assert_close(generator(source, torch.randn(1, 1)), source)


def test_support_softmax_of_large_logits_stays_finite():
    out = support_softmax(torch.tensor([[1e4, -1e4, 3.0]]), torch.tensor([[0.0, 0.5, 0.5]]))
    assert torch.isfinite(out).all() and out[0, 0] == 0 and out.sum() == pytest.approx(1.0)


def test_log_discriminator_input_turns_ratios_into_differences():
    # C/N 2 at two amounts: the raw fractions differ in both entries, the log inputs by one constant
    small, large = torch.tensor([[0.04, 0.02, 0.0, 0.94]]), torch.tensor([[0.2, 0.1, 0.0, 0.7]])
    log_small, log_large = LogFractions()(small), LogFractions()(large)
    assert log_small[0, 2] == 0
    torch.testing.assert_close(log_small[0, 0] - log_small[0, 1], torch.tensor(np.log(2.0), dtype=torch.float32))
    torch.testing.assert_close(log_large[0, 0] - log_large[0, 1], log_small[0, 0] - log_small[0, 1])
    tiny = torch.tensor([[1e-9, 1.0 - 1e-9]], requires_grad=True)
    LogFractions()(tiny).sum().backward()
    assert torch.isfinite(tiny.grad).all() and tiny.grad[0, 0] == 0  # below the floor: bounded, not 1e9
    model = CompositionGAN(4, 8, 1, augmented=True, discriminator_input="log")
    assert isinstance(model.D_B[0], LogFractions) and not isinstance(CompositionGAN(4, 8, 1, augmented=True).D_B[0], LogFractions)
    with pytest.raises(ValueError, match="discriminator_input"):
        CompositionGAN(4, 8, 1, augmented=True, discriminator_input="logs")


def test_learning_rate_schedule_decays_every_50_epochs():
    settings = atmo_train_settings(lr=2e-4, lr_divider=2.0, lr_slowdown_param=0.5, lr_slowdown_every=50)
    assert learning_rates(settings, 49) == (2e-4, 1e-4)
    assert learning_rates(settings, 50) == (1e-4, 5e-5)
    assert learning_rates(settings, 120) == (5e-5, 2.5e-5)


@pytest.fixture(scope="module")
def atmo_table(mirror):
    rows, _ = build_atmo({"atmo.csv": mirror / "atmo" / "atmo.csv"})
    return rows


def test_default_pair_pools_and_can_pair_counts(atmo_table):
    pools = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    t = pools.table
    assert len(pools.elements) == 66
    assert pools.vectors.shape == (314 + 427, 66)
    np.testing.assert_allclose(pools.vectors.sum(1), 1.0, atol=1e-12)
    assert ((t["pool"] == "A").sum(), (t["pool"] == "B").sum()) == (314, 427)
    assert (t["can_pair"] & (t["pool"] == "B")).sum() == 150
    assert (t["can_pair"] & (t["pool"] == "A")).sum() == 102


def test_folds_are_disjoint_cover_the_pairable_b_and_are_reproducible(atmo_table):
    pools = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    tests = [set(pools.fold(k)["test_b"]) for k in range(3)]
    assert sum(map(len, tests)) == 150 and len(set.union(*tests)) == 150
    for k in range(3):
        fold = pools.fold(k)
        assert set(fold["test_b"]).isdisjoint(fold["train_b"])
        assert len(fold["train_a"]) == 314 and len(fold["train_b"]) == 427 - len(fold["test_b"])
        assert (pools.table.loc[fold["test_b"], "pool"] == "B").all()
    again = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    assert [set(again.fold(k)["test_b"]) for k in range(3)] == tests
    other = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=1)
    assert [set(other.fold(k)["test_b"]) for k in range(3)] != tests


def test_paired_fraction_and_unpaired_switch(atmo_table):
    pools = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    none_paired = pools.fold(0, paired_fraction=0.0)
    assert not pools.table.loc[none_paired["train_b"], "can_pair"].any()
    only_paired = pools.fold(0, paired_fraction=0.5, with_unpaired=False)
    assert len(only_paired["train_b"]) == 75
    assert pools.table.loc[only_paired["train_a"], "can_pair"].all()
    with pytest.raises(ValueError, match="asks for 135"):
        pools.fold(0, paired_fraction=0.9)


def test_identity_baseline_is_the_published_figure(atmo_table):
    pools = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    a_rows = pools.table[pools.table["pool"] == "A"]
    values = []
    for k in range(3):
        for i in pools.fold(k)["test_b"]:
            same = a_rows.index[a_rows["chemical_system"] == pools.table.at[i, "chemical_system"]]
            values.append(delta(pools.vectors[same], pools.vectors[i]).min())
    assert np.mean(values) == pytest.approx(0.0338, abs=5e-4)


def test_element_ratios_skip_compositions_without_the_denominator():
    vectors = np.array([[0.2, 0.1, 0.7], [0.3, 0.0, 0.7], [0.1, 0.1, 0.8]])
    assert element_ratios(vectors, ["C", "N", "O"], "C", "N").tolist() == pytest.approx([2.0, 1.0])


def test_sources_are_the_a_of_the_test_systems():
    table = pd.DataFrame({"pool": ["A", "A", "A", "B", "B"], "chemical_system": ["C-N", "C-O", "C-N", "C-N", "C-O"]})
    pools = AminePools(table, np.zeros((5, 2)), ["C", "N"])
    assert pools.sources(np.array([3])).tolist() == [0, 2]
    assert pools.sources(np.array([3, 4])).tolist() == [0, 1, 2]


def test_seen_in_training_finds_verbatim_copies():
    vectors = np.array([[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]])
    assert seen_in_training(vectors, np.array([0, 1]), np.array([2])).tolist() == [True, False]


def test_unknown_amine_and_same_amine_are_refused(atmo_table):
    with pytest.raises(ValueError, match="amine 'CCCCCCCCCCCC'"):
        build_pools(atmo_table, "CNC", "CCCCCCCCCCCC", 3, 0)
    with pytest.raises(ValueError, match="the same"):
        build_pools(atmo_table, "CNC", "CNC", 3, 0)


def test_pair_label_is_path_safe():
    assert pair_label("CNC", "NCCN") == "CNC__NCCN"
    assert "/" not in pair_label("C/C=C/N", "NCCN")


def test_summary_has_per_fold_and_pooled_rows():
    deltas = pd.DataFrame({"method": ["identity"] * 4, "fold": [0, 0, 1, 1], "delta": [0.1, 0.3, 0.2, 0.2]})
    summary = summarise(deltas).set_index("fold")
    assert summary.loc["0", "mean"] == pytest.approx(0.2) and summary.loc["0", "n"] == 2
    assert summary.loc["all", "mean"] == pytest.approx(0.2) and summary.loc["all", "n"] == 4
    assert summary.loc["all", "median"] == pytest.approx(0.2)


def _toy_pools(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.dirichlet(np.ones(5), size=12) * (rng.random((12, 5)) > 0.3)
    b = rng.dirichlet(np.ones(5), size=10) * (rng.random((10, 5)) > 0.3)
    a[:, 0] += 0.1
    b[:, 0] += 0.1
    return a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True)


@pytest.mark.parametrize(("augmented", "ema_decay"), [(True, 0.0), (False, 0.0), (True, 0.7)])
def test_killed_training_resumes_to_the_same_weights(tmp_path, device, step_spy, augmented, ema_decay):
    a, b = _toy_pools()
    settings = atmo_train_settings(augmented=augmented, width=4, blocks=1, epochs=8, checkpoint_every=3, log_every=4, ema_decay=ema_decay)
    train(settings, a, b, tmp_path / "straight.pt")
    assert not (tmp_path / "straight.pt.ckpt").exists()  # removed once the model is written

    train(settings, a, b, tmp_path / "resumed.pt", stop_after=5)  # killed after epoch 5
    assert not (tmp_path / "resumed.pt").exists()
    assert torch.load(tmp_path / "resumed.pt.ckpt", weights_only=True)["step"] == 3
    losses = train(settings, a, b, tmp_path / "resumed.pt")
    assert len(losses) == 8 and losses["epoch"].tolist() == list(range(1, 9))
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["model"]
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    assert step_spy.generator_devices == {device.type} and step_spy.host_copies == 0  # draws made where they are used


def test_weight_average_on_hand_worked_numbers():
    weight = torch.zeros(2)
    average = WeightAverage([("w", weight)], decay=0.5)
    weight += 1.0
    average.update(epoch=0)  # ramp: min(0.5, 1/10) = 0.1 of the old average stays
    torch.testing.assert_close(average.averages()[0], torch.full((2,), 0.9))
    average.update(epoch=100)  # min(0.5, 101/110) = 0.5
    torch.testing.assert_close(average.averages()[0], torch.full((2,), 0.95))


def test_weight_average_changes_only_the_written_generators(tmp_path, device):
    """Training is the same with and without the average; only the generator weights written differ."""
    a, b = _toy_pools()
    plain, averaged = (atmo_train_settings(width=4, blocks=1, epochs=12, ema_decay=d) for d in (0.0, 0.8))
    losses = [train(s, a, b, tmp_path / f"{k}.pt") for k, s in enumerate((plain, averaged))]
    pd.testing.assert_frame_equal(losses[0], losses[1])
    last, mean = (torch.load(tmp_path / f"{k}.pt", weights_only=True)["model"] for k in range(2))
    assert last.keys() == mean.keys()
    for name in last:
        generator = name.split(".")[0] in ("G_AB", "G_BA", "E_A", "E_B") and "running" not in name and "num_batches" not in name
        assert torch.equal(last[name], mean[name]) != generator, name
    model, settings = load_model(tmp_path / "1.pt")
    assert settings.ema_decay == 0.8 and model.augmented


def _stack_inputs(augmented: bool, epochs: int, ema_decay: float = 0.0):
    """Three models of one network (seeds 3, 7, 11), each with its own pool B; pool A of 41 rows."""
    rng = np.random.default_rng(1)
    pools = []
    for n in (41, 30, 25, 33):
        x = rng.random((n, 8)) * (rng.random((n, 8)) < 0.5)
        x[:, 0] += 0.1
        pools.append(x / x.sum(1, keepdims=True))
    base = atmo_train_settings(augmented=augmented, width=8, blocks=1, epochs=epochs, lr_slowdown_every=5, log_every=5, checkpoint_every=4, ema_decay=ema_decay)
    return [dataclasses.replace(base, seed=seed) for seed in (3, 7, 11)], pools[0], pools[1:]


@pytest.mark.parametrize(("augmented", "epochs", "ema_decay"), [(False, 20, 0.0), (True, 2, 0.0), (False, 20, 0.8)])
def test_a_stack_of_models_trains_each_as_if_alone(tmp_path, device, augmented, epochs, ema_decay):
    """Same initial weights, draws and updates as one job per model; only float rounding differs.

    The models are only equal to rounding because a batched matrix product sums in another
    order than one model's; GAN training amplifies such differences over many epochs (the
    Augmented CycleGAN's within a few, README), so the comparison runs a short horizon.
    """
    settings, a, bs = _stack_inputs(augmented, epochs, ema_decay)
    alone = [train(s, a, b, tmp_path / f"alone{k}.pt", tmp_path / f"alone{k}.csv") for k, (s, b) in enumerate(zip(settings, bs, strict=True))]
    outputs = [tmp_path / f"stack{k}.pt" for k in range(3)]
    losses = train_stack(settings, a, bs, outputs, [tmp_path / f"stack{k}.csv" for k in range(3)])
    assert list(losses.columns[:2]) == ["epoch", "model"] and len(losses) == 3 * epochs
    for k in range(3):
        own = pd.read_csv(tmp_path / f"stack{k}.csv")
        assert list(own.columns) == list(alone[k].columns) and len(own) == epochs
        np.testing.assert_allclose(own.to_numpy(), alone[k].to_numpy(), rtol=0, atol=1e-5)
        mine, theirs = (torch.load(tmp_path / f"{kind}{k}.pt", weights_only=True) for kind in ("stack", "alone"))
        assert mine["settings"] == theirs["settings"] and mine["settings"]["seed"] == settings[k].seed
        assert mine["model"].keys() == theirs["model"].keys()
        for name, tensor in theirs["model"].items():
            torch.testing.assert_close(mine["model"][name], tensor, rtol=0, atol=1e-5, msg=f"model {k} {name}")
        model, _ = load_model(outputs[k])  # written in the layout of a model trained alone
        assert model.augmented == augmented
    # the models really differ from one another: seeds and pools B are each their own
    first, second = (torch.load(path, weights_only=True)["model"] for path in outputs[:2])
    assert not torch.equal(first["G_AB.out.weight"], second["G_AB.out.weight"])


@pytest.mark.parametrize("ema_decay", [0.0, 0.7])
def test_a_killed_stack_resumes_to_the_same_weights(tmp_path, device, step_spy, ema_decay):
    settings, a, bs = _stack_inputs(True, 9, ema_decay)
    straight = [tmp_path / f"straight{k}.pt" for k in range(3)]
    resumed = [tmp_path / f"resumed{k}.pt" for k in range(3)]
    train_stack(settings, a, bs, straight)
    assert train_stack(settings, a, bs, resumed, stop_after=6) is None  # killed after epoch 6
    assert torch.load(tmp_path / "resumed0.pt.ckpt", weights_only=True)["step"] == 4
    assert not any(path.exists() for path in resumed)
    train_stack(settings, a, bs, resumed)
    assert not (tmp_path / "resumed0.pt.ckpt").exists()
    for before, after in zip(straight, resumed, strict=True):
        expected, got = (torch.load(path, weights_only=True)["model"] for path in (before, after))
        for name, tensor in expected.items():
            torch.testing.assert_close(got[name], tensor, rtol=0, atol=0, msg=name)
    assert step_spy.generator_devices == {device.type} and step_spy.host_copies == 0


def test_bf16_trains_a_stack_as_it_trains_one_model(tmp_path, device):
    """Under vmap the batch norm refused bf16 input with fp32 statistics: one bf16 model trained, a stack of 3 did not."""
    settings, a, bs = _stack_inputs(True, 3)
    settings = [dataclasses.replace(s, bf16=True) for s in settings]
    alone = train(settings[0], a, bs[0], tmp_path / "alone.pt")
    stacked = train_stack(settings, a, bs, [tmp_path / f"stack{k}.pt" for k in range(3)])
    assert np.isfinite(stacked.drop(columns=["epoch", "model"]).to_numpy()).all()
    first = stacked[stacked["model"] == 0].drop(columns="model").reset_index(drop=True)
    # bf16 rounds to 3 significant digits, so the stack's model 0 matches the lone model to about that.
    np.testing.assert_allclose(first.to_numpy(), alone.to_numpy(), rtol=0.05, atol=0.02)
    for k in range(3):
        model, saved = load_model(tmp_path / f"stack{k}.pt")
        assert saved.bf16 and all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_stack_size_setting_and_its_cpu_default():
    from compgen.atmo.study import stack_min_models

    assert stack_min_models({"stack_min_models": 4}) == 4
    from compgen.device import pick_device

    expected = 2 if pick_device().type == "cuda" else 6  # where a stack gains (bench/atmo_stack.py)
    assert stack_min_models({"stack_min_models": "auto"}) == expected == stack_min_models({})


def test_a_stack_refuses_models_that_differ_in_more_than_seed(tmp_path):
    settings, a, bs = _stack_inputs(True, 2)
    wider = dataclasses.replace(settings[1], width=16)
    with pytest.raises(ValueError, match="differ only in their seed"):
        train_stack([settings[0], wider], a, bs[:2], [tmp_path / "x.pt", tmp_path / "y.pt"])
    with pytest.raises(ValueError, match="one setting, pool B and output per model"):
        train_stack(settings, a, bs[:2], [tmp_path / "x.pt", tmp_path / "y.pt", tmp_path / "z.pt"])


@pytest.mark.e2e
def test_tiny_study_through_snakemake_writes_every_output(tiny_run, mirror):
    work, config = tiny_run
    config = copy.deepcopy(config)
    study = work / "results" / "atmo" / "CNC__NCCN"
    summary = pd.read_csv(study / "delta_summary.csv")
    assert list(summary.columns) == ["method", "fold", "n", "mean", "median", "std"]
    assert set(summary["method"]) == {"augcyc_sample", "augcyc_opt", "cyclegan", "identity", "random"}
    assert set(summary["fold"].astype(str)) == {"0", "1", "2", "all"}
    assert (summary.loc[summary["fold"].astype(str) == "all", "n"] == 150).all()
    deltas = pd.read_parquet(study / "deltas.parquet")
    assert len(deltas) == 150 * 5
    for name in ["delta_distributions", "nsample_curve", "loss_curves", "element_ratio", "umap", "fraction_sweep"]:
        assert (study / "figures" / f"{name}.png").stat().st_size > 5_000
        assert (study / "figures" / f"{name}.csv").stat().st_size > 0
    curve = pd.read_csv(study / "nsample_curve.csv")
    assert curve["n_sample"].tolist() == [1, 2, 3, 4] * 3
    # the curve at N_sample = 3 is each fold's mean Δ_sample of the Δ table: two computations, one number
    at_n = curve[curve["n_sample"] == 3].set_index("fold")["mean_delta"]
    sample = deltas[deltas["method"] == "augcyc_sample"].groupby("fold")["delta"].mean()
    pd.testing.assert_series_equal(at_n, sample, check_names=False)
    split = pd.read_parquet(study / "split.parquet")
    assert (split["pool"] == "A").sum() == 314 and (split["pool"] == "B").sum() == 427
    assert (split.loc[split["pool"] == "B", "part"] >= 0).sum() == 150
    log = (work / "logs" / "atmo" / "CNC__NCCN" / "train_augcyc.log").read_text()
    assert "training 3 augcyc models as one stack" in log and "augcyc x3 epoch 2/2" in log
    assert "rule declares gpu=1; device override: cpu" in log and "device: cpu (torch" in log  # tests set COMPGEN_DEVICE=cpu
    sweep_log = (work / "logs" / "atmo" / "CNC__NCCN" / "sweep_train.log").read_text()
    assert "training 2 augcyc models as one stack" in sweep_log and "training 1 augcyc models one after another" in sweep_log
    sweep = pd.read_csv(study / "figures" / "fraction_sweep.csv")
    assert sorted(zip(sweep["paired_fraction"], sweep["unpaired"], strict=True)) == [(0.0, "with"), (0.5, "with"), (0.5, "without")]
    assert (sweep["n"] == 50).all()
    assert "classifier search 3/3 fractions / random_forest" in (work / "logs" / "atmo" / "dimension.log").read_text()
    accuracy = pd.read_csv(work / "results" / "atmo" / "dimension" / "cv_accuracy.csv").set_index("model")
    assert accuracy.loc["majority_class", "accuracy_mean"] == pytest.approx(1393 / 3724)
    shares = pd.read_csv(study / "tandem" / "dimension_shares.csv")
    np.testing.assert_allclose(shares[["0", "1", "2", "3"]].sum(1), 1.0)
    assert (study / "tandem" / "umap.png").exists()

    # Changing one stage's setting reruns that stage, not the training jobs before it.
    config["atmo"]["tandem"]["n_draws"] = 3
    dry = run_workflow(work, ["atmo"], config, mirror, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:]
    scheduled = dry.stdout.split("Job stats:")[1].split("Reasons:")[0]
    assert "atmo_tandem" in scheduled
    assert "atmo_train" not in scheduled and "atmo_evaluate" not in scheduled


@pytest.mark.e2e
def test_per_fold_jobs_retrain_only_the_fold_whose_model_is_gone(tiny_run, tmp_path, mirror):
    """In the per-fold layout, one lost model retrains its fold alone, and only the jobs that read it rerun.

    A copy of the tiny run (packed, `.test/config.yaml`) is planned with atmo.pack off: every file is
    there and none of the jobs' parameters change, so nothing reruns until two models are deleted.
    """
    local, config = tiny_run
    work = tmp_path / "work"
    shutil.copytree(local, work, symlinks=True)  # copy2: times kept, so Snakemake sees every job done
    per_fold = copy.deepcopy(config)
    per_fold["atmo"]["pack"] = False
    study = work / "results" / "atmo" / "CNC__NCCN"
    dry = run_workflow(work, ["atmo"], per_fold, mirror, "--dry-run")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]

    lost = ["models/cyclegan_fold1_seed0.pt", "sweep/models/paired0.50_without_seed0.pt"]
    for path in lost:
        (study / path).unlink()
    # Asked for again (Snakemake does not rebuild a missing file that only up-to-date outputs were made from).
    targets = ["atmo", *(f"results/atmo/CNC__NCCN/{path}" for path in lost)]
    dry = run_workflow(work, targets, per_fold, mirror, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    readers = {"atmo_evaluate": 1, "atmo_generate": 1, "atmo_generated_figures": 1, "atmo_figures": 1, "atmo_sweep": 1}
    assert planned_jobs(dry.stdout) == Counter({"atmo_train": 1, "atmo_sweep_train": 1, **readers})
    assert "train_cyclegan_fold1.log" in dry.stdout and "sweep_train_paired0.50_without.log" in dry.stdout

    result = run_workflow(work, targets[1:], per_fold, mirror)  # the two training jobs; their readers were planned above
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    log = (work / "logs" / "atmo" / "CNC__NCCN" / "train_cyclegan_fold1.log").read_text()
    assert "training 1 cyclegan models one after another" in log and "device: cpu" in log
    # The same model as the packed run's up to rounding (one thread here, two there). Adam turns a
    # near-zero gradient's rounding into a full step of about lr, so two such runs stay within a few
    # lr per epoch of each other; another seed or fold would start 0.1 away.
    for path in lost:
        packed, alone = (torch.load(w / "results/atmo/CNC__NCCN" / path, weights_only=True) for w in (local, work))
        assert packed["settings"] == alone["settings"]
        bound = 4 * packed["settings"]["lr"] * packed["settings"]["epochs"]
        for name, tensor in packed["model"].items():
            torch.testing.assert_close(alone["model"][name], tensor, rtol=0, atol=bound, msg=f"{path} {name}")


def test_sweep_points_skip_the_empty_pool_and_rotate_folds():
    from compgen.atmo.study import sweep_fold
    from compgen.registry import sweep_points

    cfg = {"n_folds": 3, "fraction_sweep": {"fractions": [0.0, 0.5], "seeds": [0, 4]}}
    assert sweep_points(cfg) == [
        ("0.00", "with", 0), ("0.00", "with", 4),
        ("0.50", "with", 0), ("0.50", "with", 4),
        ("0.50", "without", 0), ("0.50", "without", 4),
    ]  # fmt: skip
    assert [sweep_fold(s, cfg) for s in (0, 1, 2, 3, 4)] == [0, 1, 2, 0, 1]


def test_tandem_features_follow_the_classifier_element_order():
    from sklearn.tree import DecisionTreeClassifier

    from compgen.atmo.dimension import tandem_predictions

    classifier_elements = ["H", "C", "N", "O", "V"]
    # the tree only looks at V (column 4): dimension 3 when V is present
    X = np.array([[0.5, 0.2, 0.1, 0.2, 0.0], [0.5, 0.2, 0.1, 0.2, 0.1]])  # differ in V alone
    tree = DecisionTreeClassifier(random_state=0).fit(X, [0, 3])
    generated = np.array([[0.1, 0.3, 0.6], [0.5, 0.0, 0.5]])  # over O, V, H
    assert tandem_predictions(tree, classifier_elements, generated, ["O", "V", "H"]).tolist() == [3, 0]
    with pytest.raises(ValueError, match="'Mo'"):
        tandem_predictions(tree, classifier_elements, generated, ["O", "Mo", "H"])


def test_classifier_accuracy_table_on_a_separable_toy_set():
    from compgen.atmo.dimension import cross_validated_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2, 3], 25)
    X = np.eye(4)[y] + rng.normal(0, 0.05, (100, 4))
    table, tuned = cross_validated_accuracy({"fractions": X}, y, n_iter=2, seed=0, threads=1)
    rows = table.set_index("model")
    assert rows.loc["majority_class", "accuracy_mean"] == 0.25
    assert rows.loc["1nn_manhattan", "accuracy_mean"] == 1.0
    assert (rows.loc[["knn", "logistic", "random_forest"], "accuracy_mean"] == 1.0).all()
    assert set(tuned) == {("fractions", "knn"), ("fractions", "logistic"), ("fractions", "random_forest")}


def test_tuning_records_every_call_and_resumes(tmp_path, atmo_table):
    from compgen.atmo.tuning import NAMES, tune, write_results

    pools = build_pools(atmo_table, "CNC", "NCCN", n_folds=3, seed=0)
    base = atmo_train_settings(width=4, blocks=1, epochs=2, log_every=10, checkpoint_every=10)
    progress = tmp_path / "calls.progress.csv"
    first = tune(pools, base, n_folds=2, n_sample=2, n_calls=2, seed=0, progress=progress)
    assert len(first) == 2 and list(first.columns) == [*NAMES, "mean_delta_sample"]
    assert (first["mean_delta_sample"] > 0).all()
    assert first["blocks"].between(5, 25).all() and first["lambda_z"].between(0.01, 10).all()
    resumed = tune(pools, base, n_folds=2, n_sample=2, n_calls=3, seed=0, progress=progress)
    assert len(resumed) == 3
    pd.testing.assert_frame_equal(resumed.iloc[:2], first, check_dtype=False)
    write_results(resumed, tmp_path / "calls.csv", tmp_path / "best.json")
    import json

    best = json.loads((tmp_path / "best.json").read_text())
    assert best["mean_delta_sample"] == resumed["mean_delta_sample"].min()


def _bench(name: str):
    """A module of bench/ (not a package), imported by path."""
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unique_b_means_average_each_folds_repeated_vectors_once():
    unique_b_means = _bench("atmo_unique_b").unique_b_means
    # b1 and b2 share a vector in fold 0; b3 has the same vector but sits in fold 1, so it counts apart.
    same, other = np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.3, 0.5])
    table = pd.DataFrame({"identifier": ["a1", "b1", "b2", "b3", "b4"], "pool": ["A", "B", "B", "B", "B"]})
    pools = AminePools(table, np.stack([other, same, same, same, other]), ["Cs", "Cl", "O"])
    deltas = pd.DataFrame(
        {
            "identifier": ["b1", "b2", "b3", "b4", "b1", "b2", "b3", "b4"],
            "fold": [0, 0, 1, 1, 0, 0, 1, 1],
            "seed": [0, 0, 0, 0, 1, 1, 1, 1],
            "method": ["augcyc_sample"] * 8,
            "delta": [0.01, 0.03, 0.05, 0.07, 0.03, 0.05, 0.05, 0.07],
        }
    )
    means = unique_b_means(pools, deltas).loc["augcyc_sample"]
    # Per C_B over seeds: b1 0.02, b2 0.04, b3 0.05, b4 0.07. All: mean of the four; unique: (b1, b2) -> 0.03, b3, b4.
    assert means["n_all"] == 4 and means["mean_all"] == pytest.approx(0.045)
    assert means["n_unique"] == 3 and means["mean_unique"] == pytest.approx((0.03 + 0.05 + 0.07) / 3)


def test_picking_on_test_folds_reports_the_best_run_and_the_best_model_of_each_fold():
    picked_on_test_folds = _bench("atmo_ablation").picked_on_test_folds
    rows = pd.DataFrame(
        {
            "variant": ["v1", "v1", "v2", "v2"],
            "pair": ["CNC__NCCN"] * 4,
            "seed": [0, 0, 0, 0],
            "fold": [0, 1, 0, 1],
            "n_test": [10, 30, 10, 30],
            "augcyc_sample": [0.02, 0.04, 0.03, 0.02],
            "augcyc_opt": [0.0] * 4,
            "identity": [0.0] * 4,
            "random": [0.0] * 4,
        }
    )
    # v1 pools to (10 x 0.02 + 30 x 0.04) / 40 = 0.035, v2 to 0.0225; fold 0's best is v1's, fold 1's v2's.
    n_runs, best_run, best_per_fold = picked_on_test_folds(rows)
    assert n_runs == 2 and best_run == pytest.approx(0.0225) and best_per_fold == pytest.approx(0.02)
