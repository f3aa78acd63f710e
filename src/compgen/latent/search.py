"""The search race: strategies ask for materials one at a time; real perovskites answer.

Every strategy works in one search space: the pool's joint latents projected
onto their first `projection` principal components (of the standardised
coordinates) and scaled to the unit cube, or the whole latent box when
`projection` is null. A run of a seed opens with the same `initial_points`
materials, drawn at random from the pool, for every strategy, so strategies are
compared on paired runs. After that:

- `random_choice` takes a uniformly random material not yet asked for: the chance
  floor, whose odds are known exactly (`evaluate.chance_of_top`);
- `random_box` draws a uniform point of the cube, answered by the nearest unasked material;
- `tpe` is hyperopt's `tpe.suggest`, asked trial by trial, its proposal answered by
  the nearest unasked material, and told that material's point;
- `gp` (a Gaussian process with a Matern 5/2 kernel and one length scale per
  dimension) and `rf` (a random forest, the surrogate form of SMAC) model the
  values seen so far and take the unasked material of highest expected improvement:
  the acquisition is scored over the finite pool, so it costs one prediction per
  material instead of an optimisation in the box.

The 2-D test functions of Fig. S8 keep continuous proposals: there `gp` is
scikit-optimize's `Optimizer` (the engine of `gp_minimize`).
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


@dataclass(frozen=True)
class SearchSettings:
    initial_points: int  # random materials (or proposals) before any model is fitted
    gp_points: int  # test functions: acquisition candidates scored per GP proposal
    gp_restarts: int  # test functions: L-BFGS restarts of the acquisition optimum
    tpe_candidates: int  # EI candidates drawn per TPE proposal
    forest_trees: int  # trees of the random-forest surrogate


class Strategy:
    """Proposes a point of the unit cube (`ask`), or chooses a pool material directly (`choose`)."""

    def ask(self) -> np.ndarray:
        raise NotImplementedError

    def choose(self, pool: Pool, rng: np.random.Generator) -> tuple[int, float]:
        """The next material (its index) and the distance from the proposal to it (NaN when none was made)."""
        proposal = self.ask()
        index = pool.nearest_unasked(proposal)
        return index, float(np.linalg.norm(pool.points[index] - proposal))

    def tell(self, point: np.ndarray, value: float) -> None:
        pass


class RandomBox(Strategy):
    def __init__(self, dim: int, seed: int, s: SearchSettings):
        self.dim, self.rng = dim, np.random.default_rng(seed)

    def ask(self) -> np.ndarray:
        return self.rng.random(self.dim)


class RandomChoice(Strategy):
    """No proposal: the pool hands out a random unasked material."""

    def __init__(self, dim: int, seed: int, s: SearchSettings):
        pass

    def choose(self, pool: Pool, rng: np.random.Generator) -> tuple[int, float]:
        return pool.random_unasked(rng), float("nan")


class BoxGaussianProcess(Strategy):
    """scikit-optimize's GP over the continuous box (the test functions)."""

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


def expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """E[max(best - f, 0)] for f ~ N(mean, sd^2), the improvement on the lowest value seen (sd 0: the plain improvement)."""
    from scipy.stats import norm

    gain = best - mean
    safe = np.maximum(sd, 1e-12)
    z = gain / safe
    return np.where(sd > 0, gain * norm.cdf(z) + safe * norm.pdf(z), np.maximum(gain, 0.0))


