# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # P1, data scarcity: SAE probes against baselines as the training set shrinks
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
#
# :::
#
# :::{glue:figure} p1_regime_key
# :alt: Mean test AUC over datasets of P1's logistic regression, the z-scored one, the SAE probe named in the claim, the strong quiver and the quiver with SAE probes, along this regime's parameter (a bar per method for the OOD regime).
#
# The regime in one picture: mean test AUC over datasets of the strong quiver, the quiver with SAE probes, both logistic regressions and one SAE probe (at the claim's k where it ran here; the legend names it), along the regime's parameter (for OOD, one bar each).
# :::
# ::::

# %% [markdown]
# P1 (Kantamneni et al. 2025) asks whether SAE probes help where baselines should struggle. Means over
# datasets, Gemma-2-9B layer 20 (the paper's numbers):
#
# * **scarcity** (few training rows): LR 0.836, SAE 16k k=128 0.813 (mean over sizes);
# * **imbalance** (positive fraction 5-95 %, train and test): LR 0.929, SAE 0.911;
# * **label noise** (a fraction of training labels flipped): LR 0.941 / 0.905 / 0.757 / 0.498 at
#   0 / 0.2 / 0.4 / 0.5, SAE k=16 0.904 / 0.891 / 0.803 / 0.498;
# * **OOD** (train in distribution, test on the shifted file): LR 0.827, SAE k=128 0.723.
#
# P1's finding: no regime where SAE probes consistently win. This notebook runs one regime (the
# `regime` parameter) with P1's splits, estimators and quiver on the profile's model and SAEs.
# Numbers in the text are glued from the results table.
#
# The imbalance, label-noise and OOD pages are this notebook run with `regime` set to
# `imbalance`, `label_noise` or `ood` (`notebooks/variants.yaml`; by hand:
# `python -m saeprobe.book run --only 13_label_noise`, or papermill with `-p regime label_noise`).

# %% tags=["parameters"]
profile = "cpu"
regime = "scarcity"

# %% tags=["hide-input"]
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.ticker import FuncFormatter
from myst_nb import glue

from saeprobe import load_profile, show
from saeprobe.core import claims, stats
from saeprobe.core.cache import results_dir
from saeprobe.p1 import features as F
from saeprobe.p1 import quiver as Q
from saeprobe.p1 import runner

prof = load_profile(profile)
show.setup(prof)
names = list(prof.ood_datasets) if regime == "ood" else prof.dataset_names()
out_dir = results_dir(prof, "p1")
AXIS = {"scarcity": "training rows", "imbalance": "positive fraction", "label_noise": "flipped fraction"}
axis_name = AXIS.get(regime, "parameter")
print(f"profile {prof.name}, regime {regime}: {len(names)} datasets")

# %% tags=["hide-input"]
features = F.load_features(prof, names, ood=regime == "ood")
splits = F.regime_splits(prof, regime, features)
usable, skipped = F.usable_datasets(names, splits)  # e.g. imbalance needs ~200 balanced rows
if skipped:
    display(show.table(pd.DataFrame(skipped, columns=["dataset skipped", "reason"])))

# %% tags=["hide-input"]
if not usable:
    display(Markdown(f"**No dataset of profile `{prof.name}` is large enough for the {regime} regime** "
                     "(see the reasons above); nothing to report."))
    glue(f"p1_{regime}_delta", float("nan"), display=False)
    glue(f"p1_{regime}_lr_auc", float("nan"), display=False)
else:
    specs = runner.specs_from_profile(prof, regime, saes=list(features.saes))
    res = runner.run_regime(regime, usable, specs, splits=splits, features=features, out_dir=out_dir,
                            n_jobs=prof.p1.n_jobs, progress=False)
    res["label"] = res.apply(Q.method_label, axis=1)
    print(f"{len(res)} cells, {res.attrs['n_computed']} computed in this run")

# %% [markdown]
# ## Mean test AUC against the regime parameter
#
# Mean test AUC over datasets of every method and of the quivers, at each point of the regime (one
# column per method, one row per point); the figure below draws the same table.

