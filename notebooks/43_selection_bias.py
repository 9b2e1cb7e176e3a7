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
# # Selecting the configuration on the test set: how much optimism? (MOSAIC)
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} p3_43_scatter
# :name: fig-43-scatter
# :alt: Scatter plot, one point per dataset, of the test macro F1 of the validation-selected configuration (x) against that of the test-selected one (y), with the diagonal.
#
# Per dataset, the test F1 reported by picking on the test set (y) against the test F1 of the configuration picked on validation (x); points above the diagonal are the optimism.
# :::
# ::::

# %% [markdown]
# **MOSAIC's procedure** (P3). Many configurations (layer, SAE width, top-$n$, binarization, C of the
# logistic regression) are fitted, and the reported number per dataset is the **best test-set macro
# F1** over them — their best configuration reached **0.802 ± 0.143**. Picking the maximum of many
# noisy test scores is biased upwards (a winner's curse): the reported F1 overstates what the chosen
# configuration would score on new data.
#
# **Here**: the same grid as notebook 40 (every pooled form × binarization × layer, the hidden-state
# probes and TF-IDF, every C of the grid). For each dataset we pick the configuration (and C) two ways:
# by **test** macro F1 (MOSAIC's way) and by **validation** macro F1 (a split of the training part),
# and report the test F1 of each pick. Their difference is the optimism of test-set selection. Means
# over datasets with 95 % bootstrap CIs (datasets resampled).

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
from saeprobe.p3 import MOSAIC_PAPER, datasets, grid_configs, mosaic_config_label, optimism, run, setup

T0 = time.perf_counter()
S = setup(profile, widths="main")
prof, s = S.profile, S.settings
show.setup(prof)
names = datasets(prof)
for note in S.notes:
    display(Markdown(f"**Note.** {note}"))
configs = grid_configs(prof, S.table, which="pooling")  # notebook 40's grid: served from its cache
df = run(prof, configs, names=names, saes_by_hook=S.saes_by_hook, model=S.model, progress=False)
n_cand = df.groupby("dataset").size().median()
glue("p3_43_n_candidates", int(n_cand), display=False)
glue("p3_43_n_datasets", len(names), display=False)
print(f"{len(names)} datasets; {int(n_cand)} candidate (configuration, C) pairs per dataset")

# %% [markdown]
# ## Whole grid: test-selected vs validation-selected
#
# Per dataset, the test macro F1 of the configuration (and C) picked on the test set and of the one
# picked on validation, and their difference; {numref}`fig-43-scatter` at the top of the page plots
# the first two against each other.

# %%
opt = optimism(df, n_boot=s.n_boot)
per = opt["per_dataset"]
display(show.table(per[["dataset", "test_selected", "val_selected", "optimism", "config_test", "C_test", "config_val",
                        "C_val"]],
                   rename={"test_selected": "test F1, picked on test", "val_selected": "test F1, picked on validation",
                           "config_test": "picked on test", "C_test": "C (test pick)",
                           "config_val": "picked on validation", "C_val": "C (validation pick)"}))

# %% tags=["hide-input"]
for key in ("test_selected", "val_selected", "optimism"):
    ci = opt[key]
    glue(f"p3_43_{key}", ci.mean, display=False)
    glue(f"p3_43_{key}_lo", ci.lo, display=False)
    glue(f"p3_43_{key}_hi", ci.hi, display=False)
glue("p3_43_n_positive", int((per.optimism > 0).sum()), display=False)
glue("p3_43_same_pick", int((per.config_test == per.config_val).sum()), display=False)

fig, ax = plt.subplots(figsize=(4.2, 4.2))
ax.scatter(per.val_selected, per.test_selected)
lo = float(min(per.val_selected.min(), per.test_selected.min())) - 0.02
ax.plot([lo, 1], [lo, 1], color="grey", lw=0.8)
ax.set_xlabel("test macro F1 of the validation-selected configuration")
ax.set_ylabel("test macro F1 of the test-selected configuration")
ax.set_title("one point per dataset")
plt.tight_layout()
show.figure(fig, "p3_43_scatter")

# %% [markdown]
# ## Within SAE features only, and within one configuration (C only)
#
# The bias grows with the number of candidates: selecting among the SAE configurations only, and
# selecting only C for MOSAIC's fixed configuration (binarized counts, all latents, main layer).

# %%
main = S.main_layer
rows = []
subsets = {"whole grid": df, "SAE configurations only": df[df.features == "sae"],
           "hidden + TF-IDF baselines only": df[df.features != "sae"]}
fixed = mosaic_config_label(configs, main)
if fixed:
    subsets["MOSAIC's configuration, C only"] = df[df.config == fixed]
for name, sub in subsets.items():
    if sub.empty:
        continue
    o = optimism(sub, n_boot=s.n_boot)
    rows.append({"candidates": name, "per dataset": int(sub.groupby("dataset").size().median()),
                 "test-selected": o["test_selected"].mean, "val-selected": o["val_selected"].mean,
                 "optimism": o["optimism"].mean, "lo": o["optimism"].lo, "hi": o["optimism"].hi})
