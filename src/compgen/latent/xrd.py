"""Powder XRD patterns on a fixed 2-theta grid, and crystal systems, of the perovskites.

pymatgen's XRDCalculator gives the peak positions and intensities (Cu K-alpha);
each peak is broadened onto the grid as a Gaussian of the configured FWHM and
the pattern is scaled to a maximum of 1 (SI: 1,601-point patterns).
"""

from __future__ import annotations

import logging
import math
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compgen.latent.data import structure
from compgen.workflow import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class XRDSettings:
    two_theta_min: float
    two_theta_max: float
    step: float
    fwhm: float  # degrees 2-theta
    wavelength: str  # a pymatgen wavelength name, e.g. 'CuKa'
    symprec: float  # Angstrom, for the crystal system

    @property
    def grid(self) -> np.ndarray:
        n = round((self.two_theta_max - self.two_theta_min) / self.step) + 1
        return self.two_theta_min + self.step * np.arange(n)


def broaden(two_theta: np.ndarray, intensity: np.ndarray, grid: np.ndarray, fwhm: float) -> np.ndarray:
    """Gaussian peaks of width `fwhm` at `two_theta` summed on `grid`, scaled to a maximum of 1."""
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    pattern = (intensity[:, None] * np.exp(-0.5 * ((grid[None, :] - two_theta[:, None]) / sigma) ** 2)).sum(axis=0)
    top = pattern.max(initial=0.0)
    return pattern / top if top > 0 else pattern


def pattern_of(struct, settings: XRDSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid pattern, peak 2-theta, peak intensity) of one structure."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    # Peaks just outside the range still spill onto the grid's ends.
    margin = 3 * settings.fwhm
    peaks = XRDCalculator(wavelength=settings.wavelength).get_pattern(
        struct, scaled=False, two_theta_range=(max(settings.two_theta_min - margin, 0.01), min(settings.two_theta_max + margin, 179.99))
    )
    x, y = np.asarray(peaks.x, dtype=float), np.asarray(peaks.y, dtype=float)
    return broaden(x, y, settings.grid, settings.fwhm), x, y


def _describe(rows: list[dict], settings: XRDSettings) -> list[tuple[np.ndarray, str, int]]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in rows:
            struct = structure(row)
            analyzer = SpacegroupAnalyzer(struct, symprec=settings.symprec)
            out.append((pattern_of(struct, settings)[0].astype(np.float32), analyzer.get_crystal_system(), analyzer.get_space_group_number()))
    return out


def patterns(table: pd.DataFrame, settings: XRDSettings, workers: int, chunk: int = 250) -> pd.DataFrame:
    """material_id, crystal_system, spacegroup and pattern (float32 on the grid) of every structure, in table order."""
    columns = ["lattice", "species", "frac_coords"]
    records = table[columns].to_dict("records")
    chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
    progress = Progress("xrd patterns", len(records), unit="structure")
    results = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for done in pool.map(_describe, chunks, [settings] * len(chunks)):
            results.extend(done)
            progress.advance_by(len(done))
    pattern, system, number = zip(*results, strict=True) if results else ((), (), ())
    return pd.DataFrame(
        {"material_id": table["material_id"].to_numpy(), "crystal_system": list(system), "spacegroup": np.asarray(number, dtype=np.int16),
         "pattern": list(pattern)}  # fmt: skip
    )
