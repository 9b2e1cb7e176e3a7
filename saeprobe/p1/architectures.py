"""P1's SAE-architecture comparison (Kantamneni et al. 2025): SAE architectures ranked by how often
an SAE probe beats the baselines (notebook 19).

* :func:`architecture_specs` -- the SAEs of ``p1.architectures`` (seed 0, main layer), trained on the
  main SAEs' corpus and recipe (:func:`saeprobe.saes.specs.entry_spec`); one that equals an SAE of
  ``sae.saes`` is that cached SAE;
* :func:`win_rates` -- per dataset, a win (SAE probe test AUC above the baseline's by more than the
  margin, P1: 0.005), a loss (below by more) or a tie; the three rates with bootstrap CIs over datasets;
* :func:`arch_verdict` -- the sentence the page prints, chosen from the CIs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from saeprobe.core.stats import bootstrap_ci
from saeprobe.saes.specs import SAESpec, entry_spec, sae_specs

__all__ = ["ARCH_LABELS", "architecture_specs", "listed", "win_rates", "arch_verdict"]

#: Readable names of the canonical architectures.
ARCH_LABELS = {"topk": "TopK", "standard": "ReLU + L1", "jumprelu": "JumpReLU", "batchtopk": "BatchTopK",
               "matryoshka": "Matryoshka BatchTopK"}


def architecture_specs(profile: Any) -> list[SAESpec]:
    """The SAEs of ``p1.architectures.saes`` in order (seed 0, main layer); one per architecture."""
    cfg = profile.p1.architectures
    specs = [entry_spec(profile, e, base=cfg.entry, seed=0) for e in cfg.saes]
    archs = [s.arch for s in specs]
    dup = sorted({a for a in archs if archs.count(a) > 1})
    if dup:
        raise ValueError(f"profile {profile.name!r} p1.architectures lists {dup} more than once: one SAE per architecture")
    return specs


def listed(profile: Any, spec: SAESpec) -> bool:
    """Whether ``spec`` is one of the profile's ``sae.saes`` SAEs (then it is the same cached SAE)."""
    return spec in set(sae_specs(profile))


def win_rates(sae_auc: pd.Series, base_auc: pd.Series, *, margin: float = 0.005, n_boot: int = 2000,
              seed: int = 42) -> dict:
    """Win / tie / loss rates of an SAE probe against a baseline over datasets (index-aligned Series of
    test AUCs; datasets missing from either are dropped).

    A win: ``sae > base + margin``; a loss: ``base > sae + margin``; else a tie. Returns ``win``,
    ``tie``, ``loss`` (fractions of datasets) each with ``_lo`` / ``_hi`` (95 % percentile bootstrap
    over datasets), ``n_win`` / ``n_tie`` / ``n_loss`` and ``n``.
    """
    j = pd.concat([sae_auc.rename("sae"), base_auc.rename("base")], axis=1).dropna()
    d = (j["sae"] - j["base"]).to_numpy(float)
    out: dict = {"n": int(len(d))}
    for name, hit in (("win", d > margin), ("tie", np.abs(d) <= margin), ("loss", d < -margin)):
        ci = bootstrap_ci(hit.astype(float), n_boot=n_boot, seed=seed, allow_empty=True)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = ci.mean, ci.lo, ci.hi
        out[f"n_{name}"] = int(hit.sum())
    return out


def arch_verdict(table: pd.DataFrame, *, k: int) -> str:
    """One sentence on the architectures at ``k`` from ``table`` (one row per architecture: ``label``,
    ``k``, ``win``, ``win_lo``, ``win_hi``, ``loss``, ``loss_lo``, ``loss_hi``, ``diff``, ``diff_lo``,
    ``diff_hi`` -- the paired mean AUC difference to the strong quiver): does any architecture beat the
    strong baselines more often than it loses, and do the architectures differ?"""
    t = table[table["k"] == k]
    if t.empty or t["n"].max() < 2:
        return f"Too few datasets at k = {k} to compare architectures."
    beats = t[t["win_lo"] > t["loss_hi"]]
    loses = t[t["loss_lo"] > t["win_hi"]]
    behind = t[t["diff_hi"] < 0]
    best, worst = t.loc[t["win"].idxmax()], t.loc[t["win"].idxmin()]
    parts = []
    if len(beats):
        parts.append(f"{', '.join(beats['label'])} beat{'s' if len(beats) == 1 else ''} the strong baselines more often "
                     "than {} lose{} to them (the win-rate CI lies above the loss-rate CI)".format(
                         "it" if len(beats) == 1 else "they", "s" if len(beats) == 1 else ""))
    else:
        parts.append("no architecture beats the strong baselines more often than it loses to them")
    parts.append(f"{len(loses)} of {len(t)} lose more often than they win (CIs apart) and {len(behind)} of {len(t)} "
                 "have a mean AUC below the strong quiver's (paired CI below 0)")
    overlap = best["win_lo"] <= worst["win_hi"]
    if best["win"] == worst["win"]:
        parts.append(f"every architecture wins on {best['win']:.0%} of the datasets, so the win rate does not separate them")
    else:
        parts.append(f"the win rates run from {worst['win']:.0%} ({worst['label']}) to {best['win']:.0%} ({best['label']}), "
                     + ("and their CIs overlap, so these datasets do not separate the architectures" if overlap else
                        "and the two CIs do not overlap: the architecture matters here"))
    s = "; ".join(parts)
    return f"At k = {k}: {s[0].upper() + s[1:]}."
