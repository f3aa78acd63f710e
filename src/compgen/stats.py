"""Paired comparisons over seeds, shared by the studies that claim one method beats another.

A claim of "better" is a paired test over seeds that share everything but the
method (data split, initial points), with the number of seeds a difference of the
observed size would need for 80% power beside it.
"""

from __future__ import annotations

import numpy as np


def seeds_for_power(effect: float, alpha: float = 0.05, power: float = 0.8, most: int = 10_000) -> int | None:
    """Fewest paired seeds at which a two-sided paired t-test finds a standardised effect (mean / sd of the differences) with `power`."""
    from scipy import stats

    if not np.isfinite(effect) or effect == 0:
        return None
    for n in range(2, most + 1):
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        reached = stats.nct.sf(critical, n - 1, abs(effect) * np.sqrt(n)) + stats.nct.cdf(-critical, n - 1, abs(effect) * np.sqrt(n))
        if reached >= power:
            return n
    return None


def paired_difference(diff) -> dict:
    """Per-seed differences of two methods: their mean, range, paired t and Wilcoxon signed-rank p (two-sided), seeds for 80% power.

    Every seed the same non-zero difference has no t statistic; its Wilcoxon p is
    the exact one of n equal signs, 2 / 2^n. `signed_rank_balance` (W+ - W-, the
    signed ranks of the non-zero differences summed) says which way the Wilcoxon
    test leans; a skewed difference can lean one way while its mean leans the other.
    """
    from scipy import stats

    diff = np.asarray(diff, dtype=float)
    diff = diff[np.isfinite(diff)]
    n = len(diff)
    sd = diff.std(ddof=1) if n > 1 else np.nan
    if n < 2:
        p_t = p_w = np.nan
    elif sd == 0:
        p_t = np.nan
        p_w = 1.0 if diff.mean() == 0 else 2.0 / 2**n
    else:
        p_t = float(stats.ttest_1samp(diff, 0.0).pvalue)
        p_w = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    effect = diff.mean() / sd if sd and np.isfinite(sd) else np.inf if n > 1 and diff.mean() != 0 else np.nan
    nonzero = diff[diff != 0]
    balance = float((np.sign(nonzero) * stats.rankdata(np.abs(nonzero))).sum()) if len(nonzero) else 0.0
    return {
        "n_seeds": n,
        "mean_difference": diff.mean() if n else np.nan,
        "min_difference": diff.min() if n else np.nan,
        "max_difference": diff.max() if n else np.nan,
        "p_paired_t": p_t,
        "p_wilcoxon": p_w,
        "signed_rank_balance": balance,
        "effect_size": effect,
        "seeds_for_80pct_power": seeds_for_power(effect) if np.isfinite(effect) else (2 if effect == np.inf else None),
    }


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN): reject where adjusted p < alpha."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out
