"""Statistics for P1's headline comparisons (beyond the paper): bootstrap CIs over datasets,
paired Wilcoxon tests, and P1's "quiver of arrows" selector.

All functions take plain arrays or the tidy tables of :mod:`saeprobe.p1`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["CI", "bootstrap_ci", "paired_test", "compare_methods", "quiver", "method_label"]


@dataclass(frozen=True)
class CI:
    """Mean over datasets with a percentile-bootstrap interval."""

    mean: float
    lo: float
    hi: float
    n: int
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}] (n={self.n})"


def bootstrap_ci(values, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 42) -> CI:
    """Percentile bootstrap CI of the mean of ``values`` ([n_datasets]; NaNs dropped), resampling
    datasets with replacement (seeded). For paired differences pass ``a - b``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        raise ValueError("bootstrap_ci: no finite values (every dataset NaN or empty input).")
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
    from scipy.stats import wilcoxon

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


def method_label(row) -> str:
    """Readable method name of a results row: ``lr`` or ``sae:16k:k=16``."""
    if row["method"] == "sae":
        return f"sae:{row['sae']}:k={int(row['k'])}"
    return str(row["method"])


def compare_methods(df: pd.DataFrame, a: str, b: str, *, metric: str = "test_auc", by: Sequence[str] = ("param",),
                    seed: int = 42) -> pd.DataFrame:
    """Paired test of methods ``a`` vs ``b`` (labels from :func:`method_label`) over datasets, one
    row per value of ``by`` (e.g. each regime point). Columns as :func:`paired_test` plus means."""
    df = df.assign(label=df.apply(method_label, axis=1))
    by = [c for c in by if c in df]
    out = []
    groups = df.groupby(by, dropna=False) if by else [((), df)]
    for keys, g in groups:
        wide = g.pivot_table(index="dataset", columns="label", values=metric, aggfunc="first")
        if a not in wide or b not in wide:
            continue
        res = paired_test(wide[a].to_numpy(), wide[b].to_numpy(), seed=seed)
        keys = keys if isinstance(keys, tuple) else (keys,)
        out.append({**dict(zip(by, keys)), "a": a, "b": b, f"mean_{metric}_a": float(wide[a].mean()),
                    f"mean_{metric}_b": float(wide[b].mean()), **res})
    return pd.DataFrame(out)


def quiver(df: pd.DataFrame, methods: Sequence[str] | None = None, *, include_sae: bool = True,
           by: Sequence[str] = ("dataset", "param")) -> pd.DataFrame:
    """P1's quiver of arrows: per dataset (and regime point) pick the method with the best
    validation AUC and report its test metrics. Ties prefer an SAE probe (P1), then the first row.

    ``methods``: baseline method names allowed (default: every non-SAE method present);
    ``include_sae``: also allow SAE probes. Returns one row per group with the chosen row's columns
    plus ``chosen`` (its :func:`method_label`) and ``is_sae``.
    """
    base = df[df["method"] != "sae"] if methods is None else df[df["method"].isin(list(methods))]
    pool = pd.concat([base, df[df["method"] == "sae"]]) if include_sae else base
    if pool.empty:
        raise ValueError("quiver: no candidate rows (check `methods` against the table's method column).")
    pool = pool.assign(chosen=pool.apply(method_label, axis=1), is_sae=pool["method"] == "sae")
    pool = pool.assign(_val=pool["val_auc"].fillna(-np.inf))
    by = [c for c in by if c in pool]
    pool = pool.sort_values(by + ["_val", "is_sae"], ascending=[True] * len(by) + [False, False],
                            kind="stable", na_position="first")
    best = pool.groupby(by, dropna=False, sort=True).head(1)
    return best.drop(columns="_val").reset_index(drop=True)
