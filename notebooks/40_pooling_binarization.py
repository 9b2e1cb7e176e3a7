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
# # Pooling and binarization of SAE features (MOSAIC)
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} p3_40_key
# :name: fig-40-key
# :alt: Mean test macro F1 over datasets with 95 % CIs for MOSAIC's binarised counts, summed SAE activations, the last-token and mean hidden-state probes and TF-IDF at the main layer, with the paper's 0.802 as a dashed line.
#
# MOSAIC's configuration against summed activations and the baselines at the main layer (C chosen on validation); the dashed line is the paper's number, on another model and other datasets.
# :::
# ::::

# %% [markdown]
# **MOSAIC's claim** (Gallifant, Chen et al. 2025, P3). A text is classified from the latents of a
# sparse autoencoder pooled over its tokens: per token keep the top-$n$ latents
# ($n \in \{\text{all}, 20, 50\}$), **count** them over the tokens, optionally **binarize**
# ($X > 1$), and fit a logistic regression; the metric is macro F1. Their best configuration —
# *binarized, all latents, counted over tokens*, at the middle layer (layer 12 of Gemma-2-2B, 16k
# Gemma Scope SAE) — reached a macro F1 of **0.802 ± 0.143** over their datasets, and they chose it
# **by test-set F1** (see notebook 43).
#
# **Here**: our model (Gemma 3 270M, offline) and our own SAEs (`saeprobe.saes`), MOSAIC's pooled
# forms (count and summed activations with per-token top-$n$, plus max-, mean-pooled latents and the
# last token's code) × binarization (raw, $>0$, $>1$) × the profile's early / middle / late layers,
# on the profile's multiclass and binary P1 datasets (80/20 stratified split, seed 42). C of the
# logistic regression is chosen on a validation split of the training part (not on the test set),
# and every number below is a mean over datasets with a 95 % bootstrap CI (datasets resampled).

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, saes, show
from saeprobe.core import claims
from saeprobe.p3 import (MOSAIC_PAPER, datasets, grid_configs, mosaic_config_label, paired_ci, run, select, setup,
                         summarize, summary_row)

T0 = time.perf_counter()
S = setup(profile, widths="main")
prof, s = S.profile, S.settings
show.setup(prof)
names = datasets(prof)
print(f"profile {prof.name}: {len(names)} datasets, layers {list(s.layers)}, max_rows {prof.max_rows}, "
      f"max_len {prof.max_len}; C grid {list(s.C_grid)}")
for note in S.notes:
    display(Markdown(f"**Note.** {note}"))
display(show.table(S.table.drop(columns=["spec"]).rename(columns={"name": "sae"}), caption="The SAEs of this page")
        if S.has_saes else Markdown("*(no SAEs)*"))
glue("p3_40_n_datasets", len(names), display=False)
glue("p3_40_n_multiclass", sum(k == "multiclass" for _, k in names), display=False)
glue("p3_40_n_binary", sum(k == "binary" for _, k in names), display=False)

# %% [markdown]
# **The SAEs these verdicts rest on** (measured as in the SAE chapter: CE loss recovered on held-out text,
# 95 % CI over texts; the book's bar for them is 0.70):

# %% tags=["hide-input"]
p3_saes = {name: sae for by_name in (S.saes_by_hook or {}).values() for name, sae in by_name.items()}
# the base profile: P3's row cap must not change the SAE corpus the quality is measured on
quality_sentence, _ = saes.page_quality(load_profile(profile), p3_saes, model=S.model, what="this page's verdicts")
display(Markdown(quality_sentence))

# %% [markdown]
# ## The grid
#
# One forward pass per dataset feeds every layer, SAE and pooled form (`p3.sae_features`, cached
# on disk); the hidden-state baselines (last token, mean over non-BOS tokens; standardized) come from
# the activation cache, TF-IDF uses the paper's settings. Per (dataset, configuration) every C of the
# grid is fitted; the table keeps validation and test macro F1 of each C.

# %%
configs = grid_configs(prof, S.table, which="pooling")
df = run(prof, configs, names=names, saes_by_hook=S.saes_by_hook, model=S.model, progress=False)
sel = select(df, "val")  # C chosen on validation
print(f"{len(configs)} configurations x {len(names)} datasets x {len(s.C_grid)} C = {len(df)} fits (x2)")
display(show.table(sel.groupby("kind")["dataset"].nunique().rename("datasets").reset_index()))

