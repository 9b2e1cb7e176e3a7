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

__all__ = ["method_label", "compare_methods", "quiver", "P1_BASELINES", "STRONG_BASELINES", "sae_gain", "verdict",
           "edge_share"]


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


#: P1's quiver of baselines, and the stronger one beside it (+ the z-scored LR with an interior C).
P1_BASELINES = ("lr", "pca", "knn", "xgb", "mlp")
STRONG_BASELINES = P1_BASELINES + ("lr_z",)


def sae_gain(df: pd.DataFrame, baselines: Sequence[str], *, seed: int = 42) -> dict:
    """Does adding SAE probes to a quiver of ``baselines`` help? Per dataset, test AUC is averaged over
    the regime's points first, then paired over datasets (:func:`saeprobe.core.stats.paired_test`).

    Returns ``{"base", "with_sae"}`` (the two quivers' rows, one per dataset and point), ``"test"``
    (the paired test, quiver + SAE minus quiver), ``"n_sae_chosen"`` and ``"n_cells"``.
    """
    present = [m for m in baselines if m in set(df["method"])]
    base = quiver(df, methods=present, include_sae=False)
    with_sae = quiver(df, methods=present, include_sae=True)
    keys = [c for c in ("dataset", "param") if c in base]
    m = base[keys + ["test_auc"]].merge(with_sae[keys + ["test_auc", "is_sae"]], on=keys, suffixes=("_base", "_sae"))
    per = m.groupby("dataset")[["test_auc_base", "test_auc_sae"]].mean()
    test = paired_test(per["test_auc_sae"].to_numpy(), per["test_auc_base"].to_numpy(), seed=seed)
    return {"base": base, "with_sae": with_sae, "test": test, "baselines": present,
            "n_sae_chosen": int(m["is_sae"].sum()), "n_cells": int(len(m))}


def verdict(test: dict, *, what: str = "adding SAE probes to the quiver") -> str:
    """One sentence chosen by where the paired difference's 95 % CI lies (never typed by hand)."""
    lo, hi, d = test["ci_lo"], test["ci_hi"], test["mean_diff"]
    ci = f"{d:+.3f}, 95 % CI [{lo:+.3f}, {hi:+.3f}], n = {test['n']}"
    if not np.isfinite(lo) or not np.isfinite(hi):
        return f"Too few datasets to say whether {what} helps ({ci})."
    if lo > 0:
        return f"{what[0].upper() + what[1:]} helps: the CI lies above 0 ({ci})."
    if hi < 0:
        return f"{what[0].upper() + what[1:]} hurts: the CI lies below 0 ({ci})."
    return f"{what[0].upper() + what[1:]} makes no detectable difference: the CI contains 0 ({ci})."


def edge_share(df: pd.DataFrame, methods: Sequence[str] = ("lr", "lr_z")) -> pd.DataFrame:
    """How often each method's chosen C sits at its grid's edge: ``method, n_cells, n_at_edge, share``."""
    rows = []
    for m in methods:
        g = df[df["method"] == m]
        if len(g) and "c_at_edge" in g:
            edge = g["c_at_edge"].map(lambda v: bool(v) if pd.notna(v) else False).astype(bool)  # NaN: no C chosen
            rows.append({"method": m, "n_cells": int(len(g)), "n_at_edge": int(edge.sum()), "share": float(edge.mean())})
    return pd.DataFrame(rows)
