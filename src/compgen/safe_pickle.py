"""Loading pickled numpy data without letting the file run code.

A pickle names callables that the loader invokes; a crafted one can name
`os.system`. This unpickler resolves only the few numpy globals needed to
rebuild arrays and dtypes and refuses every other name.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

# Python-2 era pickles name numpy.core.multiarray; numpy 2 moved it to numpy._core.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    # Protocol 5 pickles rebuild arrays from a raw buffer.
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    pass


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused to load global {module}.{name}: only numpy array globals are allowed") from None


def load_numpy_pickle(source: str | os.PathLike | bytes, encoding: str = "latin1"):
    """Unpickle `source` (a path or the bytes) admitting only numpy array globals."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return _NumpyOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()
