import os
import pickle

import numpy as np
import pytest

from compgen.safe_pickle import UnsafePickleError, load_numpy_pickle


class _RunsCode:
    """Unpickling this calls os.system: what a malicious data file would do."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_numpy_arrays_round_trip():
    data = {"ANs": np.arange(12, dtype=np.int32).reshape(3, 4), "FEs": np.array([0.5, -1.0, 2.0])}
    for protocol in (3, pickle.HIGHEST_PROTOCOL):
        loaded = load_numpy_pickle(pickle.dumps(data, protocol=protocol))
        np.testing.assert_array_equal(loaded["ANs"], data["ANs"])
        assert loaded["ANs"].dtype == np.int32
        np.testing.assert_array_equal(loaded["FEs"], data["FEs"])


def test_crafted_pickle_calling_os_system_is_refused():
    with pytest.raises(UnsafePickleError, match="system"):
        load_numpy_pickle(pickle.dumps(_RunsCode(), protocol=2))


@pytest.mark.parametrize("target", [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load")])
def test_any_other_global_is_refused(target):
    module, name = target
    crafted = f"c{module}\n{name}\n(S'1'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        load_numpy_pickle(crafted)


def test_mirror_file_loads(mirror):
    data = load_numpy_pickle(mirror / "elpasolite" / "train_set.pkl")
    assert data["ANs"].shape == (10590, 4)
    assert data["FEs"].shape == (10590,)
