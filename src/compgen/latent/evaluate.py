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


def first_hit(hits: np.ndarray) -> float:
    """1-based evaluation of the first True, NaN when there is none."""
    found = np.flatnonzero(hits)
    return float(found[0] + 1) if len(found) else float("nan")


def race_summary(runs: pd.DataFrame, pool_values: np.ndarray, top_fraction: float, top_n: int, success_percentiles: list[float]) -> pd.DataFrame:
    """One row per (target, strategy): how fast and how often each strategy finds good materials.

    `runs`: target, strategy, seed, evaluation (1-based), value (lower is better).
    `pool_values`: target -> the values of every material of its pool.
    Evaluations-to-hit are means over the runs that hit (their count beside).
    A run succeeds at percentile p when its best value is at or below the
    p-th percentile of its pool (the form of CDVAE's SR5 / SR10 / SR15).
    """
    rows = []
    for (target, strategy), group in runs.groupby(["target", "strategy"], sort=False):
        pool = np.sort(np.asarray(pool_values[target], dtype=float))
        top_value = pool[max(int(np.ceil(top_fraction * len(pool))), 1) - 1]
        top_n_value = pool[min(top_n, len(pool)) - 1]
        hits_top, hits_top_n, n_top_n_found, best = [], [], [], []
        for _, run in group.groupby("seed"):
            values = run.sort_values("evaluation")["value"].to_numpy()
            hits_top.append(first_hit(values <= top_value))
            hits_top_n.append(first_hit(values <= top_n_value))
            n_top_n_found.append(int((values <= top_n_value).sum()))
            best.append(values.min())
        best = np.asarray(best)
        row = {
            "target": target,
            "strategy": strategy,
            "runs": len(best),
            "evaluations": int(group["evaluation"].max()),
            "pool": len(pool),
            "best_mean": float(best.mean()),
            "best_se": float(best.std(ddof=1) / np.sqrt(len(best))) if len(best) > 1 else float("nan"),
            "runs_reaching_top": int(np.isfinite(hits_top).sum()),
            "evaluations_to_top_mean": float(np.nanmean(hits_top)) if np.isfinite(hits_top).any() else float("nan"),
            "runs_reaching_top_n": int(np.isfinite(hits_top_n).sum()),
            "evaluations_to_top_n_mean": float(np.nanmean(hits_top_n)) if np.isfinite(hits_top_n).any() else float("nan"),
            "top_n_found_mean": float(np.mean(n_top_n_found)),
        }
        for p in success_percentiles:
            row[f"sr{p:g}"] = float((best <= np.percentile(pool, p)).mean())
        rows.append(row)
    return pd.DataFrame(rows)
