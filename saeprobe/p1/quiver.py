"""P1's "quiver of arrows" and method comparisons over the tidy results tables of
:mod:`saeprobe.p1.runner` (Kantamneni et al. 2025).

:func:`quiver` picks, per dataset (and regime point), the method with the best validation AUC; ties
prefer an SAE probe, as P1's code does. :func:`compare_methods` runs :func:`saeprobe.core.stats.paired_test`
between two methods over datasets.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from saeprobe.core.stats import paired_test

__all__ = ["method_label", "compare_methods", "quiver"]


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