# %% [markdown]
# ## Pooling × binarization × layer
#
# Mean test macro F1 over datasets (C selected on validation). Rows: pooled form; columns: layer and
# binarization ({numref}`fig-40-pooling` draws the same numbers).

# %%
sae = sel[sel.features == "sae"].copy()
if not sae.empty:
    sae["form"] = sae.apply(lambda r: f"{r.pooling} {'all' if not r.top_n else 'top' + str(int(r.top_n))}", axis=1)
    sae["bin"] = sae["binarize"].map(lambda b: "raw" if pd.isna(b) else f">{b:g}")
    pivot = sae.pivot_table(index="form", columns=["layer", "bin"], values="test_f1", aggfunc="mean")
    display(show.table(pivot.set_axis([f"L{int(lay)} {b}" for lay, b in pivot.columns], axis=1),
                       caption="Mean test macro F1 by pooled form (rows), layer and binarization (columns)"))
else:
    display(Markdown("No SAE features in this profile; see the baselines below."))

# %% tags=["hide-input"]
if not sae.empty:
    fig, axes = plt.subplots(1, len(s.layers), figsize=(4.2 * len(s.layers), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, layer in zip(axes, s.layers):
        sub = sae[sae.layer == layer].pivot_table(index="form", columns="bin", values="test_f1", aggfunc="mean")
        sub.plot.barh(ax=ax, width=0.8)
        ax.set_title(f"layer {layer}")
        ax.set_xlabel("mean test macro F1")
        ax.set_xlim(max(0.0, np.nanmin(sub.values) - 0.1), 1.0)
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[-1].legend(*axes[0].get_legend_handles_labels(), title="binarize", loc="center left",
                    bbox_to_anchor=(1.0, 0.5))
    plt.tight_layout()
    show.figure(fig, "p3_40_pooling")
else:  # a profile without SAEs: the hidden-state probes by layer (the caption's key is always glued)
    hb = sel[sel.features == "hidden"].pivot_table(index="layer", columns="config", values="test_f1", aggfunc="mean")
    fig, ax = plt.subplots()
    hb.plot.bar(ax=ax, color=show.color("hidden"), legend=False)
    ax.set_ylabel("mean test macro F1")
    show.figure(fig, "p3_40_pooling")

# %% [markdown]
# :::{glue:figure} p3_40_pooling
# :name: fig-40-pooling
# :alt: One panel per layer; horizontal bars give the mean test macro F1 of each pooled form (count or sum, all latents or per-token top-n, max, mean, last) for raw, >0 and >1 binarization.
#
# Mean test macro F1 over datasets of every pooled SAE form, by layer (panels) and binarization (colours). Compare the bars within a form: binarization's effect; compare panels: the layer's. (A profile without SAEs draws its hidden-state probes by layer here.)
# :::

# %% [markdown]
# ## Baselines and the distribution over datasets
#
# The fifteen best configurations (mean test macro F1 over datasets, 95 % CI), then, in
# {numref}`fig-40-box`, each configuration's spread across datasets: MOSAIC's best form (count, all
# latents, $>1$) and summed activations at every layer, the hidden-state probes and TF-IDF.

# %%
summ = summarize(sel, by=("config",), n_boot=s.n_boot)
summ = summ.sort_values("mean", ascending=False).reset_index(drop=True)
display(show.table(summ.head(15), rename={"mean [95 % CI]": "mean test macro F1 [95 % CI]", "sd": "SD over datasets",
                                          "n": "datasets"}))

# %% tags=["hide-input"]
main = S.main_layer
keep = [c.label for c in configs if c.kind != "sae" or (c.top_n == 0 and (
    (c.pooling == "count" and c.binarize == 1.0) or (c.pooling == "sum" and c.binarize is None)))]
box = sel[sel.config.isin(keep)]
order = box.groupby("config")["test_f1"].mean().sort_values().index
fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1))
ax.boxplot([box[box.config == c]["test_f1"] for c in order], orientation="horizontal", tick_labels=list(order))
ax.set_xlabel("test macro F1 (one point per dataset)")
plt.tight_layout()
show.figure(fig, "p3_40_box")

# %% [markdown]
# :::{glue:figure} p3_40_box
# :name: fig-40-box
# :alt: Horizontal box plots of test macro F1 across datasets for MOSAIC's binarised counts and summed activations at every layer, the hidden-state probes and TF-IDF, sorted by their mean.
#
# Test macro F1 across datasets, one box per configuration, sorted by the mean. A wide box means the configuration's rank depends on the dataset.
# :::

