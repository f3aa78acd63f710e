"""The ABC2D6 elpasolite composition space and its 8-D (row, group) representation.

Sites A, B, C, D each hold one of the 39 main-group elements up to Bi, all
four distinct: 39 * 38 * 37 * 36 = 1,974,024 compositions. A composition is
stored as four element indices (0-38, in order of Z) and looked up through
an integer key, so classifying millions of generated samples is array
indexing, not a Python loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core.periodic_table import Element

from compgen.workflow import Progress

SITES = "ABCD"
N_ROWS, N_GROUPS = 6, 8
ELEMENT_Z = [*range(1, 21), *range(31, 39), *range(49, 57), *range(81, 84)]
ELEMENTS = [Element.from_Z(z).symbol for z in ELEMENT_Z]
N_ELEMENTS = len(ELEMENTS)  # 39


def _row_group(symbol: str) -> tuple[int, int]:
    element = Element(symbol)
    group = element.group if element.group <= 2 else element.group - 10  # 13-18 -> 3-8
    return element.row, group


ROW_GROUP = np.array([_row_group(s) for s in ELEMENTS])  # 39 x 2
# (row, group) -> element index, -1 where no main-group element of our set sits
ELEMENT_AT = np.full((N_ROWS + 1, N_GROUPS + 1), -1)
ELEMENT_AT[ROW_GROUP[:, 0], ROW_GROUP[:, 1]] = np.arange(N_ELEMENTS)
SPACE_SIZE = N_ELEMENTS * (N_ELEMENTS - 1) * (N_ELEMENTS - 2) * (N_ELEMENTS - 3)


def element_index(symbols) -> np.ndarray:
    lookup = {s: i for i, s in enumerate(ELEMENTS)}
    try:
        return np.array([lookup[s] for s in symbols])
    except KeyError as err:
        raise ValueError(f"{err.args[0]!r} is not one of the 39 main-group elements of the space") from None


def keys(indices: np.ndarray) -> np.ndarray:
    """Integer key of each composition (n x 4 element indices), 0 .. 39^4 - 1."""
    indices = np.asarray(indices, dtype=np.int64)
    return ((indices[:, 0] * N_ELEMENTS + indices[:, 1]) * N_ELEMENTS + indices[:, 2]) * N_ELEMENTS + indices[:, 3]


def from_keys(key: np.ndarray) -> np.ndarray:
    key = np.asarray(key, dtype=np.int64)
    out = np.empty((len(key), 4), dtype=np.int64)
    for site in range(3, -1, -1):
        key, out[:, site] = np.divmod(key, N_ELEMENTS)
    return out


def enumerate_space() -> np.ndarray:
    """All 1,974,024 compositions as element indices (A, B, C, D), in key order."""
    grid = from_keys(np.arange(N_ELEMENTS**4))
    distinct = (
        (grid[:, 0] != grid[:, 1]) & (grid[:, 0] != grid[:, 2]) & (grid[:, 0] != grid[:, 3])
        & (grid[:, 1] != grid[:, 2]) & (grid[:, 1] != grid[:, 3]) & (grid[:, 2] != grid[:, 3])
    )  # fmt: skip
    return grid[distinct]


def encode(indices: np.ndarray) -> np.ndarray:
    """Eq. 1: (row, group) of each site scaled to (-1, 1) as (2x - 1) / n - 1; n x 8."""
    row_group = ROW_GROUP[np.asarray(indices)]  # n x 4 x 2
    scale = np.array([N_ROWS, N_GROUPS])
    return ((2 * row_group - 1) / scale - 1).reshape(len(row_group), 8)


def decode(x: np.ndarray) -> np.ndarray:
    """Round scaled 8-D vectors back to element indices; -1 where a site holds no element of the space.

    A decoded composition is valid when no site is -1 and the four sites differ (`valid`).
    """
    x = np.asarray(x, dtype=float).reshape(len(x), 4, 2)
    scale = np.array([N_ROWS, N_GROUPS])
    row_group = np.rint(((x + 1) * scale + 1) / 2).astype(np.int64)
    inside = (row_group >= 1).all(-1) & (row_group <= scale).all(-1)
    rows, groups = np.clip(row_group[..., 0], 0, N_ROWS), np.clip(row_group[..., 1], 0, N_GROUPS)
    return np.where(inside, ELEMENT_AT[rows, groups], -1)


def valid(indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices)
    distinct = np.ones(len(indices), dtype=bool)
    for i in range(4):
        for j in range(i + 1, 4):
            distinct &= indices[:, i] != indices[:, j]
    return (indices >= 0).all(1) & distinct


class SamplingError(RuntimeError):
    """A sampler that keeps emitting compositions outside the space."""


def stream_valid(n: int, draw, what: str, consume, max_draws: int | None = None) -> int:
    """Call `draw()` for batches of element indices and hand the valid rows, in order, to `consume` until n; returns the invalid draws.

    Invalid draws are counted up to the n-th valid one, not over the rest of
    the last batch. Gives up after `max_draws` draws (default 100 n): a
    sampler whose output is almost never a composition of the space would
    otherwise run forever. Nothing but the current batch is held here, so n
    may be tens of millions.
    """
    max_draws = max_draws or 100 * n
    n_valid, n_invalid = 0, 0
    progress, step = Progress(what, n, unit="sample"), max(n // 10, 1)  # a log line per tenth
    while n_valid < n:
        if n_valid + n_invalid >= max_draws:
            raise SamplingError(f"{what}: {n_valid + n_invalid} draws gave {n_valid} valid compositions of the {n} asked for; giving up")
        batch = np.asarray(draw())
        ok = valid(batch)
        if n_valid + ok.sum() >= n:
            last = np.flatnonzero(ok)[n - n_valid - 1]
            batch, ok = batch[: last + 1], ok[: last + 1]
        n_invalid += int((~ok).sum())
        n_valid += int(ok.sum())
        consume(batch[ok])
        if n_valid // step > progress.done // step or n_valid >= n:
            progress.advance_by(n_valid - progress.done, f"valid ({n_invalid} invalid draws)")
    return n_invalid


def collect_valid(n: int, draw, what: str, max_draws: int | None = None) -> tuple[np.ndarray, int]:
    """n valid compositions of `draw()` in generation order, and the invalid draws among them (`stream_valid`)."""
    found: list[np.ndarray] = []
    n_invalid = stream_valid(n, draw, what, found.append, max_draws)
    return np.concatenate(found), n_invalid


class SampleCounts:
    """The valid samples of one run, kept as counts: each distinct key, how often it was drawn, and the
    position (0-based, among valid samples) of its first draw. That is all that precision, coverage,
    the JS distance and the discovery curves need, and it stays below 2 million rows however long the run.
    """

    def __init__(self, key: np.ndarray, count: np.ndarray, first: np.ndarray, n_invalid: int = 0):
        order = np.argsort(key)
        self.key = np.asarray(key, dtype=np.int64)[order]
        self.count = np.asarray(count, dtype=np.int64)[order]
        self.first = np.asarray(first, dtype=np.int64)[order]
        self.n_invalid = int(n_invalid)

    @property
    def n_valid(self) -> int:
        return int(self.count.sum())

    def indices(self) -> np.ndarray:
        """The distinct compositions as element indices, in key order."""
        return from_keys(self.key)

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> SampleCounts:
        """Counts of samples in generation order; rows that are no composition of the space count as invalid."""
        samples = np.asarray(samples)
        ok = valid(samples)
        tally = _Tally()
        tally.add(samples[ok])
        return tally.counts(int((~ok).sum()))


class _Tally:
    """Running counts and first positions over all 39^4 keys (two arrays of 18 MB)."""

    def __init__(self):
        self.count = np.zeros(N_ELEMENTS**4, dtype=np.int64)
        self.first = np.full(N_ELEMENTS**4, -1, dtype=np.int64)
        self.seen = 0

    def add(self, batch: np.ndarray) -> None:
        batch_keys = keys(batch)
        distinct, position, times = np.unique(batch_keys, return_index=True, return_counts=True)
        new = self.first[distinct] < 0
        self.first[distinct[new]] = self.seen + position[new]
        self.count[distinct] += times  # distinct keys: no index repeats
        self.seen += len(batch_keys)

    def counts(self, n_invalid: int) -> SampleCounts:
        drawn = np.flatnonzero(self.count)
        return SampleCounts(drawn, self.count[drawn], self.first[drawn], n_invalid)


def count_valid(n: int, draw, what: str, max_draws: int | None = None) -> SampleCounts:
    """`stream_valid` into counts: n valid compositions of `draw()` without ever holding them all."""
    tally = _Tally()
    n_invalid = stream_valid(n, draw, what, tally.add, max_draws)
    return tally.counts(n_invalid)


def formula(indices) -> str:
    a, b, c, d = (ELEMENTS[i] for i in indices)
    return f"{a}{b}{c}2{d}6"


def augmented_dft(dft: pd.DataFrame) -> pd.DataFrame:
    """DFT rows plus the A/B swap of every row whose swap is not already computed.

    Columns: element indices A-D, e_form, source ('dft' or 'dft_ab_swap') and
    twin, a group id shared by a composition and its swap.
    """
    indices = np.stack([element_index(dft[s]) for s in "ABCD"], axis=1)
    original = pd.DataFrame(indices, columns=list("ABCD")).assign(e_form=dft["e_form"].to_numpy(), source="dft")
    swapped = original.rename(columns={"A": "B", "B": "A"})[list("ABCD") + ["e_form"]].assign(source="dft_ab_swap")
    known = set(keys(original[list("ABCD")].to_numpy()))
    swapped = swapped[~np.isin(keys(swapped[list("ABCD")].to_numpy()), list(known))]
    table = pd.concat([original, swapped], ignore_index=True)
    canonical = table[list("ABCD")].to_numpy().copy()
    canonical[:, :2].sort(axis=1)
    table["twin"] = keys(canonical)
    return table