class PoolSurrogate(Strategy):
    """A model of the values seen; the next material is the unasked one of highest expected improvement (ties: lowest index)."""

    def __init__(self, dim: int, seed: int, s: SearchSettings):
        self.seed, self.s = seed, s
        self.X: list[np.ndarray] = []
        self.y: list[float] = []

    def predict(self, X: np.ndarray, y: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def choose(self, pool: Pool, rng: np.random.Generator) -> tuple[int, float]:
        if len(self.y) < 2:
            return pool.random_unasked(rng), float("nan")
        candidates = np.flatnonzero(~pool.asked)
        mean, sd = self.predict(np.asarray(self.X), np.asarray(self.y), pool.points[candidates])
        index = int(candidates[int(np.argmax(expected_improvement(mean, sd, min(self.y))))])
        pool.take(index)
        return index, float("nan")

    def tell(self, point: np.ndarray, value: float) -> None:
        self.X.append(np.asarray(point, dtype=float))
        self.y.append(float(value))


class PoolGaussianProcess(PoolSurrogate):
    """GP regression with a Matern 5/2 kernel, one length scale per dimension, and a noise term.

    The kernel's hyper-parameters are fitted by maximum likelihood while the run has
    seen few points and then every `REFIT_EVERY` evaluations; in between the last
    kernel is kept and only the posterior is updated, which is what keeps a proposal
    over the whole pool well under a second.
    """

    REFIT_EVERY = 10
    ALWAYS_REFIT_BELOW = 30

    def __init__(self, dim: int, seed: int, s: SearchSettings):
        super().__init__(dim, seed, s)
        self.kernel = None

    def predict(self, X, y, candidates):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        refit = self.kernel is None or len(y) < self.ALWAYS_REFIT_BELOW or len(y) % self.REFIT_EVERY == 0
        if refit:
            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.full(X.shape[1], 0.3), (1e-2, 1e3), nu=2.5) + WhiteKernel(1e-3, (1e-8, 1.0))
        else:
            kernel = self.kernel
        model = GaussianProcessRegressor(kernel, normalize_y=True, optimizer="fmin_l_bfgs_b" if refit else None, random_state=self.seed)
        with warnings.catch_warnings():
            # a length scale at its upper bound is a dimension the values do not depend on: expected, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        self.kernel = model.kernel_
        mean, sd = model.predict(candidates, return_std=True)
        # a material's value is looked up, not measured with noise: EI needs the spread of f, so the
        # fitted noise (in the normalised units of normalize_y) comes off the predictive variance
        noise = model.kernel_.k2.noise_level * (np.std(y) or 1.0) ** 2
        return mean, np.sqrt(np.maximum(sd**2 - noise, 0.0))


