"""The search race: TPE, a Gaussian process and random search propose points; real materials answer.

Every strategy speaks ask / tell over the unit cube (the box the pool's latent
points span, scaled to [0, 1] per coordinate). In the materials race a proposal
is answered by the pool's material nearest to it that this run has not asked
for yet, and the strategy is told that material's point and value, so the
models learn from what was measured. `random_choice` proposes nothing: it picks
a uniformly random unasked material, the chance floor.

GP: scikit-optimize's Optimizer (the engine of `gp_minimize`); TPE: hyperopt's
`tpe.suggest` driven trial by trial.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compgen.workflow import Progress

log = logging.getLogger(__name__)

STRATEGIES = ("tpe", "gp", "random_box", "random_choice")


@dataclass(frozen=True)
class SearchSettings:
    initial_points: int  # random proposals before GP / TPE model anything
    gp_points: int  # acquisition candidates scored per GP proposal
    gp_restarts: int  # L-BFGS restarts of the acquisition optimum
    tpe_candidates: int  # EI candidates drawn per TPE proposal


class Strategy:
    def ask(self) -> np.ndarray | None:
        raise NotImplementedError

    def tell(self, point: np.ndarray, value: float) -> None:
        pass


class RandomBox(Strategy):
    def __init__(self, dim: int, seed: int):
        self.dim, self.rng = dim, np.random.default_rng(seed)

    def ask(self) -> np.ndarray:
        return self.rng.random(self.dim)


class RandomChoice(Strategy):
    """No proposal: the pool picks a random unasked material."""

    def ask(self) -> None:
        return None


class GaussianProcess(Strategy):
    def __init__(self, dim: int, seed: int, s: SearchSettings):
        from skopt import Optimizer

        self.optimizer = Optimizer(
            [(0.0, 1.0)] * dim,
            base_estimator="GP",
            n_initial_points=s.initial_points,
            acq_func="gp_hedge",  # gp_minimize's default
            acq_optimizer="lbfgs",
            acq_optimizer_kwargs={"n_points": s.gp_points, "n_restarts_optimizer": s.gp_restarts, "n_jobs": 1},
            random_state=seed,
        )

    def ask(self) -> np.ndarray:
        return np.asarray(self.optimizer.ask(), dtype=float)

    def tell(self, point: np.ndarray, value: float) -> None:
        # clipped: a point of the pool may sit a rounding error outside the unit box
        self.optimizer.tell([float(v) for v in np.clip(point, 0.0, 1.0)], float(value))


class TreeParzen(Strategy):
    """hyperopt's TPE asked one trial at a time (same proposals as `fmin` with the same seed).

    `space` is a hyperopt search space of named expressions; by default `dim`
    uniform coordinates of the unit cube, whose proposals come back as an array.
    """

    def __init__(self, dim: int, seed: int, s: SearchSettings, space: dict | None = None):
        from hyperopt import Trials, hp, tpe
        from hyperopt.base import Domain

        self.names = [f"x{i}" for i in range(dim)] if space is None else list(space)
        self.cube = space is None
        space = space or {name: hp.uniform(name, 0.0, 1.0) for name in self.names}
        self.domain = Domain(lambda _: 0.0, space)
        self.trials = Trials()
        self.suggest = functools.partial(tpe.suggest, n_startup_jobs=s.initial_points, n_EI_candidates=s.tpe_candidates, verbose=False)
        self.rng = np.random.default_rng(seed)
        self._doc = None

    def ask_vals(self) -> dict:
        """The next proposal as hyperopt writes it: name -> value (the index of a choice)."""
        ids = self.trials.new_trial_ids(1)
        self._doc = self.suggest(ids, self.domain, self.trials, int(self.rng.integers(2**31 - 1)))[0]
        return {name: values[0] for name, values in self._doc["misc"]["vals"].items()}

    def ask(self) -> np.ndarray:
        vals = self.ask_vals()
        return np.array([vals[name] for name in self.names], dtype=float)

    def tell_vals(self, vals: dict, value: float) -> None:
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        doc = self._doc
        doc["misc"]["vals"] = {name: [v] for name, v in vals.items()}
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": float(value), "status": STATUS_OK}
        self.trials.insert_trial_docs([doc])
        self.trials.refresh()

    def tell(self, point: np.ndarray, value: float) -> None:
        self.tell_vals({name: float(v) for name, v in zip(self.names, np.clip(point, 0.0, 1.0), strict=True)}, value)


def make_strategy(name: str, dim: int, seed: int, s: SearchSettings) -> Strategy:
    if name == "tpe":
        return TreeParzen(dim, seed, s)
    if name == "gp":
        return GaussianProcess(dim, seed, s)
    if name == "random_box":
        return RandomBox(dim, seed)
    if name == "random_choice":
        return RandomChoice()
    raise ValueError(f"unknown search strategy {name!r}; known: {', '.join(STRATEGIES)}")


class Pool:
    """Materials that answer proposals: the nearest one not yet asked for in this run."""

    def __init__(self, points: np.ndarray, values: np.ndarray):
        low, high = points.min(axis=0), points.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        self.points = (points - low) / span  # the latent box, scaled to the unit cube
        self.values = np.asarray(values, dtype=float)
        self.asked = np.zeros(len(points), dtype=bool)

    def nearest_unasked(self, proposal: np.ndarray) -> int:
        if self.asked.all():
            raise ValueError(f"every one of the pool's {len(self.asked)} materials has been asked for")
        distance = ((self.points - proposal) ** 2).sum(axis=1)
        distance[self.asked] = np.inf
        index = int(np.argmin(distance))
        self.asked[index] = True
        return index

    def random_unasked(self, rng: np.random.Generator) -> int:
        index = int(rng.choice(np.flatnonzero(~self.asked)))
        self.asked[index] = True
        return index


def race(points: np.ndarray, values: np.ndarray, strategy: str, evaluations: int, seed: int, s: SearchSettings, what: str = "search") -> pd.DataFrame:
    """One run: `evaluations` materials asked for in turn. Rows: evaluation, index (into the pool), value, distance, seconds."""
    pool = Pool(points, values)
    if evaluations > len(values):
        raise ValueError(f"{evaluations} evaluations asked of a pool of {len(values)} materials")
    agent = make_strategy(strategy, points.shape[1], seed, s)
    rng = np.random.default_rng(seed)
    rows = []
    progress = Progress(what, evaluations, unit="evaluation")
    for evaluation in range(1, evaluations + 1):
        began = time.perf_counter()
        proposal = agent.ask()
        if proposal is None:
            index, distance = pool.random_unasked(rng), float("nan")
        else:
            index = pool.nearest_unasked(proposal)
            distance = float(np.linalg.norm(pool.points[index] - proposal))
        agent.tell(pool.points[index], pool.values[index])
        rows.append({"evaluation": evaluation, "index": index, "value": pool.values[index], "distance": distance,
                     "seconds": time.perf_counter() - began})  # fmt: skip
        if evaluation % 10 == 0 or evaluation == evaluations:
            progress.advance_by(evaluation - progress.done, f"best {min(r['value'] for r in rows):.4g}")
    return pd.DataFrame(rows)


# --- standard 2-D test functions (Fig. S8) -------------------------------------------


@dataclass(frozen=True)
class Objective:
    f: Callable[[np.ndarray], float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    minimum: float


def _branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * np.pi**2), 5 / np.pi, 6.0, 10.0, 1 / (8 * np.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np.cos(x[0]) + s


def _six_hump_camel(x):
    return (4 - 2.1 * x[0] ** 2 + x[0] ** 4 / 3) * x[0] ** 2 + x[0] * x[1] + (-4 + 4 * x[1] ** 2) * x[1] ** 2


def _rastrigin(x):
    return 10 * len(x) + float(np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))


TEST_FUNCTIONS = {
    "branin": Objective(_branin, ((-5.0, 10.0), (0.0, 15.0)), 0.397887),
    "six_hump_camel": Objective(_six_hump_camel, ((-3.0, 3.0), (-2.0, 2.0)), -1.031628),
    "rastrigin": Objective(_rastrigin, ((-5.12, 5.12), (-5.12, 5.12)), 0.0),
}


def minimise(function: Objective, strategy: str, evaluations: int, seed: int, s: SearchSettings) -> pd.DataFrame:
    """A strategy on a test function, evaluated where it proposes. Rows: evaluation, value, regret, seconds."""
    low = np.array([b[0] for b in function.bounds])
    width = np.array([b[1] - b[0] for b in function.bounds])
    agent = make_strategy(strategy, 2, seed, s)
    rows = []
    for evaluation in range(1, evaluations + 1):
        began = time.perf_counter()
        point = agent.ask()
        value = float(function.f(low + width * point))
        agent.tell(point, value)
        rows.append({"evaluation": evaluation, "value": value, "regret": value - function.minimum, "seconds": time.perf_counter() - began})
    return pd.DataFrame(rows)