# %%
if usable:
    strong = Q.sae_gain(res, Q.STRONG_BASELINES, seed=prof.seed)  # the verdict's reference
    p1g = Q.sae_gain(res, Q.P1_BASELINES, seed=prof.seed)  # P1's own quiver (the replication)
    q_base = strong["base"].assign(label="quiver (strong baselines)")
    q_sae = strong["with_sae"].assign(label="quiver + SAE")
    shown = pd.concat([res[res.method.isin(["lr", "lr_z"]) | (res.method == "sae")],
                       p1g["base"].assign(label="quiver (P1's baselines)"), q_base, q_sae], ignore_index=True)
    curve = shown.groupby(["label", "param"], dropna=False)["test_auc"].mean().unstack(0)
    display(show.table(curve.rename(columns=show.method_label).rename_axis(index=axis_name), keep_index=True))


# %% tags=["hide-input"]
def _is_quiver(label):
    return str(label).startswith("quiver")


def _draw(ax, cols):
    """One line per column of ``curve`` (a bar per column for OOD), in the book's colours."""
    if regime == "ood" or curve.index.isna().all():
        vals = curve[cols].iloc[0] if len(curve) == 1 else curve[cols].mean()
        ax.barh(range(len(cols)), vals.values, color=[show.color(c) for c in cols])
        ax.set_yticks(range(len(cols)), [textwrap.fill(show.method_label(c), 18) for c in cols], fontsize=8)
        ax.set_xlim(max(0.0, float(vals.min()) - 0.1), 1.0)
        ax.set_xlabel("mean test ROC-AUC")
        ax.grid(axis="y", visible=False)
        return
    for col in cols:
        ax.plot(curve.index, curve[col], marker="o" if not _is_quiver(col) else "s",
                ls="--" if _is_quiver(col) else "-", label=show.method_label(col), color=show.color(col))
    ax.set_xlabel(axis_name)
    if regime == "scarcity":
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    if len(curve.index) <= 6:  # few points: a tick at each
        ax.set_xticks(list(curve.index), [f"{x:g}" for x in curve.index])
    ax.set_ylabel("mean test ROC-AUC")


def _draw_sizes(ax):
    """No dataset fits the regime: each dataset's rows per class (what the split rule ran out of)."""
    ys = [np.bincount(np.asarray(features.labels[n]), minlength=2)[:2] for n in names]
    pos = np.arange(len(names))
    for c, off in ((0, -0.2), (1, 0.2)):
        ax.barh(pos + off, [y[c] for y in ys], height=0.4, color=show.PALETTE[c], label=f"class {c}")
    ax.set_yticks(pos, [textwrap.fill(n, 18) for n in names], fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title(f"too few rows for the {regime.replace('_', ' ')} regime", fontsize=9)
    ax.legend(fontsize=7)


fig, ax = plt.subplots(figsize=(6.4, 3.8))
if usable:
    _draw(ax, list(curve.columns))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7.5)
else:
    _draw_sizes(ax)
fig.tight_layout()
show.figure(fig, "p1_regime_curve")

# %% [markdown]
# :::{glue:figure} p1_regime_curve
# :alt: Mean test ROC-AUC over datasets of every method and quiver along this regime's parameter; for the OOD regime, one horizontal bar per method.
#
# Every method and quiver of this regime, mean test AUC over datasets; the dashed lines are the quivers.
# An SAE probe helps where its line rises above the logistic regressions. (Where no dataset of the
# profile is large enough for the regime, the figure shows each dataset's rows per class instead.)
# :::

# %% [markdown]
# ## Does adding SAE probes to the quiver help?
#
# Paired over datasets, at each point of the regime: quiver + SAE minus the strong quiver, with its 95 %
# bootstrap CI, the Wilcoxon p-value and how often an SAE probe is picked. The second table counts the
# logistic regressions' choices of C at their grid's edge.