table = pd.DataFrame(rows)
display(show.table(table, rename={"per dataset": "candidates per dataset", "test-selected": "test F1, picked on test",
                                  "val-selected": "test F1, picked on validation"}))

# %% tags=["hide-input"]
sae_row = table[table.candidates == "SAE configurations only"]
glue("p3_43_sae_optimism", float(sae_row.optimism.iloc[0]) if len(sae_row) else float("nan"), display=False)
c_row = table[table.candidates == "MOSAIC's configuration, C only"]
glue("p3_43_c_optimism", float(c_row.optimism.iloc[0]) if len(c_row) else float("nan"), display=False)
glue("p3_43_paper_f1", MOSAIC_PAPER["best_macro_f1"], display=False)
glue("p3_43_seconds", time.perf_counter() - T0, display=False)

# %% [markdown]
# ## MOSAIC's claim next to ours
#
# MOSAIC reports {glue:text}`p3_43_paper_f1:.3f` for a configuration picked on the test set. On our
# grid ({glue:text}`p3_43_n_candidates` candidate configuration–C pairs per dataset,
# {glue:text}`p3_43_n_datasets` datasets), picking on the test set reports a mean macro F1 of
# {glue:text}`p3_43_test_selected:.3f` [{glue:text}`p3_43_test_selected_lo:.3f`,
# {glue:text}`p3_43_test_selected_hi:.3f`], while the configuration picked on validation scores
# {glue:text}`p3_43_val_selected:.3f` [{glue:text}`p3_43_val_selected_lo:.3f`,
# {glue:text}`p3_43_val_selected_hi:.3f`] on the same test rows: an optimism of
# {glue:text}`p3_43_optimism:+.3f` [{glue:text}`p3_43_optimism_lo:+.3f`,
# {glue:text}`p3_43_optimism_hi:+.3f`] macro-F1 points (positive on {glue:text}`p3_43_n_positive`
# datasets; both rules pick the same configuration on {glue:text}`p3_43_same_pick`). Among SAE
# configurations alone the optimism is {glue:text}`p3_43_sae_optimism:+.3f`; choosing only C for a
# fixed configuration adds {glue:text}`p3_43_c_optimism:+.3f`. By construction the test-selected number
# can never be below the validation-selected one, so it is an upper bound, not an estimate, of the
# chosen configuration's performance. (This page took {glue:text}`p3_43_seconds:.0f` s.)

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under Getting started); the verdict is computed from our CI by the rule named in each line.

# %% tags=["hide-input"]
row = claims.record_claim(
    prof, "p3-test-selection-optimism", paper="P3", page="43_selection_bias", rule=claims.direction(+1),
    claim="MOSAIC's protocol (picking the configuration by test F1) overstates macro F1 against picking by "
          "validation (test-selected minus validation-selected).", paper_value=None, ours=opt["optimism"])
display(Markdown(claims.claim_markdown(row)))
vs, ts = opt["val_selected"], opt["test_selected"]
findings = [f"Picked on the test set: {ts.mean:.3f} [{ts.lo:.3f}, {ts.hi:.3f}] mean macro F1; picked on validation: "
            f"{vs.mean:.3f} [{vs.lo:.3f}, {vs.hi:.3f}], on the same test rows ({len(per)} datasets, "
            f"{int(n_cand)} candidate configuration–C pairs each)."]
if len(sae_row) and len(c_row):
    findings.append(f"Among SAE configurations alone the optimism is {float(sae_row.optimism.iloc[0]):+.3f}; choosing "
                    f"only C for MOSAIC's configuration, {float(c_row.optimism.iloc[0]):+.3f}.")
show.verdict_box([row], findings=findings)

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: how optimistic is picking on test?
# :label: ex-43_selection_bias-predict
# Picking the best of many configurations by test F1 reports the maximum of noisy numbers. Predict: does the optimism grow or shrink with the number of candidates, and with the size of the test set?
# :::
#
# :::{solution} ex-43_selection_bias-predict
# :class: dropdown
# It grows with the number of candidates (a maximum of more noisy draws) and shrinks with the test set (less noise per draw). Here {glue:text}`p3_43_n_candidates` candidates per dataset give an optimism of {glue:text}`p3_43_optimism:.3f`.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: what counts as optimistic
# :label: ex-43_selection_bias-change
# Count the datasets whose optimism exceeds 0.02 macro F1, then 0.05.
# :::
#
# :::{solution-start} ex-43_selection_bias-change
# :class: dropdown
# :::
#
# The count at 0.05 shows whether the average comes from a few datasets with tiny test sets.

# %% tags=["solution"]
for cut in (0.02, 0.05):
    print(f"optimism > {cut}: {int((per.optimism > cut).sum())} of {len(per)} datasets")

# %% [markdown]
# :::{solution-end}
# :::