# %% [markdown]
# ## MOSAIC's claim checked
#
# The numbers of the box at the top: MOSAIC's configuration at the main layer, the hidden-state probes
# (MOSAIC's C grid and a wide one) and TF-IDF ({numref}`fig-40-key` at the top of the page), then the
# paired difference that decides the second claim.

# %% tags=["hide-input"]
best_lbl = mosaic_config_label(configs, main) or "none"
r = summary_row(summ, config=best_lbl)
glue("p3_40_mosaic_cfg_f1", float(r["mean"]), display=False)
glue("p3_40_mosaic_cfg_lo", float(r["lo"]), display=False)
glue("p3_40_mosaic_cfg_hi", float(r["hi"]), display=False)
glue("p3_40_main_layer", int(main), display=False)
hid = summary_row(summ, config=f"hidden last L{main}")
glue("p3_40_hidden_last_f1", float(hid["mean"]), display=False)
glue("p3_40_hidden_last_lo", float(hid["lo"]), display=False)
glue("p3_40_hidden_last_hi", float(hid["hi"]), display=False)
tf = summary_row(summ, config="TF-IDF")
glue("p3_40_tfidf_f1", float(tf["mean"]), display=False)
glue("p3_40_tfidf_lo", float(tf["lo"]), display=False)
glue("p3_40_tfidf_hi", float(tf["hi"]), display=False)
hidw = summary_row(summ, config=f"hidden last L{main} wide-C")
glue("p3_40_hidden_wide_f1", float(hidw["mean"]), display=False)
glue("p3_40_hidden_wide_lo", float(hidw["lo"]), display=False)
glue("p3_40_hidden_wide_hi", float(hidw["hi"]), display=False)
hid_sel = sel[sel.features == "hidden"]
edge = hid_sel.groupby(hid_sel.config.str.endswith("wide-C"))["c_at_edge"].mean()
glue("p3_40_hidden_edge_share", float(edge.get(False, float("nan"))), display=False)
glue("p3_40_hidden_wide_edge_share", float(edge.get(True, float("nan"))), display=False)
mos = sel[sel.config == best_lbl].set_index("dataset")["test_f1"]
strong = sel[sel.config == f"hidden last L{main} wide-C"].set_index("dataset")["test_f1"]
ci_vs = paired_ci(mos, strong, n_boot=s.n_boot) if len(mos) and len(strong) else None
glue("p3_40_mosaic_minus_hidden_wide", ci_vs.mean if ci_vs else float("nan"), display=False)
glue("p3_40_mosaic_minus_hidden_wide_lo", ci_vs.lo if ci_vs else float("nan"), display=False)
glue("p3_40_mosaic_minus_hidden_wide_hi", ci_vs.hi if ci_vs else float("nan"), display=False)
if ci_vs is not None and np.isfinite(ci_vs.lo):
    word = ("beats" if ci_vs.lo > 0 else "trails" if ci_vs.hi < 0 else "is not distinguishable from")
    display(Markdown(f"**Verdict (against the full-strength hidden-state baseline):** MOSAIC's configuration {word} "
                     f"the last-token hidden state with a wide C grid: {ci_vs.mean:+.3f} macro F1 "
                     f"[{ci_vs.lo:+.3f}, {ci_vs.hi:+.3f}], paired over {ci_vs.n} datasets. The hidden-state "
                     f"baseline's C sits at its grid's edge on {edge.get(False, float('nan')):.0%} of (dataset, "
                     f"layer) fits with MOSAIC's grid and {edge.get(True, float('nan')):.0%} with the wide one."))
glue("p3_40_paper_f1", MOSAIC_PAPER["best_macro_f1"], display=False)
glue("p3_40_paper_sd", MOSAIC_PAPER["best_macro_f1_sd"], display=False)

sae_summ = summ[summ.config.isin(set(sae.config) if not sae.empty else set())]
top = sae_summ.iloc[0] if len(sae_summ) else pd.Series({"config": "none", "mean": np.nan})
glue("p3_40_best_sae_cfg", str(top["config"]), display=False)
glue("p3_40_best_sae_f1", float(top["mean"]), display=False)
rank = int((sae_summ["mean"] > r["mean"]).sum() + 1) if len(sae_summ) and np.isfinite(r["mean"]) else 0
glue("p3_40_mosaic_rank", rank, display=False)
glue("p3_40_n_sae_cfgs", int(len(sae_summ)), display=False)