# %%
if usable:
    both = q_base[["dataset", "param", "test_auc"]].merge(
        q_sae[["dataset", "param", "test_auc", "is_sae"]], on=["dataset", "param"], suffixes=("_base", "_sae"))
    rows = []
    for param, g in both.groupby("param", dropna=False):
        t = stats.paired_test(g["test_auc_sae"], g["test_auc_base"], seed=prof.seed)
        rows.append({"param": param, "n_datasets": t["n"], "delta": t["mean_diff"], "ci_lo": t["ci_lo"],
                     "ci_hi": t["ci_hi"], "p_wilcoxon": t["p_wilcoxon"], "sae_chosen": int(g["is_sae"].sum())})
    delta = pd.DataFrame(rows)
    display(show.table(delta, digits=4, rename={"param": axis_name, "delta [95 % CI]": "quiver + SAE − quiver [95 % CI]",
                                                "sae_chosen": "SAE chosen"}))
    overall = strong["test"]  # per dataset averaged over the regime's points, then paired over datasets

# %% tags=["hide-input"]
if usable:
    glue(f"p1_{regime}_delta", overall["mean_diff"], display=False)
    glue(f"p1_{regime}_delta_p1_quiver", p1g["test"]["mean_diff"], display=False)
    glue(f"p1_{regime}_lr_auc", float(res[res.method == "lr"]["test_auc"].mean()), display=False)
    if "lr_z" in set(res.method):
        glue(f"p1_{regime}_lrz_auc", float(res[res.method == "lr_z"]["test_auc"].mean()), display=False)
    edges = Q.edge_share(res)
    display(show.table(edges, rename={"n_cells": "cells", "n_at_edge": "C at grid edge", "share": "share at edge"}))
    display(Markdown(
        f"**Verdict (against the strong quiver, over all {regime} points):** {Q.verdict(overall)} "
        f"An SAE probe is picked in {strong['n_sae_chosen']} of {strong['n_cells']} (dataset, point) cells. "
        f"Against P1's own baselines the difference is {p1g['test']['mean_diff']:+.3f} (95 % CI "
        f"[{p1g['test']['ci_lo']:+.3f}, {p1g['test']['ci_hi']:+.3f}]): the stronger baseline moves it by "
        f"{overall['mean_diff'] - p1g['test']['mean_diff']:+.3f}."))

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*,
# under Getting started); the verdict is computed from our CI by the rule named in each line. They are
# the box at the top of the page.

# %% tags=["hide-input"]
PAGE = {"scarcity": "11_scarcity", "imbalance": "12_imbalance", "label_noise": "13_label_noise", "ood": "14_ood"}[regime]
# P1's means (Gemma-2-9B L20): SAE probe minus LR; label noise at flipped fraction 0.4 (SAE k=16 0.803, LR 0.757)
P1_SAE_MINUS_LR = {"scarcity": (128, 0.813 - 0.836, None), "imbalance": (128, 0.911 - 0.929, None),
                   "label_noise": (16, 0.803 - 0.757, 0.4), "ood": (128, 0.723 - 0.827, None)}[regime]
k_claim, paper_d, at = P1_SAE_MINUS_LR
t_q = t_s = float("nan")
labs = []
if usable:
    t_q = strong["test"]
    cells = res if at is None else res[np.isclose(res["param"].astype(float), at)]
    labs = sorted(lab for lab in set(cells.label) if lab.startswith("sae:") and lab.endswith(f":k={k_claim}"))
    if labs and len(cells):
        per_lr = cells[cells.method == "lr"].groupby("dataset")["test_auc"].mean()
        per_sae = cells[cells.label == labs[0]].groupby("dataset")["test_auc"].mean().reindex(per_lr.index)
        t_s = stats.paired_test(per_sae.to_numpy(), per_lr.to_numpy(), seed=prof.seed)