class PoolForest(PoolSurrogate):
    def predict(self, X, y, candidates):
        from sklearn.ensemble import RandomForestRegressor

        # SMAC's form: bootstrapped regression trees, the spread across them as the uncertainty. SMAC's
        # leaves of 3 points and 5/6 of the features per split missed the minimum of a smooth bowl
        # (tests), so the trees grow to single points on every feature, sklearn's defaults.
        model = RandomForestRegressor(self.s.forest_trees, random_state=self.seed, n_jobs=1).fit(X, y)
        per_tree = np.stack([tree.predict(candidates) for tree in model.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)


class TreeParzen(Strategy):
    """hyperopt's TPE asked one trial at a time (same proposals as `fmin` with the same seed).

    `space` is a hyperopt search space of named expressions; by default `dim`
    uniform coordinates of the unit cube, whose proposals come back as an array.
    A point told without a proposal before it (the run's shared opening) enters
    the history as if TPE had proposed it.
    """

    def __init__(self, dim: int, seed: int, s: SearchSettings, space: dict | None = None):
        from hyperopt import Trials, hp, tpe
        from hyperopt.base import Domain

        self.names = [f"x{i}" for i in range(dim)] if space is None else list(space)
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

        if self._doc is None:
            self.ask_vals()
        doc, self._doc = self._doc, None
        doc["misc"]["vals"] = {name: [v] for name, v in vals.items()}
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": float(value), "status": STATUS_OK}
        self.trials.insert_trial_docs([doc])
        self.trials.refresh()

    def tell(self, point: np.ndarray, value: float) -> None:
        self.tell_vals({name: float(v) for name, v in zip(self.names, np.clip(point, 0.0, 1.0), strict=True)}, value)


# In the race every strategy chooses pool materials; on the test functions they propose points.
RACE_STRATEGIES: dict[str, type[Strategy]] = {
    "tpe": TreeParzen,
    "gp": PoolGaussianProcess,
    "rf": PoolForest,
    "random_box": RandomBox,
    "random_choice": RandomChoice,
}
BOX_STRATEGIES: dict[str, type[Strategy]] = {"tpe": TreeParzen, "gp": BoxGaussianProcess, "random_box": RandomBox}
STRATEGIES = tuple(RACE_STRATEGIES)


def make_strategy(name: str, dim: int, seed: int, s: SearchSettings, known: dict[str, type[Strategy]] = RACE_STRATEGIES) -> Strategy:
    if name not in known:
        raise ValueError(f"unknown search strategy {name!r}; known: {', '.join(known)}")
    return known[name](dim, seed, s)


def project(latents: np.ndarray, dims: int | None) -> np.ndarray:
    """The search space: the first `dims` principal components of the standardised latents (all coordinates when None), scaled to [0, 1]."""
    x = np.asarray(latents, dtype=float)
    if dims is not None and dims < x.shape[1]:
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        # a component's sign is arbitrary; fix it so the space does not flip between platforms
        vt *= np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
        x = x @ vt[:dims].T
    low, high = x.min(axis=0), x.max(axis=0)
    return (x - low) / np.where(high > low, high - low, 1.0)


class Pool:
    """Materials that answer: their points in the search space, their values, and which this run has asked for."""

    def __init__(self, points: np.ndarray, values: np.ndarray):
        self.points = np.asarray(points, dtype=float)
        self.values = np.asarray(values, dtype=float)
        self.asked = np.zeros(len(points), dtype=bool)

    def take(self, index: int) -> int:
        if self.asked[index]:
            raise ValueError(f"material {index} of the pool was asked for twice in one run")
        self.asked[index] = True
        return index

    def nearest_unasked(self, proposal: np.ndarray) -> int:
        if self.asked.all():
            raise ValueError(f"every one of the pool's {len(self.asked)} materials has been asked for")
        distance = ((self.points - proposal) ** 2).sum(axis=1)
        distance[self.asked] = np.inf
        return self.take(int(np.argmin(distance)))

    def random_unasked(self, rng: np.random.Generator) -> int:
        return self.take(int(rng.choice(np.flatnonzero(~self.asked))))


def opening(pool_size: int, initial_points: int, evaluations: int, seed: int) -> np.ndarray:
    """The run's first materials, the same for every strategy of a seed."""
    return np.random.default_rng([seed, pool_size]).choice(pool_size, size=min(initial_points, evaluations, pool_size), replace=False)


def race(points: np.ndarray, values: np.ndarray, strategy: str, evaluations: int, seed: int, s: SearchSettings, what: str = "search") -> pd.DataFrame:
    """One run: `evaluations` materials asked for in turn. Rows: evaluation, index (into the pool), value, distance, seconds.

    `points` are already in the search space (`project`).
    """
    pool = Pool(points, values)
    if evaluations > len(values):
        raise ValueError(f"{evaluations} evaluations asked of a pool of {len(values)} materials")
    agent = make_strategy(strategy, points.shape[1], seed, s)
    first = opening(len(values), s.initial_points, evaluations, seed)
    rng = np.random.default_rng(seed)
    rows = []
    progress = Progress(what, evaluations, unit="evaluation")
    for evaluation in range(1, evaluations + 1):
        began = time.perf_counter()
        if evaluation <= len(first):
            index, distance = pool.take(int(first[evaluation - 1])), float("nan")
        else:
            index, distance = agent.choose(pool, rng)
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
    agent = make_strategy(strategy, 2, seed, s, BOX_STRATEGIES)
    rows = []
    for evaluation in range(1, evaluations + 1):
        began = time.perf_counter()
        point = agent.ask()
        value = float(function.f(low + width * point))
        agent.tell(point, value)
        rows.append({"evaluation": evaluation, "value": value, "regret": value - function.minimum, "seconds": time.perf_counter() - began})
    return pd.DataFrame(rows)
