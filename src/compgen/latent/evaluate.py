"""Pure scores of the latent study: reconstructions, property models, and the search race."""

from __future__ import annotations

import numpy as np
import pandas as pd

from compgen.latent.data import element_sets


def composition_reconstruction(true: np.ndarray, decoded: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of rows whose decoded element set (fractions above `threshold`) equals the true one, and mean L1 error."""
    same = [a == b for a, b in zip(element_sets(true, 0.0), element_sets(decoded, threshold), strict=True)]
    return {"n": len(true), "element_set_match": float(np.mean(same)), "mean_l1": float(np.abs(true - decoded).sum(axis=1).mean())}


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity (0 where a row is all zeros)."""
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide((a * b).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)


def xrd_reconstruction(true: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    cos = cosine_similarity(true, decoded)
    return {"n": len(true), "cosine_mean": float(cos.mean()), "cosine_median": float(np.median(cos)), "cosine_p10": float(np.quantile(cos, 0.1))}


# --- property models -----------------------------------------------------------


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    residual = y - pred
    total = ((y - y.mean()) ** 2).sum()
    return {
        "r2": float(1 - (residual**2).sum() / total) if total > 0 else float("nan"),
        "mae": float(np.abs(residual).mean()),
        "rmse": float(np.sqrt((residual**2).mean())),
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative (ties count half)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_scores(y: np.ndarray, score: np.ndarray, cutoff: float = 0.5) -> dict[str, float]:
    y = np.asarray(y, dtype=bool)
    pred = score >= cutoff
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"roc_auc": roc_auc(y, score), "accuracy": float((pred == y).mean()), "f1": float(f1)}


# --- the search race -----------------------------------------------------------


def best_so_far(values: np.ndarray) -> np.ndarray:
    """Running minimum along the last axis."""
    return np.minimum.accumulate(values, axis=-1)


def top_set(pool_values: np.ndarray, top_fraction: float) -> tuple[float, int]:
    """The value a material must reach to be in the pool's top `top_fraction` (lowest values), and how many do (ties included)."""
    pool = np.sort(np.asarray(pool_values, dtype=float))
    threshold = pool[max(int(np.ceil(top_fraction * len(pool))), 1) - 1]
    return float(threshold), int((pool <= threshold).sum())


def chance_of_top(pool_size: int, top_size: int, evaluations) -> np.ndarray:
    """P(at least one of `top_size` marked materials among `evaluations` drawn without replacement from `pool_size`): 1 - C(N-K, n) / C(N, n)."""
    from scipy.stats import hypergeom

    return hypergeom.sf(0, pool_size, top_size, np.asarray(evaluations))


def chance_restricted_mean(pool_size: int, top_size: int, budget: int) -> float:
    """E[min(T, budget + 1)] for T the evaluation that first draws a marked material by chance: the censored mean a random run scores."""
    n = np.arange(0, budget + 1)
    return float((1.0 - chance_of_top(pool_size, top_size, n)).sum())


def chance_censored_distribution(pool_size: int, top_size: int, budget: int) -> np.ndarray:
    """P(min(T, budget + 1) = t) for t = 0..budget + 1 (entry 0 is 0), T the evaluation at which chance first draws a top material."""
    reached = chance_of_top(pool_size, top_size, np.arange(0, budget + 1))
    return np.concatenate([[0.0], np.diff(reached), [1.0 - reached[-1]]])


def p_fewer_than_chance(censored: np.ndarray, pool_size: int, top_size: int, budget: int) -> float:
    """Exact one-sided p that random runs reach the top set in as few evaluations as these runs did, on average.

    The statistic is the sum over runs of evaluations to the top set, censored at
    budget + 1; under chance each run's share is an independent draw from
    `chance_censored_distribution`, so the sum's law is that distribution
    convolved once per run, and p = P(sum <= observed sum).
    """
    one = chance_censored_distribution(pool_size, top_size, budget)
    law = np.array([1.0])
    for _ in range(len(censored)):
        law = np.convolve(law, one)
    observed = int(np.sum(censored))
    return float(min(1.0, law[: observed + 1].sum()))


def seeds_to_beat_chance(censored: np.ndarray, pool_size: int, top_size: int, budget: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Runs a one-sided test against chance needs, for this mean lead, at `power` (normal approximation; NaN without a lead)."""
    from scipy.stats import norm

    one = chance_censored_distribution(pool_size, top_size, budget)
    t = np.arange(len(one))
    mean = (t * one).sum()
    sd = np.sqrt(((t - mean) ** 2 * one).sum())
    lead = mean - float(np.mean(censored))
    if lead <= 0:
        return float("nan")
    return float(np.ceil(((norm.ppf(1 - alpha) + norm.ppf(power)) * sd / lead) ** 2))


def evaluations_to_hit(values: np.ndarray, threshold: float) -> tuple[int, bool]:
    """1-based evaluation at which a run first reaches `threshold`; (budget + 1, True) when it never does (censored)."""
    found = np.flatnonzero(np.asarray(values) <= threshold)
    return (int(found[0]) + 1, False) if len(found) else (len(values) + 1, True)


def race_runs(runs: pd.DataFrame, pool_values: dict, top_fraction: float, top_n: int) -> pd.DataFrame:
    """One row per run (target, strategy, seed): best value and its rank in the pool (1: the pool's best; ties share the
    better rank), evaluations to the top set (censored at budget + 1), and how many of the pool's `top_n` best it found.

    `runs`: target, strategy, seed, evaluation (1-based), value (lower is better).
    `pool_values`: target -> the values of every material of its pool.
    """
    rows = []
    for target, of_target in runs.groupby("target", sort=False):
        pool = np.sort(np.asarray(pool_values[target], dtype=float))
        threshold, _ = top_set(pool, top_fraction)
        top_n_value = pool[min(top_n, len(pool)) - 1]
        for (strategy, seed), run in of_target.groupby(["strategy", "seed"], sort=False):
            values = run.sort_values("evaluation")["value"].to_numpy()
            hit, censored = evaluations_to_hit(values, threshold)
            rows.append({"target": target, "strategy": strategy, "seed": seed, "evaluations": len(values), "best": values.min(),
                         "best_rank": int(np.searchsorted(pool, values.min(), side="left")) + 1, "evaluations_to_top": hit,
                         "censored": censored, "top_n_found": int((values <= top_n_value).sum())})  # fmt: skip
    return pd.DataFrame(rows)


def race_summary(per_run: pd.DataFrame, pool_values: dict, top_fraction: float, success_percentiles: list[float]) -> pd.DataFrame:
    """One row per (target, strategy) of `race_runs`' table: how fast and how often each strategy finds good materials, beside exact chance.

    `pool_values`: target -> the values of every material of its pool.
    Evaluations to the top set are censored at the budget + 1 for runs that never
    reach it; `evaluations_to_top_mean` is that restricted mean, and
    `chance_evaluations_to_top` the same for uniform random choice, computed exactly.
    `p_vs_chance` is the exact one-sided p of random runs doing as well on that mean
    (`p_fewer_than_chance`), Holm-adjusted over the strategies of a target other than
    random choice in `p_vs_chance_holm`; `seeds_to_beat_chance` is the runs a lead of
    this size needs for 80% power. A run succeeds at percentile p when its best value
    is at or below the p-th percentile of its pool (the form of CDVAE's SR5 / SR10 / SR15).
    """
    from compgen.stats import holm

    rows = []
    for (target, strategy), group in per_run.groupby(["target", "strategy"], sort=False):
        pool = np.sort(np.asarray(pool_values[target], dtype=float))
        _, top_size = top_set(pool, top_fraction)
        budget = int(group["evaluations"].max())
        reached = int((~group["censored"]).sum())
        p_chance = float(chance_of_top(len(pool), top_size, budget))
        censored = group["evaluations_to_top"].to_numpy()
        best = group["best"].to_numpy()
        row = {
            "target": target, "strategy": strategy, "runs": len(group), "evaluations": budget, "pool": len(pool), "top_set": top_size,
            "best_mean": float(best.mean()), "best_se": float(best.std(ddof=1) / np.sqrt(len(best))) if len(best) > 1 else float("nan"),
            "best_rank_median": float(group["best_rank"].median()),
            "runs_reaching_top": reached, "chance_runs_reaching_top": p_chance * len(group),
            "evaluations_to_top_mean": float(censored.mean()),
            "chance_evaluations_to_top": chance_restricted_mean(len(pool), top_size, budget),
            "p_vs_chance": p_fewer_than_chance(censored, len(pool), top_size, budget),
            "seeds_to_beat_chance": seeds_to_beat_chance(censored, len(pool), top_size, budget),
            "top_n_found_mean": float(group["top_n_found"].mean()),
        }  # fmt: skip
        for p in success_percentiles:
            row[f"sr{p:g}"] = float((best <= np.percentile(pool, p)).mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table["p_vs_chance_holm"] = np.nan
    for _, group in table.groupby("target", sort=False):
        tested = group.index[group["strategy"] != "random_choice"]
        table.loc[tested, "p_vs_chance_holm"] = holm(table.loc[tested, "p_vs_chance"].to_numpy())
    return table


def race_verdicts(per_run: pd.DataFrame) -> pd.DataFrame:
    """Every pair of strategies on every target, on the same seeds: who reaches the top set in fewer evaluations.

    The paired differences are of evaluations to the top set (censored runs count
    budget + 1, which can only understate a lead over a censored rival) and of the
    best rank found. Wilcoxon signed-rank p-values are Holm-adjusted over the pairs
    of a target and measure, and a significant verdict names the side the signed
    ranks favour; `seeds_for_80pct_power` is the paired-t estimate of the seeds a
    difference of this size needs. The means are over the paired seeds.
    """
    from compgen.stats import holm, paired_difference

    rows = []
    for target, group in per_run.groupby("target", sort=False):
        strategies = list(dict.fromkeys(group["strategy"]))
        for measure in ("evaluations_to_top", "best_rank"):
            wide = group.pivot(index="seed", columns="strategy", values=measure)
            family = []
            for i, first in enumerate(strategies):
                for second in strategies[i + 1 :]:
                    paired = wide[[first, second]].dropna()
                    test = paired_difference(paired[first] - paired[second])
                    family.append({"target": target, "measure": measure, "strategy": first, "against": second,
                                   "mean_first": float(paired[first].mean()), "mean_against": float(paired[second].mean()), **test})  # fmt: skip
            adjusted = holm([row["p_wilcoxon"] for row in family])
            for row, p in zip(family, adjusted, strict=True):
                row["p_holm"] = float(p)
                leader = row["strategy"] if row["signed_rank_balance"] < 0 else row["against"]
                row["verdict"] = f"{leader} better" if p < 0.05 else "tie"
            rows.extend(family)
    columns = ["target", "measure", "strategy", "against", "mean_first", "mean_against", "n_seeds", "mean_difference", "min_difference",
               "max_difference", "p_paired_t", "p_wilcoxon", "signed_rank_balance", "effect_size", "seeds_for_80pct_power", "p_holm", "verdict"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
