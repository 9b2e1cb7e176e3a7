"""P1's multi-token comparisons (Kantamneni et al. 2025) over the per-dataset results of
:func:`saeprobe.p1.multitoken.evaluate_dataset`: mean test AUC per method with bootstrap CIs over
datasets, P1's win rates (a margin of 0.005 AUC), the "quiver" of attention + last-token probes
chosen per dataset by validation AUC, and verdict sentences computed from paired CIs.

P1's two comparisons: the *illusion* -- SAE max-pooled probes against the last-token probe only
(multi-token SAE probes look useful) -- and the *fair* one -- against a quiver that also holds the
non-SAE multi-token probe (attention). Paper numbers are in :data:`P1_MULTI_TOKEN` (labelled as P1's).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from saeprobe.core.stats import bootstrap_ci, paired_test

__all__ = ["P1_MULTI_TOKEN", "P1_WIN_RATES", "P1_N_DATASETS", "QUIVER", "results_table", "wide", "add_quiver",
           "summary", "win_rates", "compare", "verdict", "paper_key"]

#: P1 (Gemma-2-9B layer 20, 46 datasets, 256-token contexts): mean test AUC per method -- the paper's.
#: SAE rows: 16k latents, L0 408 (``sae_max_l0_68``: the L0 68 SAE).
P1_MULTI_TOKEN = {"attention": 0.940, "last_token": 0.934, "sae_max": 0.924, "sae_max_bin": 0.908,
                  "sae_max_l0_68": 0.922, "sae_mean": 0.877, "concat_pca": 0.874, "sae_mean_bin": 0.68}
#: P1's win rates (margin 0.005): ``(a, b) -> (share a wins, share b wins)`` -- the paper's.
P1_WIN_RATES = {("attention", "sae_max"): (0.413, 0.130), ("last_token", "sae_max"): (0.391, 0.196),
                ("last_token", "sae_max_bin"): (0.609, 0.130)}
P1_N_DATASETS = 46
#: The fair comparison's non-SAE quiver: attention probe + both last-token LRs.
QUIVER = ("attention", "lr", "lr_z")


def paper_key(method: str) -> str | None:
    """The :data:`P1_MULTI_TOKEN` key of one of our methods (``sae_max:<sae>`` -> ``sae_max``;
    ``lr`` -> ``last_token``), None when P1 reports no such method."""
    base = method.split(":")[0]
    base = {"lr": "last_token"}.get(base, base)
    return base if base in P1_MULTI_TOKEN else None


def results_table(results: Sequence[dict]) -> pd.DataFrame:
    """Long table ``dataset, method, test_auc, val_auc`` from the per-dataset result dicts."""
    rows = [{"dataset": r["dataset"], "method": m, "test_auc": v["test_auc"], "val_auc": v.get("val_auc", np.nan)}
            for r in results for m, v in r["methods"].items()]
    return pd.DataFrame(rows, columns=["dataset", "method", "test_auc", "val_auc"])


def wide(df: pd.DataFrame, metric: str = "test_auc") -> pd.DataFrame:
    """``[dataset x method]`` of ``metric``."""
    return df.pivot_table(index="dataset", columns="method", values=metric, aggfunc="first")


def add_quiver(df: pd.DataFrame, members: Sequence[str] = QUIVER, name: str = "quiver") -> pd.DataFrame:
    """``df`` plus one ``name`` row per dataset: the member with the best validation AUC (ties: the
    first in ``members``), with its test AUC, and the chosen member in column ``chosen``."""
    pool = df[df["method"].isin(members)].copy()
    pool["_order"] = pool["method"].map({m: i for i, m in enumerate(members)})
    pool["_val"] = pool["val_auc"].fillna(-np.inf)
    best = pool.sort_values(["dataset", "_val", "_order"], ascending=[True, False, True]).groupby("dataset").head(1)
    best = best.assign(chosen=best["method"], method=name).drop(columns=["_order", "_val"])
    return pd.concat([df, best], ignore_index=True)


def summary(df: pd.DataFrame, methods: Sequence[str] | None = None, *, n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Mean test AUC over datasets per method with a 95 % bootstrap CI: ``method, mean, lo, hi, n, paper``."""
    w = wide(df)
    methods = list(methods or w.columns)
    rows = []
    for m in methods:
        ci = bootstrap_ci(w[m].to_numpy(), n_boot=n_boot, seed=seed, allow_empty=True)
        key = paper_key(m)
        rows.append({"method": m, "mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "n": ci.n,
                     "paper": P1_MULTI_TOKEN[key] if key else np.nan})
    return pd.DataFrame(rows)


def win_rates(a, b, margin: float = 0.005) -> dict:
    """P1's win rates of ``a`` vs ``b`` (``[n_datasets]`` each; NaN pairs dropped): ``a_wins`` where
    ``a > b + margin``, ``b_wins`` where ``b > a + margin``, the rest ``ties``; shares alongside."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    aw, bw = int((a > b + margin).sum()), int((b > a + margin).sum())
    return {"a_wins": aw, "b_wins": bw, "ties": n - aw - bw, "n": n,
            "a_share": aw / n if n else np.nan, "b_share": bw / n if n else np.nan}


def compare(df: pd.DataFrame, a: str, b: str, *, margin: float = 0.005, n_boot: int = 2000, seed: int = 42) -> dict:
    """Paired test (``saeprobe.core.stats.paired_test``: a - b over datasets) plus :func:`win_rates`."""
    w = wide(df)
    if a not in w or b not in w:
        raise KeyError(f"compare: methods {a!r} / {b!r} not both in the results ({sorted(w.columns)})")
    x, y = w[a].to_numpy(), w[b].to_numpy()
    out = {"a": a, "b": b, **paired_test(x, y, n_boot=n_boot, seed=seed)}
    wr = win_rates(x, y, margin)
    out.update({k: v for k, v in wr.items() if k != "n"})
    return out


def verdict(test: dict, a_label: str, b_label: str) -> str:
    """One sentence chosen by where the paired difference's 95 % CI lies (never typed by hand);
    labels are singular noun phrases (``"the attention probe"``)."""
    lo, hi, d, n = test["ci_lo"], test["ci_hi"], test["mean_diff"], test["n"]
    cap = a_label[:1].upper() + a_label[1:]
    ci = f"mean test-AUC difference {d:+.3f}, 95 % CI [{lo:+.3f}, {hi:+.3f}] over {n} datasets"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"Too few datasets to compare {a_label} with {b_label} ({ci})."
    if lo > 0:
        return f"{cap} beats {b_label}: {ci}, above 0."
    if hi < 0:
        return f"{cap} trails {b_label}: {ci}, below 0."
    return f"No detectable difference between {a_label} and {b_label}: {ci}, contains 0."
