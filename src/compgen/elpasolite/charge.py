"""Charge balance of ABC2D6 compositions under common oxidation states (SMACT's validity test)."""

from __future__ import annotations

from functools import cache

import numpy as np

from compgen.elpasolite.space import ELEMENTS, keys


@cache
def _balanced(ab: frozenset, c: int, d: int) -> bool:
    from pymatgen.core import Composition
    from smact.screening import smact_validity

    amounts = {ELEMENTS[i]: 1 for i in ab} | {ELEMENTS[c]: 2, ELEMENTS[d]: 6}
    # SMACT's defaults: ICSD-2024 oxidation states, the Pauling electronegativity test, alloys allowed
    return bool(smact_validity(Composition(amounts)))


def charge_balanced(indices: np.ndarray) -> np.ndarray:
    """Whether each composition (n x 4 element indices) passes SMACT's validity test.

    A and B both carry one atom, so AB and BA share a cached answer.
    """
    indices = np.asarray(indices)
    _, first, inverse = np.unique(keys(indices), return_index=True, return_inverse=True)
    answers = np.array([_balanced(frozenset((int(a), int(b))), int(c), int(d)) for a, b, c, d in indices[first]], dtype=bool)
    return answers[inverse.reshape(-1)]
