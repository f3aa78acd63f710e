"""Pools, composition vectors and cross-validation folds of the amine-swap study.

Pool A holds every structure templated by amine A, pool B every structure of
amine B. A B structure "can pair" when some A structure has the same chemical
system (element set). Cross-validation splits only the can-pair B: fold k
holds out part k as test B and trains on all of pool A, every B that cannot
pair, and the other parts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pymatgen.core.periodic_table import Element

from compgen.io import write_table

SPLIT_COLUMNS = ["identifier", "pool", "chemical_system", "dimension", "can_pair", "part", "shuffle_rank"]
SPLIT_SCHEMA = pa.schema(
    [
        pa.field("identifier", pa.string(), nullable=False),
        pa.field("pool", pa.string(), nullable=False),  # 'A' or 'B'
        pa.field("chemical_system", pa.string(), nullable=False),
        pa.field("dimension", pa.int8(), nullable=False),
        pa.field("can_pair", pa.bool_(), nullable=False),
        pa.field("part", pa.int64(), nullable=False),  # test part of a can-pair B, -1 otherwise
        pa.field("shuffle_rank", pa.int64(), nullable=False),  # order of the can-pair B for paired fractions
        pa.field("vector", pa.list_(pa.float64()), nullable=False),  # mole fractions over `elements`
    ]
)


def pair_label(amine_a: str, amine_b: str) -> str:
    """A directory name for an amine pair: SMILES characters unsafe in paths become '_'."""
    safe = [re.sub(r"[^A-Za-z0-9=#()+.@\[\]-]", "_", amine) for amine in (amine_a, amine_b)]
    return "__".join(safe)


def element_order(symbols) -> list[str]:
    """Elements in order of atomic number: the layout of every composition vector."""
    return sorted(set(symbols), key=lambda symbol: Element(symbol).Z)


def composition_matrix(elements_column, fractions_column, order: list[str]) -> np.ndarray:
    """Rows of mole fractions laid out over `order`."""
    index = {symbol: i for i, symbol in enumerate(order)}
    matrix = np.zeros((len(elements_column), len(order)))
    for row, (symbols, fractions) in enumerate(zip(elements_column, fractions_column, strict=True)):
        matrix[row, [index[s] for s in symbols]] = fractions
    return matrix


def element_ratios(vectors: np.ndarray, elements: list[str], numerator: str, denominator: str) -> np.ndarray:
    """numerator/denominator fraction ratio (C/N for Fig. 8) of every composition that has the denominator."""
    i, j = elements.index(numerator), elements.index(denominator)
    keep = vectors[:, j] > 0
    return vectors[keep, i] / vectors[keep, j]


@dataclass
class AminePools:
    """Both pools as one table plus the matrix of their composition vectors."""

    table: pd.DataFrame  # identifier, pool ('A'/'B'), chemical_system, can_pair, part
    vectors: np.ndarray  # len(table) x len(elements)
    elements: list[str]

    def rows(self, pool: str) -> pd.DataFrame:
        return self.table[self.table["pool"] == pool]

    def sources(self, test_b: np.ndarray) -> np.ndarray:
        """Rows of every C_A whose chemical system is that of one of these test C_B: what C'_B are generated from."""
        t = self.table
        systems = set(t.loc[test_b, "chemical_system"])
        return t.index[(t["pool"] == "A") & t["chemical_system"].isin(systems)].to_numpy()

    def fold(self, k: int, paired_fraction: float | None = None, with_unpaired: bool = True) -> dict[str, np.ndarray]:
        """Row indices of the training pools and the test B of fold k.

        `paired_fraction` (of all can-pair B) keeps only that many of the
        training parts' can-pair B, in their shuffled order; None keeps all.
        Without unpaired data both pools shrink to structures that can pair.
        """
        t = self.table
        is_a, is_b = t["pool"].eq("A"), t["pool"].eq("B")
        test = is_b & t["part"].eq(k)
        paired_train = t.index[is_b & t["can_pair"] & ~test]
        if paired_fraction is not None:
            n_keep = int(round(paired_fraction * int((is_b & t["can_pair"]).sum())))
            if n_keep > len(paired_train):
                raise ValueError(f"paired_fraction {paired_fraction} asks for {n_keep} can-pair B; fold {k} trains on {len(paired_train)}")
            paired_train = t.loc[paired_train].sort_values("shuffle_rank").index[:n_keep]
        train_b = t.index[is_b & ~t["can_pair"]].union(paired_train) if with_unpaired else paired_train
        train_a = t.index[is_a] if with_unpaired else t.index[is_a & t["can_pair"]]
        return {"train_a": train_a.to_numpy(), "train_b": train_b.to_numpy(), "test_b": t.index[test].to_numpy()}


def build_pools(atmo: pd.DataFrame, amine_a: str, amine_b: str, n_folds: int, seed: int) -> AminePools:
    """Pools A and B of an amine pair, can-pair flags and a seeded split of the can-pair B."""
    if amine_a == amine_b:
        raise ValueError(f"amine A and amine B are the same ({amine_a!r})")
    frames = []
    for pool, amine in (("A", amine_a), ("B", amine_b)):
        rows = atmo[atmo["amine"] == amine]
        if rows.empty:
            raise ValueError(f"no structure in the atmo dataset is templated by amine {amine!r}")
        frames.append(rows.assign(pool=pool))
    both = pd.concat(frames, ignore_index=True)
    systems = {pool: set(both.loc[both["pool"] == pool, "chemical_system"]) for pool in "AB"}
    other = both["pool"].map({"A": "B", "B": "A"})
    both["can_pair"] = [s in systems[o] for s, o in zip(both["chemical_system"], other, strict=True)]

    rng = np.random.default_rng(seed)
    pairable_b = both.index[(both["pool"] == "B") & both["can_pair"]].to_numpy()
    if len(pairable_b) < n_folds:
        raise ValueError(f"only {len(pairable_b)} B structures can pair; cannot make {n_folds} folds")
    shuffled = rng.permutation(pairable_b)
    both["part"] = -1
    both["shuffle_rank"] = -1
    for part, members in enumerate(np.array_split(shuffled, n_folds)):
        both.loc[members, "part"] = part
    both.loc[shuffled, "shuffle_rank"] = np.arange(len(shuffled))

    order = element_order(both["elements"].explode())
    vectors = composition_matrix(both["elements"], both["fractions"], order)
    return AminePools(both[SPLIT_COLUMNS].reset_index(drop=True), vectors, order)


def seen_in_training(vectors: np.ndarray, test_rows: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """For each test row, whether the very same vector occurs among the training rows."""
    seen = {vectors[i].tobytes() for i in train_rows}
    return np.array([vectors[i].tobytes() in seen for i in test_rows])



def write_split(pools: AminePools, path) -> None:
    """The pools, fold parts and composition vectors: built once, read by every later job of the study."""
    table = pools.table[SPLIT_COLUMNS].assign(vector=list(pools.vectors))
    schema = SPLIT_SCHEMA.with_metadata({"elements": json.dumps(pools.elements)})
    write_table(table, path, schema)


def read_split(path) -> AminePools:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    elements = json.loads(table.schema.metadata[b"elements"])
    frame = table.to_pandas()
    vectors = np.stack(frame.pop("vector").to_numpy()) if len(frame) else np.zeros((0, len(elements)))
    return AminePools(frame, vectors, elements)
