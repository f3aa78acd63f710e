"""The latent study's inputs as arrays: element-fraction vectors, the composition split, the perovskites.

Compositions are vectors of mole fractions over Z = 1..100 (SI: "100-dimensional
vectors of stoichiometric composition"); a formula with an element beyond
fermium cannot be written that way and is an error naming it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element, Structure
from pymatgen.core.lattice import Lattice

N_ELEMENTS = 100
ELEMENTS = [Element.from_Z(z).symbol for z in range(1, N_ELEMENTS + 1)]
_INDEX = {symbol: i for i, symbol in enumerate(ELEMENTS)}


class CompositionError(ValueError):
    """A formula that has no element-fraction vector over Z = 1..100."""


def fraction_vector(formula: str) -> np.ndarray:
    """Mole fractions of `formula` over Z = 1..100 (they sum to 1)."""
    amounts = Composition(formula).get_el_amt_dict()
    total = sum(amounts.values())
    if not amounts or total <= 0:
        raise CompositionError(f"formula {formula!r} has no atoms")
    vector = np.zeros(N_ELEMENTS)
    for symbol, amount in amounts.items():
        if symbol not in _INDEX:
            raise CompositionError(f"formula {formula!r}: element {symbol} lies beyond Z = {N_ELEMENTS}")
        vector[_INDEX[symbol]] = amount / total
    return vector


def fraction_matrix(formulas) -> np.ndarray:
    """One fraction vector per formula (float32, rows in the given order); repeated formulas are parsed once."""
    formulas = pd.Series(list(formulas), dtype=object)
    unique = formulas.unique()
    table = np.stack([fraction_vector(f) for f in unique]).astype(np.float32) if len(unique) else np.zeros((0, N_ELEMENTS), np.float32)
    return table[pd.Index(unique).get_indexer(formulas)]


def element_sets(fractions: np.ndarray, threshold: float) -> list[frozenset[int]]:
    """The element indices of each row whose fraction exceeds `threshold`."""
    return [frozenset(np.flatnonzero(row > threshold).tolist()) for row in fractions]


def composition_split(mp_e_form: pd.DataFrame, mp_gap: pd.DataFrame, holdout_fraction: float, seed: int) -> pd.DataFrame:
    """Every distinct reduced formula of the two Materials Project tables, a seeded share of them held out.

    Columns: formula, holdout (bool). Sorted by formula so the split does not
    depend on row order.
    """
    formulas = np.sort(pd.concat([mp_e_form["formula"], mp_gap["formula"]]).unique())
    rng = np.random.default_rng(seed)
    holdout = np.zeros(len(formulas), dtype=bool)
    holdout[rng.permutation(len(formulas))[: round(holdout_fraction * len(formulas))]] = True
    return pd.DataFrame({"formula": formulas, "holdout": holdout})


def structure(row) -> Structure:
    """The pymatgen structure of one row of a structure table (datasets' `_STRUCTURE_FIELDS`)."""
    return Structure(Lattice(np.asarray(row["lattice"], dtype=float).reshape(3, 3)), list(row["species"]), np.stack(row["frac_coords"]))


def material_split(ids: np.ndarray, holdout_fraction: float, seed: int) -> np.ndarray:
    """A held-out mask over materials, seeded and independent of row order."""
    order = np.argsort(ids, kind="stable")
    rng = np.random.default_rng(seed)
    chosen = order[rng.permutation(len(ids))[: round(holdout_fraction * len(ids))]]
    mask = np.zeros(len(ids), dtype=bool)
    mask[chosen] = True
    return mask
