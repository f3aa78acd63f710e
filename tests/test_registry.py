"""Names and keys that join the rules, the scripts and the library."""

import pytest

from compgen.registry import ATMO_MODEL, ATMO_SWEEP_MODEL, ELPASOLITE_SAMPLES, Key, fraction_label, keyed_inputs


def test_keys_format_and_parse_back():
    assert ATMO_MODEL.format(model="augcyc", fold=2, seed=10) == "augcyc_fold2_seed10"
    assert ATMO_MODEL.parse("cyclegan_fold0_seed3") == ("cyclegan", 0, 3)
    assert ATMO_SWEEP_MODEL.parse(ATMO_SWEEP_MODEL.format(fraction=fraction_label(1 / 3), unpaired="without", seed=4)) == ("0.33", "without", 4)
    key = ELPASOLITE_SAMPLES.format(sampler="dqn_class5", n_train=400, target=5, seed=1)
    assert key == "dqn_class5_400_class5_seed1" and ELPASOLITE_SAMPLES.parse(key) == ("dqn_class5", 400, 5, 1)
    assert ELPASOLITE_SAMPLES.parse("prevalence_all_class1_seed0") == ("prevalence", "all", 1, 0)
    assert ATMO_MODEL.parse("vae_fold0_seed0") is None and ELPASOLITE_SAMPLES.parse("gan_all_class1_seed0") is None
    with pytest.raises(ValueError, match="does not make a valid"):
        ATMO_MODEL.format(model="vae", fold=0, seed=0)
    with pytest.raises(ValueError, match="do not match"):
        Key("{a}_{b}", a=r"\d+")


def test_an_input_that_fits_no_key_is_an_error_not_dropped():
    inputs = {"augcyc_fold0_seed0": "a.pt", "cyclegan_fold0_seed0": "c.pt", "split": "split.parquet"}
    assert keyed_inputs(inputs, ATMO_MODEL, fixed=["split"]) == {("augcyc", 0, 0): "a.pt", ("cyclegan", 0, 0): "c.pt"}
    with pytest.raises(ValueError, match=r"input 'augcyc_fold0_sed1' \(b\.pt\) is neither one of \['split'\] nor a '\{model\}_fold\{fold\}_seed\{seed\}' key"):
        keyed_inputs({**inputs, "augcyc_fold0_sed1": "b.pt"}, ATMO_MODEL, fixed=["split"])
