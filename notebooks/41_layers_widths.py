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
# # SAE features by layer and width, against hidden states and TF-IDF (MOSAIC)
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} p3_41_by_layer
# :name: fig-41-by-layer
# :alt: Mean test macro F1 against layer, with 95 % CIs, for SAE binarised counts and summed activations at each width and for the last-token and mean hidden-state probes; a grey band marks TF-IDF's CI.
#
# Macro F1 by layer: SAE feature forms per width (solid), hidden-state probes (dashed), TF-IDF's CI (grey band, no layer).
# :::
# ::::

# %% [markdown]
# **MOSAIC's claim** (P3). Pooled SAE features (binarized counts over tokens) classify texts about
# as well as, or better than, a probe on the model's last-token hidden state and clearly better than
# a TF-IDF bag of n-grams; middle layers work best (their best: layer 12 of Gemma-2-2B), and wider
# SAEs (16k → 65k on 2B; 16k → 131k → 1m on 9B) change the score little. Their best configuration
# reached macro F1 **0.802 ± 0.143** (selected on the test set).
#
# **Here**: every (layer, width) of the profile's own SAEs, two SAE feature forms — MOSAIC's
# *binarized counts* (all latents, $X > 1$) and *summed activations* (all latents, raw) — against the
# hidden-state probes (last token; mean over non-BOS tokens) at the same layer and TF-IDF with the
# paper's settings. C is chosen on a validation split of the training part; means over datasets with
# 95 % bootstrap CIs (datasets resampled).

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import show
from saeprobe.core import claims
from saeprobe.p3 import MOSAIC_PAPER, datasets, grid_configs, paired_ci, run, select, setup, summarize, summary_row

T0 = time.perf_counter()
S = setup(profile, widths="all")
prof, s = S.profile, S.settings
show.setup(prof)
names = datasets(prof)
for note in S.notes:
    display(Markdown(f"**Note.** {note}"))
widths = sorted(S.table.width.unique()) if S.has_saes else []
glue("p3_41_widths", ", ".join(str(int(w)) for w in widths) or "none", display=False)
glue("p3_41_n_widths", len(widths), display=False)
glue("p3_41_n_datasets", len(names), display=False)
display(show.table(S.table.drop(columns=["spec"]).rename(columns={"name": "sae", "main": "main width"}),
                   caption="The SAEs of this page") if S.has_saes else Markdown("*(no SAEs)*"))

# %% [markdown]
# The profile trains SAEs of width(s) {glue:text}`p3_41_widths` ({glue:text}`p3_41_n_widths` in all) at
# the layers listed above; a layer with one width only is said so in the notes.

# %%
configs = grid_configs(prof, S.table, which="widths")
df = run(prof, configs, names=names, saes_by_hook=S.saes_by_hook, model=S.model, progress=False)
sel = select(df, "val")
summ = summarize(sel, by=("config", "features", "layer", "width", "pooling", "binarize"), n_boot=s.n_boot)
display(show.table(summ.sort_values("mean", ascending=False)[["config", "mean", "lo", "hi", "sd", "n"]],
                   rename={"mean [95 % CI]": "mean test macro F1 [95 % CI]", "sd": "SD over datasets", "n": "datasets"}))

# %% [markdown]
# ## Macro F1 by layer
#
# {numref}`fig-41-by-layer` at the top of the page draws the table above against the layer: lines for
# the SAE feature forms per width (solid: binarized counts, dotted: summed activations; one colour and
# marker per width) and the hidden-state probes (dashed; squares: last token, triangles: mean); the
# grey band is TF-IDF's CI (it has no layer).

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(4.4, 4.4))  # sits in half of the box: narrower, legend below
marker = dict(zip(widths, "oDv^<>"))
name_of_width = dict(zip(S.table.width, S.table["name"])) if S.has_saes else {}
for (feat, w, pool, b), g in summ[summ.features != "tfidf"].groupby(["features", "width", "pooling", "binarize"],
                                                                      dropna=False):
    g = g.sort_values("layer")
    if feat == "sae":
        lab = f"SAE w{int(w)} {pool}" + ("" if pd.isna(b) else f" >{b:g}")
        style = ("-" if pool == "count" else ":") + marker.get(w, "o")
        col = show.color(name_of_width.get(w, f"SAE w{int(w)}"))
    else:
        lab, style, col = f"hidden {pool}", "--s" if pool == "last" else "--^", show.color("hidden")
    ax.errorbar(g.layer, g["mean"], yerr=[g["mean"] - g.lo, g.hi - g["mean"]], fmt=style, capsize=3, label=lab,
                color=col)
