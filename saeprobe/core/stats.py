"""Statistics shared by every paper's pages: the one percentile-bootstrap CI and the one paired test.

:func:`bootstrap_ci` resamples independent units (datasets, seed pairs) with replacement;
:func:`paired_test` compares two methods over the same units (bootstrap CI of the mean difference
and a Wilcoxon signed-rank p-value). Inputs are plain arrays ``[n_units]``; NaNs are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

__all__ = ["CI", "bootstrap_ci", "paired_test"]


@dataclass(frozen=True)
class CI:
    """Mean over units with a percentile-bootstrap interval (``lo``/``hi`` NaN with fewer than two
    units). Unpacks as ``mean, lo, hi = ci``."""

    mean: float
    lo: float
    hi: float
    n: int
    level: float = 0.95

    def __iter__(self):
        return iter((self.mean, self.lo, self.hi))

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}] (n={self.n})"


def bootstrap_ci(values, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 42,
                 allow_empty: bool = False) -> CI:
    """Percentile bootstrap CI of the mean of ``values`` ([n_units]; NaNs dropped), resampling units
    with replacement (seeded). For paired differences pass ``a - b``.

    One unit: the mean with a NaN interval (nothing to resample). No finite value: ``ValueError``,
    or with ``allow_empty`` a CI of NaNs and ``n == 0``. Units that are not independent (seed pairs
    sharing a seed) make the interval optimistic; say so where it is quoted.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        if allow_empty:
            return CI(float("nan"), float("nan"), float("nan"), 0, level)
        raise ValueError("bootstrap_ci: no finite values (every unit NaN or empty input).")
    if len(v) == 1:
        return CI(float(v[0]), float("nan"), float("nan"), 1, level)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return CI(float(v.mean()), float(lo), float(hi), int(len(v)), level)


def paired_test(a, b, *, n_boot: int = 10_000, seed: int = 42) -> dict:
    """Paired comparison of two methods over the same datasets (``a``, ``b``: [n_datasets]).

    Returns mean difference a-b with its bootstrap 95 % CI, the Wilcoxon signed-rank p-value
    (scipy, two-sided; NaN when every difference is 0 or n < 2), wins / losses / ties of a, and n.
    Pairs with a NaN on either side are dropped.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired_test: shapes differ ({a.shape} vs {b.shape}); pass one value per dataset each.")
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    ci = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    if len(d) >= 2 and np.any(d != 0):
        p = float(wilcoxon(a[ok], b[ok]).pvalue)
    else:
        p = float("nan")
    return dict(mean_diff=ci.mean, ci_lo=ci.lo, ci_hi=ci.hi, p_wilcoxon=p,
                wins=int((d > 0).sum()), losses=int((d < 0).sum()), ties=int((d == 0).sum()), n=int(len(d)))
