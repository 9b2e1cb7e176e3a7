"""P3's selection rules and summaries over datasets.

* :func:`select` -- per (dataset, configuration), the C chosen on validation (ours) or on the test
  split (MOSAIC's way); :func:`best_config` -- per dataset, the single best (configuration, C).
* :func:`summarize` -- mean over datasets with a bootstrap 95 % CI per group; :func:`optimism` --
  test-selected minus validation-selected (notebook 43).
* Small helpers the pages share: :func:`summary_row` (one row of a summary, NaN when absent),
  :func:`mean_ci` (CI of values, NaN when empty) and :func:`paired_ci` (CI of paired differences).

Every CI is ``saeprobe.core.stats.bootstrap_ci`` resampling datasets (seed 42).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from saeprobe.core.stats import CI, bootstrap_ci

KEYS = ["dataset", "config"]


def select(df: pd.DataFrame, by: str = "val") -> pd.DataFrame:
    """One row per (dataset, config): the C chosen by ``by`` (``"val"``: best validation macro F1,
    ties -> smaller C; ``"test"``: best test macro F1, the paper's way). ``c_at_edge``: the chosen C
    is the largest or smallest of that configuration's grid."""
    col = {"val": "val_f1", "test": "test_f1"}[by]
    d = df.copy()
    g = d.groupby(KEYS, sort=False)["C"]
    d["_cmin"], d["_cmax"] = g.transform("min"), g.transform("max")
    d["_score"] = d[col].fillna(-1.0)
    d = d.sort_values(KEYS + ["_score", "C"], ascending=[True, True, False, True])
    out = d.groupby(KEYS, sort=False).head(1)
    out = out.assign(c_at_edge=(g.transform("nunique").loc[out.index] > 2) & ((out.C == out._cmin) | (out.C == out._cmax)))
    return out.drop(columns=["_score", "_cmin", "_cmax"]).reset_index(drop=True)


def best_config(df: pd.DataFrame, by: str = "val", *, among: pd.Series | None = None) -> pd.DataFrame:
    """Per dataset, the single best configuration (and C) chosen by ``by`` over every config and C.

    ``"test"`` is MOSAIC's procedure (max test F1 over the whole grid); ``"val"`` picks by validation
    F1 and reports that configuration's test F1.
    """
    d = df if among is None else df[among]
    col = {"val": "val_f1", "test": "test_f1"}[by]
    d = d.assign(_score=d[col].fillna(-1.0)).sort_values(["dataset", "_score"], ascending=[True, False])
    return d.groupby("dataset", sort=False).head(1).drop(columns="_score").reset_index(drop=True)


def summarize(sel: pd.DataFrame, by: Sequence[str] = ("config",), *, metric: str = "test_f1",
              n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Mean ``metric`` over datasets with a bootstrap 95 % CI (resampling datasets), per group."""

    rows = []
    for key, g in sel.groupby(list(by), dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        vals = g[metric].to_numpy(dtype=float)
        ci = bootstrap_ci(vals, n_boot=n_boot, seed=seed) if np.isfinite(vals).any() else None
        rows.append({**dict(zip(by, key)), "mean": ci.mean if ci else np.nan, "lo": ci.lo if ci else np.nan,
                     "hi": ci.hi if ci else np.nan, "sd": float(np.nanstd(vals)), "n": int(np.isfinite(vals).sum())})
    return pd.DataFrame(rows)


def optimism(df: pd.DataFrame, *, n_boot: int = 2000, seed: int = 42) -> dict:
    """Test-set selection vs validation selection, per dataset and overall.

    Returns ``{"per_dataset": DataFrame[dataset, test_selected, val_selected, optimism, config_test,
    config_val], "test_selected", "val_selected", "optimism": CI of the mean (difference)}``.
    """

    bt = best_config(df, "test").set_index("dataset")
    bv = best_config(df, "val").set_index("dataset")
    per = pd.DataFrame({"test_selected": bt["test_f1"], "val_selected": bv["test_f1"],
                        "config_test": bt["config"], "C_test": bt["C"], "config_val": bv["config"], "C_val": bv["C"]})
    per["optimism"] = per["test_selected"] - per["val_selected"]
    per = per.reset_index()
    return {"per_dataset": per,
            "test_selected": bootstrap_ci(per["test_selected"], n_boot=n_boot, seed=seed),
            "val_selected": bootstrap_ci(per["val_selected"], n_boot=n_boot, seed=seed),
            "optimism": bootstrap_ci(per["optimism"], n_boot=n_boot, seed=seed)}


# ----------------------------------------------------------------------------- helpers of the pages
def summary_row(summ: pd.DataFrame, **match) -> pd.Series:
    """The first row of ``summ`` (a :func:`summarize` table) whose columns equal ``match``; a row of
    NaN ``mean`` / ``lo`` / ``hi`` (``n`` 0) when none does."""
    m = np.ones(len(summ), bool)
    for k, v in match.items():
        m &= (summ[k] == v).to_numpy()
    return summ[m].iloc[0] if m.any() else pd.Series({"mean": np.nan, "lo": np.nan, "hi": np.nan, "n": 0})


def mean_ci(values, *, n_boot: int = 2000, seed: int = 42) -> CI:
    """Bootstrap CI of the mean of ``values`` over datasets; all NaN when there are none."""
    return bootstrap_ci(np.asarray(values, dtype=float), n_boot=n_boot, seed=seed, allow_empty=True)


def paired_ci(a: pd.Series, b: pd.Series, *, n_boot: int = 2000, seed: int = 42) -> CI | None:
    """CI of the mean paired difference ``a - b`` (aligned on the index; unpaired rows dropped);
    None when no pair is left."""
    d = (a - b).dropna()
    return bootstrap_ci(d.to_numpy(), n_boot=n_boot, seed=seed) if len(d) else None
