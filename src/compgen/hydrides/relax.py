"""Are the good candidates plausible? CHGNet relaxations, formation energies and the Pd-Ni-H convex hull.

CHGNet's pretrained weights ship inside the `chgnet` wheel: nothing is
downloaded. Energies are CHGNet's (MPtrj-compatible, eV/atom). The hull is
built from the relaxed training binaries and the elemental references (fcc
metals, an H2 molecule in a box); a candidate's energy above it decides
whether it counts as stable (MatterGen's 0.1 eV/atom).
"""

from __future__ import annotations

import logging
import time
import warnings
from datetime import timedelta

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure

log = logging.getLogger(__name__)

# fcc lattice constants (Angstrom) of the metals the study may meet; H2 bond length 0.74 A.
FCC_LATTICE = {"Pd": 3.89, "Ni": 3.52, "Pt": 3.92, "Cu": 3.61, "Ag": 4.09, "Au": 4.08, "Al": 4.05, "Rh": 3.80, "Ir": 3.84}
H2_BOX = 10.0


def references(metals: tuple[str, str]) -> dict[str, Structure]:
    """The elemental references: each metal as fcc, H as an H2 molecule in a 10 A box."""
    refs = {}
    for metal in metals:
        if metal not in FCC_LATTICE:
            raise ValueError(f"no fcc reference lattice for {metal}: add it to compgen.hydrides.relax.FCC_LATTICE")
        refs[metal] = Structure.from_spacegroup("Fm-3m", Lattice.cubic(FCC_LATTICE[metal]), [metal], [[0, 0, 0]])
    refs["H"] = Structure(Lattice.cubic(H2_BOX), ["H", "H"], [[0, 0, 0], [0.74, 0, 0]], coords_are_cartesian=True)
    return refs


class Relaxer:
    """One CHGNet model and optimiser for a job, on the CPU or a GPU."""

    def __init__(self, model: str, fmax: float, steps: int, max_seconds: float, chunk: int = 25):
        from chgnet.model import CHGNet, StructOptimizer

        from compgen.device import pick_device

        device = str(pick_device())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = CHGNet.load(model_name=model, use_device=device, verbose=False)
        self.optimizer = StructOptimizer(model=self.model, use_device=device)
        self.fmax, self.steps, self.max_seconds, self.chunk = fmax, steps, max_seconds, chunk

    def relax(self, structure: Structure, relax_cell: bool = True) -> dict:
        """Relax in chunks of steps until the forces fall below fmax, or `steps` or `max_seconds` run out.

        The time limit matters: a high-pressure cell (the PdH6 of PdH-31) keeps
        expanding under CHGNet and each step grows slower; it ends unconverged.
        """
        began, done, converged = time.perf_counter(), 0, False
        while done < self.steps and time.perf_counter() - began < self.max_seconds:
            allowed = min(self.chunk, self.steps - done)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.optimizer.relax(structure, fmax=self.fmax, steps=allowed, relax_cell=relax_cell, verbose=False)
            trajectory = result["trajectory"]
            structure = result["final_structure"]
            energy = float(trajectory.energies[-1])
            used = len(trajectory.energies) - 1
            done += max(used, 1)
            if used < allowed:  # the optimiser stopped by itself: forces (and the cell's stress) below fmax
                converged = True
                break
        return {"energy_per_atom": energy / len(structure), "n_steps": done, "converged": converged, "structure": structure}

    def relax_row(self, name: str, structure: Structure, relax_cell: bool = True) -> dict:
        """One table row: the relaxed structure and its energy, or the reason it failed (an exploding candidate must not end the job)."""
        try:
            result = self.relax(structure, relax_cell) | {"reason": ""}
        except Exception as err:
            result = {"energy_per_atom": np.nan, "n_steps": 0, "converged": False, "structure": structure, "reason": f"{type(err).__name__}: {err}"}
        return {"name": name, "formula": structure.composition.reduced_formula, **result}

    def relax_all(self, named: dict[str, Structure], what: str, relax_cell: dict[str, bool] | None = None) -> pd.DataFrame:
        """Relax every structure in this process, logging each with rate and ETA."""
        progress = Progress(what, len(named))
        rows = [progress.done(self.relax_row(name, s, (relax_cell or {}).get(name, True))) for name, s in named.items()]
        return relaxed_table(rows)