# binarized (>1) minus raw counts, paired per dataset and layer (all latents)
ci_bin = ci_sum = None
if not sae.empty:
    cnt = sae[(sae.pooling == "count") & (sae.top_n == 0)]
    wide = cnt.pivot_table(index=["dataset", "layer"], columns="bin", values="test_f1")
    if {">1", "raw"} <= set(wide.columns):
        ci_bin = paired_ci(wide[">1"], wide["raw"], n_boot=s.n_boot)
    dsum = sae[(sae.pooling == "sum") & (sae.top_n == 0) & (sae.bin == "raw")].set_index(["dataset", "layer"])["test_f1"]
    dcount = cnt[cnt.bin == ">1"].set_index(["dataset", "layer"])["test_f1"]
    ci_sum = paired_ci(dcount, dsum, n_boot=s.n_boot)
for key, ci in (("p3_40_bin_minus_raw", ci_bin), ("p3_40_count_bin_minus_sum", ci_sum)):
    glue(key, ci.mean if ci else float("nan"), display=False)
    glue(key + "_lo", ci.lo if ci else float("nan"), display=False)
    glue(key + "_hi", ci.hi if ci else float("nan"), display=False)

# the key figure: the claims' numbers at the main layer, with the paper's as a line
key_rows = [(best_lbl, "sae"), (f"SAE sum all L{main} w{int(S.table.width.iloc[0])}" if S.has_saes else "", "sae"),
            (f"hidden last L{main}", "hidden"), (f"hidden last L{main} wide-C", "hidden"),
            (f"hidden mean L{main}", "hidden"), ("TF-IDF", "tfidf")]
kk = summ.set_index("config")
key_rows = [(c, f) for c, f in key_rows if c in kk.index]
fig, ax = plt.subplots(figsize=(4.4, 3.6))  # sits in half of the box
sae_color = show.color(S.table["name"].iloc[0]) if S.has_saes else show.color("sae")
for i, (c, f) in enumerate(key_rows):
    m, lo_, hi_ = kk.loc[c, "mean"], kk.loc[c, "lo"], kk.loc[c, "hi"]
    col = {"sae": sae_color, "hidden": show.color("hidden"), "tfidf": show.color("tfidf")}[f]
    ax.errorbar(m, i, xerr=[[m - lo_], [hi_ - m]], fmt="o", color=col, capsize=3)
ax.axvline(MOSAIC_PAPER["best_macro_f1"], color="grey", ls="--", lw=1, label="MOSAIC, paper (Gemma-2-2B)")
ax.set_yticks(range(len(key_rows)), [c for c, _ in key_rows])
ax.invert_yaxis()
ax.set_xlabel("mean test macro F1 over datasets (95 % CI)")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0))
plt.tight_layout()
show.figure(fig, "p3_40_key")
glue("p3_40_seconds", time.perf_counter() - T0, display=False)

# %% [markdown]
# | | macro F1 (mean over datasets, 95 % CI) |
# |---|---|
# | MOSAIC, paper (Gemma-2-2B, test-selected) | {glue:text}`p3_40_paper_f1:.3f` ± {glue:text}`p3_40_paper_sd:.3f` (SD) |
# | ours: count, all latents, $>1$, layer {glue:text}`p3_40_main_layer` | {glue:text}`p3_40_mosaic_cfg_f1:.3f` [{glue:text}`p3_40_mosaic_cfg_lo:.3f`, {glue:text}`p3_40_mosaic_cfg_hi:.3f`] |
# | ours: hidden state, last token, same layer (MOSAIC's C grid) | {glue:text}`p3_40_hidden_last_f1:.3f` [{glue:text}`p3_40_hidden_last_lo:.3f`, {glue:text}`p3_40_hidden_last_hi:.3f`] |
# | ours: hidden state, last token, same layer (wide C grid: full strength) | {glue:text}`p3_40_hidden_wide_f1:.3f` [{glue:text}`p3_40_hidden_wide_lo:.3f`, {glue:text}`p3_40_hidden_wide_hi:.3f`] |
# | ours: TF-IDF | {glue:text}`p3_40_tfidf_f1:.3f` [{glue:text}`p3_40_tfidf_lo:.3f`, {glue:text}`p3_40_tfidf_hi:.3f`] |
#
# Over {glue:text}`p3_40_n_datasets` datasets ({glue:text}`p3_40_n_multiclass` multiclass,
# {glue:text}`p3_40_n_binary` binary), MOSAIC's configuration ranks {glue:text}`p3_40_mosaic_rank` of
# {glue:text}`p3_40_n_sae_cfgs` SAE configurations; the best SAE configuration here is
# *{glue:text}`p3_40_best_sae_cfg`* ({glue:text}`p3_40_best_sae_f1:.3f`). Binarizing the counts
# ($>1$ vs raw, all latents, paired over datasets and layers) changes macro F1 by
# {glue:text}`p3_40_bin_minus_raw:+.3f` [{glue:text}`p3_40_bin_minus_raw_lo:+.3f`,
# {glue:text}`p3_40_bin_minus_raw_hi:+.3f`]; binarized counts minus raw summed activations:
# {glue:text}`p3_40_count_bin_minus_sum:+.3f` [{glue:text}`p3_40_count_bin_minus_sum_lo:+.3f`,
# {glue:text}`p3_40_count_bin_minus_sum_hi:+.3f`]. A CI that covers 0 means the data here do not
# separate the two; the paper's absolute number is on another model, other SAEs and other datasets,
# so only the *ordering* of configurations is comparable. (This page took
# {glue:text}`p3_40_seconds:.0f` s.)

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under Getting started); the verdict is computed from our CI by the rule named in each line.