where = "" if at is None else f" at flipped fraction {at}"
recorded = [
    claims.record_claim(prof, f"p1-{regime.replace('_', '-')}-quiver", paper="P1", page=PAGE,
                        rule=claims.no_gain(0.01) if usable else claims.not_run(
                            "no dataset of this profile is large enough for this regime"),
                        claim=f"Under {regime.replace('_', ' ')}, adding SAE probes to the quiver of baselines does not "
                              "raise mean test AUC (ours against the strong quiver).", paper_value=None, ours=t_q),
    claims.record_claim(prof, f"p1-{regime.replace('_', '-')}-sae-vs-lr", paper="P1", page=PAGE,
                        rule=claims.direction(1 if paper_d > 0 else -1) if isinstance(t_s, dict) else claims.not_run(
                            f"this profile has no SAE probe with k = {k_claim}{where} in this regime" if usable
                            else "no dataset of this profile is large enough for this regime"),
                        claim=f"Under {regime.replace('_', ' ')}{where}, the SAE probe (k = {k_claim}) scores "
                              f"{'above' if paper_d > 0 else 'below'} logistic regression (SAE minus LR test AUC).",
                        paper_value=round(paper_d, 3), ours=t_s)]
display(Markdown("\n\n".join(claims.claim_markdown(r) for r in recorded)))

# %% tags=["hide-input"]
# the key figure (in the box at the top): the quivers, both LRs and the claim's SAE probe (any SAE probe at k if
# the claim's k did not run here)
lines = usable and not (regime == "ood" or curve.index.isna().all())  # a line plot (with a legend below it)
fig, ax = plt.subplots(figsize=(3.0, 3.3) if lines else (3.0, 2.2))
findings = []
if usable:
    sae_labs = sorted(c for c in curve.columns if str(c).startswith("sae:"))
    key_sae = labs[:1] or [c for c in sae_labs if c.endswith(f":k={k_claim}")][:1] or sae_labs[:1]
    key_cols = [c for c in ("lr", "lr_z", *key_sae, "quiver (strong baselines)", "quiver + SAE") if c in curve.columns]
    _draw(ax, key_cols)
    if lines:
        fig.legend(*ax.get_legend_handles_labels(), loc="lower left", bbox_to_anchor=(0.02, 0.0), fontsize=7)
    findings.append(f"An SAE probe is picked in {strong['n_sae_chosen']} of {strong['n_cells']} (dataset, point) "
                    f"cells by the quiver with SAE probes; against P1's own baselines quiver + SAE − quiver is "
                    f"{p1g['test']['mean_diff']:+.3f} [{p1g['test']['ci_lo']:+.3f}, {p1g['test']['ci_hi']:+.3f}].")
else:
    _draw_sizes(ax)
fig.tight_layout(rect=(0, 0.29, 1, 1) if lines else None)
show.figure(fig, "p1_regime_key")
show.verdict_box(recorded, findings=findings)

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: where on this regime's axis do SAE probes stand a chance?
# :label: ex-11_scarcity-predict
# Before reading the curves: at which end of this regime's axis (few or many training rows; a rare or a balanced positive class; few or many flipped labels; in or out of distribution) would you expect SAE probes to come closest to the baselines, and why?
# :::
#
# :::{solution} ex-11_scarcity-predict
# :class: dropdown
# Where the baselines' advantage — fitting a dense direction to many clean examples — shrinks: very few rows (a sparse probe has fewer parameters), many flipped labels (P1 sees SAE probes degrade more gracefully at 0.4) or a shifted test set (if the latent names the concept rather than the surface form). P1 finds none where SAE probes *consistently* win; compare the claims above and the table of paired differences.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: the number of latents k
# :label: ex-11_scarcity-change-k
# The SAE probe keeps the top-k latents. Print the mean test AUC of the SAE probes for each k this regime ran with, next to logistic regression. Does a larger k close the gap?
# :::
#
# :::{solution-start} ex-11_scarcity-change-k
# :class: dropdown
# :::
#
# A larger k usually helps (more of the concept's latents are kept), but with few training rows more latents also mean more to fit; the printout shows which effect wins on this profile.

# %% tags=["solution"]
if usable:
    by_k = res[res.method == "sae"].groupby("k")["test_auc"].mean().round(3)
    print("SAE probe, mean test AUC by k:", by_k.to_dict())
    print("LR:", round(float(res[res.method == "lr"]["test_auc"].mean()), 3))
else:
    print("no dataset of this profile is large enough for this regime")

# %% [markdown]
# :::{solution-end}
# :::