COLUMNS = ["name", "formula", "energy_per_atom", "n_steps", "converged", "structure", "reason"]


def relaxed_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=COLUMNS)  # nothing relaxed: the table still has its columns


class Progress:
    """A log line per relaxed structure, with the rate and the time left."""

    def __init__(self, what: str, total: int):
        self.what, self.total, self.count, self.began = what, total, 0, time.perf_counter()

    def done(self, row: dict) -> dict:
        self.count += 1
        rate = self.count / (time.perf_counter() - self.began)
        eta = timedelta(seconds=round((self.total - self.count) / rate))
        log.info("%s %d/%d %s: %.4f eV/atom in %d steps  (%.2f relaxations/s, ETA %s)", self.what, self.count, self.total, row["name"],
                 row["energy_per_atom"], row["n_steps"], rate, eta)  # fmt: skip
        return row


_worker: Relaxer | None = None


def _start_worker(settings: tuple) -> None:
    import torch

    global _worker
    torch.set_num_threads(1)
    _worker = Relaxer(*settings)


def _relax_in_worker(name: str, structure: Structure, relax_cell: bool) -> dict:
    return _worker.relax_row(name, structure, relax_cell)


def relax_all(
    settings: tuple, named: dict[str, Structure], what: str, relax_cell: dict[str, bool] | None = None, workers: int = 1
) -> pd.DataFrame:
    """Relax every structure with Relaxer(*settings), in `workers` processes of one thread each; rows in the order given.

    A small cell's CHGNet step is mostly Python, so two one-thread processes relax
    nearly twice as many structures per second as one process with two threads.
    """
    import multiprocessing

    # Forked workers: a spawned one would run the job's script (Snakemake's __main__) again.
    # The parent has run no torch computation, so no thread pool or CUDA context is forked.
    if workers <= 1 or len(named) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return Relaxer(*settings).relax_all(named, what, relax_cell)
    from concurrent.futures import ProcessPoolExecutor

    progress = Progress(what, len(named))
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(settings,)) as pool:
        futures = [pool.submit(_relax_in_worker, name, s, (relax_cell or {}).get(name, True)) for name, s in named.items()]
        for future in futures:  # in order: the log lags at most the few relaxations in flight
            progress.done(future.result())
        rows = [future.result() for future in futures]
    return relaxed_table(rows)


def chemical_potentials(refs: pd.DataFrame) -> dict[str, float]:
    """eV/atom of each element's reference (the H2 molecule's per H atom)."""
    return {Composition(row.formula).elements[0].symbol: row.energy_per_atom for row in refs.itertuples()}


def formation_energy(formula: str, energy_per_atom: float, mu: dict[str, float]) -> float:
    composition = Composition(formula)
    return energy_per_atom - sum(composition.get_atomic_fraction(el) * mu[el.symbol] for el in composition.elements)


def phase_diagram(known: pd.DataFrame) -> PhaseDiagram:
    """Hull of the relaxed training binaries and references (rows with formula and energy_per_atom)."""
    entries = []
    for row in known.itertuples():
        if np.isfinite(row.energy_per_atom):
            composition = Composition(row.formula)
            entries.append(PDEntry(composition, row.energy_per_atom * composition.num_atoms, name=row.name))
    return PhaseDiagram(entries)


def above_hull(diagram: PhaseDiagram, formula: str, energy_per_atom: float) -> float:
    if not np.isfinite(energy_per_atom):
        return np.nan
    entry = PDEntry(Composition(formula), energy_per_atom * Composition(formula).num_atoms)
    return float(diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1])