# %% tags=["hide-input"]
recorded = [
    claims.record_claim(prof, "p3-best-config-f1", paper="P3", page="40_pooling_binarization", rule=claims.close_to(0.05),
                        claim="MOSAIC's best configuration (binarised counts of all latents, middle layer) reaches the "
                              "paper's mean macro F1 over datasets.", paper_value=MOSAIC_PAPER["best_macro_f1"],
                        ours=float(r["mean"]), ci_lo=float(r["lo"]), ci_hi=float(r["hi"])),
    claims.record_claim(prof, "p3-sae-vs-hidden", paper="P3", page="40_pooling_binarization", rule=claims.no_gain(0.01),
                        claim="The last-token hidden state (full-strength C grid) does not beat MOSAIC's SAE "
                              "configuration (hidden minus SAE macro F1).", paper_value=None,
                        ours=-ci_vs.mean if ci_vs else None, ci_lo=-ci_vs.hi if ci_vs else None,
                        ci_hi=-ci_vs.lo if ci_vs else None)]
display(Markdown("\n\n".join(claims.claim_markdown(x) for x in recorded)))
findings = []
if ci_bin is not None and np.isfinite(ci_bin.lo):
    findings.append(f"Binarising the counts (>1 vs raw, all latents) changes macro F1 by {ci_bin.mean:+.3f} "
                    f"[{ci_bin.lo:+.3f}, {ci_bin.hi:+.3f}], paired over datasets and layers.")
if rank:
    findings.append(f"MOSAIC's configuration ranks {rank} of {len(sae_summ)} SAE configurations here; the best is "
                    f"*{top['config']}* ({float(top['mean']):.3f}).")
show.verdict_box(recorded, findings=findings + [quality_sentence.replace("**", "")])

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: binarised counts or summed activations?
# :label: ex-40_pooling_binarization-predict
# MOSAIC counts, per latent, the tokens where it fires (binarised, `> 1`) instead of summing its activations. Predict which scores higher, and on which datasets the difference should be largest.
# :::
#
# :::{solution} ex-40_pooling_binarization-predict
# :class: dropdown
# Binarising throws away magnitudes but also the few huge activations that dominate a sum over a long text; it should help most on long, varied texts. MOSAIC reports binarised counts as best; this page's ranking puts MOSAIC's configuration at rank {glue:text}`p3_40_mosaic_rank` of {glue:text}`p3_40_n_sae_cfgs` SAE configurations.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: mean or median over datasets
# :label: ex-40_pooling_binarization-change
# The summary ranks configurations by the *mean* macro F1 over datasets. Rank them by the median instead. Does the top change?
# :::
#
# :::{solution-start} ex-40_pooling_binarization-change
# :class: dropdown
# :::
#
# A configuration that fails badly on one dataset loses rank under the mean but not under the median; if the top changes, the mean's winner owes its place to a few datasets.

# %% tags=["solution"]
rank_by = sel.groupby("config")["test_f1"].agg(["mean", "median"])
print(rank_by.sort_values("median", ascending=False).head(5).round(3))

# %% [markdown]
# :::{solution-end}
# :::