tf = summ[summ.features == "tfidf"]
if len(tf):
    ax.axhspan(float(tf.lo.iloc[0]), float(tf.hi.iloc[0]), color="grey", alpha=0.2, label="TF-IDF (CI)")
ax.set_xlabel("layer")
ax.set_ylabel("mean test macro F1")
ax.set_xticks(s.layers)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
plt.tight_layout()
show.figure(fig, "p3_41_by_layer")

# %% [markdown]
# ## Paired differences
#
# Per dataset, SAE (binarized counts) minus the last-token hidden-state probe at the same layer, and
# the widest minus the narrowest SAE at the same layer — means over datasets with bootstrap CIs.

# %%
rows = []
t = sel.set_index("dataset")
for layer in s.layers:
    hid = t[(t.features == "hidden") & (t.layer == layer) & (t.pooling == "last")]["test_f1"]
    for w in widths:
        sae = t[(t.features == "sae") & (t.layer == layer) & (t.width == w) & (t.pooling == "count")]["test_f1"]
        ci = paired_ci(sae, hid, n_boot=s.n_boot)
        if ci:
            rows.append({"comparison": f"SAE w{int(w)} count>1 − hidden last", "layer": layer,
                         "mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "n": ci.n})
    if len(widths) >= 2:
        wide = t[(t.features == "sae") & (t.layer == layer) & (t.width == widths[-1]) & (t.pooling == "count")]["test_f1"]
        narrow = t[(t.features == "sae") & (t.layer == layer) & (t.width == widths[0]) & (t.pooling == "count")]["test_f1"]
        ci = paired_ci(wide, narrow, n_boot=s.n_boot)
        if ci:
            rows.append({"comparison": f"w{int(widths[-1])} − w{int(widths[0])} (count>1)", "layer": layer,
                         "mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "n": ci.n})
pairs = pd.DataFrame(rows)
display(show.table(pairs, rename={"mean [95 % CI]": "mean difference [95 % CI]", "n": "datasets"}) if len(pairs)
        else Markdown("*(no SAE comparisons: the profile has no SAEs)*"))

# %% tags=["hide-input"]
main = S.main_layer
w0 = widths[0] if widths else -1
sae_main = summary_row(summ, features="sae", layer=main, width=w0, pooling="count")
hid_main = summary_row(summ, features="hidden", layer=main, pooling="last")
tf_r = summary_row(summ, features="tfidf")
for key, r in (("sae", sae_main), ("hidden", hid_main), ("tfidf", tf_r)):
    glue(f"p3_41_{key}_f1", float(r["mean"]), display=False)
    glue(f"p3_41_{key}_lo", float(r["lo"]), display=False)
    glue(f"p3_41_{key}_hi", float(r["hi"]), display=False)
glue("p3_41_main_layer", int(main), display=False)
glue("p3_41_w0", int(w0) if widths else "none", display=False)
sae_counts = summ[(summ.features == "sae") & (summ.pooling == "count")]
best_layer = int(sae_counts.sort_values("mean", ascending=False).layer.iloc[0]) if len(sae_counts) else -1
glue("p3_41_best_layer", best_layer, display=False)
pm = pairs[(pairs.layer == main) & pairs.comparison.str.contains("hidden")] if len(pairs) else pairs
r = pm.iloc[0] if len(pm) else pd.Series({"mean": np.nan, "lo": np.nan, "hi": np.nan})
glue("p3_41_sae_minus_hidden", float(r["mean"]), display=False)
glue("p3_41_sae_minus_hidden_lo", float(r["lo"]), display=False)
glue("p3_41_sae_minus_hidden_hi", float(r["hi"]), display=False)
pw = pairs[(pairs.layer == main) & ~pairs.comparison.str.contains("hidden")] if len(pairs) else pairs
r = pw.iloc[0] if len(pw) else pd.Series({"mean": np.nan, "lo": np.nan, "hi": np.nan})
glue("p3_41_width_diff", float(r["mean"]), display=False)
glue("p3_41_width_diff_lo", float(r["lo"]), display=False)
glue("p3_41_width_diff_hi", float(r["hi"]), display=False)
glue("p3_41_paper_f1", MOSAIC_PAPER["best_macro_f1"], display=False)
glue("p3_41_seconds", time.perf_counter() - T0, display=False)

# %% [markdown]
# ## MOSAIC's claim next to ours
#
# | | macro F1 (mean, 95 % CI) |
# |---|---|
# | MOSAIC, paper: best SAE configuration (Gemma-2-2B L12, 16k, test-selected) | {glue:text}`p3_41_paper_f1:.3f` |
# | ours: SAE w{glue:text}`p3_41_w0` binarized counts, layer {glue:text}`p3_41_main_layer` | {glue:text}`p3_41_sae_f1:.3f` [{glue:text}`p3_41_sae_lo:.3f`, {glue:text}`p3_41_sae_hi:.3f`] |
# | ours: hidden state (last token), layer {glue:text}`p3_41_main_layer` | {glue:text}`p3_41_hidden_f1:.3f` [{glue:text}`p3_41_hidden_lo:.3f`, {glue:text}`p3_41_hidden_hi:.3f`] |
# | ours: TF-IDF | {glue:text}`p3_41_tfidf_f1:.3f` [{glue:text}`p3_41_tfidf_lo:.3f`, {glue:text}`p3_41_tfidf_hi:.3f`] |
#
# Over {glue:text}`p3_41_n_datasets` datasets, SAE counts minus the hidden-state probe at layer
# {glue:text}`p3_41_main_layer`: {glue:text}`p3_41_sae_minus_hidden:+.3f`
# [{glue:text}`p3_41_sae_minus_hidden_lo:+.3f`, {glue:text}`p3_41_sae_minus_hidden_hi:+.3f`]; widest
# minus narrowest SAE at that layer: {glue:text}`p3_41_width_diff:+.3f`
# [{glue:text}`p3_41_width_diff_lo:+.3f`, {glue:text}`p3_41_width_diff_hi:+.3f`] (nan: one width only).
# The SAE counts score best at layer {glue:text}`p3_41_best_layer` (-1: no SAEs). (This page took
# {glue:text}`p3_41_seconds:.0f` s.)

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under Getting started); the verdict is computed from our CI by the rule named in each line.

# %% tags=["hide-input"]
row = claims.record_claim(
    prof, "p3-counts-vs-hidden-main-layer", paper="P3", page="41_layers_widths", rule=claims.no_gain(0.01),
    claim="At the main layer, the last-token hidden state does not beat the SAE's binarised counts (hidden minus "
          "SAE macro F1).", paper_value=None,
    ours=-float(pm.iloc[0]["mean"]) if len(pm) else None, ci_lo=-float(pm.iloc[0]["hi"]) if len(pm) else None,
    ci_hi=-float(pm.iloc[0]["lo"]) if len(pm) else None)
display(Markdown(claims.claim_markdown(row)))
findings = []
if len(pw) and np.isfinite(pw.iloc[0]["lo"]):
    findings.append(f"Widest minus narrowest SAE at layer {main}: {pw.iloc[0]['mean']:+.3f} "
                    f"[{pw.iloc[0]['lo']:+.3f}, {pw.iloc[0]['hi']:+.3f}] macro F1 (binarised counts).")
if best_layer >= 0:
    findings.append(f"The SAE counts score best at layer {best_layer} (layers {list(s.layers)}; MOSAIC's best: the "
                    "middle layer).")
show.verdict_box([row], findings=findings)

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: which layer?
# :label: ex-41_layers_widths-predict
# MOSAIC's best features come from a middle layer. Predict the best layer for SAE counts here, as a fraction of the model's depth.
# :::
#
# :::{solution} ex-41_layers_widths-predict
# :class: dropdown
# Middle layers hold the most abstract, linearly readable features; early layers are close to tokens and late ones to the next-token prediction. Here the best layer is {glue:text}`p3_41_best_layer`.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: pick the layer on validation
# :label: ex-41_layers_widths-change
# The best layer above is read off test F1. Pick it by validation F1 instead. Same layer?
# :::
#
# :::{solution-start} ex-41_layers_widths-change
# :class: dropdown
# :::
#
# If both agree, the layer choice is not a test-set artefact; if not, the difference is the optimism of picking on test (page 43 measures it for the whole grid).

# %% tags=["solution"]
by_layer = sel[sel.features == "sae"].groupby("layer")[["val_f1", "test_f1"]].mean()
if len(by_layer):
    print(by_layer.round(3))
    print("best by validation:", int(by_layer.val_f1.idxmax()), "- best by test:", int(by_layer.test_f1.idxmax()))

# %% [markdown]
# :::{solution-end}
# :::
