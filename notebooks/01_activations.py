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
# # Activations
#
# Every probe in this book reads the residual stream of the profile's model. This notebook extracts
# it for every dataset of the profile (cached on disk: later notebooks, and reruns of this one, load
# it in seconds), looks at its scale by layer and by token position, projects a few datasets to two
# dimensions, and fits a quick linear probe per dataset and layer, a sanity check of what the P1
# chapter does properly.
#
# As in P1, each prompt is represented by the residual stream **after** block $\ell$
# (`blocks.{ℓ}.hook_resid_post`) at its **last token**, $x = h_\ell(t_\text{last}) \in \mathbb{R}^{d}$;
# mean- and max-pooled vectors over the prompt's tokens (BOS excluded) are cached alongside.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from saeprobe import load_profile, show
from saeprobe.core import data
from saeprobe.core.activations import dataset_activations, iter_token_acts, profile_activations
from saeprobe.core.models import load_profile_model
from saeprobe.p1 import splits as regimes

prof = load_profile(profile)
show.setup(prof)
names = prof.dataset_names()
print(f"profile {prof.name}: {prof.description}")
print(f"model {prof.model}, hooks {prof.hooks}, max_len {prof.max_len}, {len(names)} datasets")

# %% [markdown]
# ## Extraction
#
# `saeprobe.core.activations.profile_activations` extracts every dataset of the profile (and the OOD test
# files) at all profile layers in one forward pass per batch, stopping at the last needed layer, and
# stores the result keyed by model weights, hook, rows, context length and reducer. A cached dataset
# shows a time of well under a second.

# %%
t0 = time.perf_counter()
model = load_profile_model(prof)
summary = profile_activations(prof, include_ood=True, progress=False)  # bars would clutter the page
extract_s = time.perf_counter() - t0
glue("extract_seconds", round(extract_s, 1), display=False)
glue("n_extracted", len(summary), display=False)
glue("d_model", int(summary["d_model"].iloc[0]), display=False)
glue("n_layers_model", int(model.cfg.n_layers), display=False)
show.table(summary.drop(columns=[c for c in ("path", "key") if c in summary]), caption="Activation sets of this profile")

# %% [markdown]
# {glue:text}`n_extracted:d` activation sets ({glue:text}`d_model:d`-dimensional; the model has
# {glue:text}`n_layers_model:d` blocks) were extracted or loaded in {glue:text}`extract_seconds:.1f` s.

# %% tags=["hide-input"]
acts = {(n, h): dataset_activations(prof, n, hook=h, reducer="last", model=model).numpy()
        for n in names for h in prof.hooks}
datasets = {n: data.load_dataset(n, max_rows=prof.max_rows, seed=prof.seed) for n in names}

# %% [markdown]
# ## Scale by layer and by position
#
# The residual stream grows with depth. Below, the norm $\lVert x \rVert_2$ of the last-token vector of
# every prompt, pooled over the profile's datasets, per layer; and the mean norm at each token
# position for a few prompts (the BOS token, whose norm is an order of magnitude larger, is excluded
# from everything we extract).

# %% tags=["hide-input"]
norm_rows = []
for (n, h), x in acts.items():
    layer = int(h.split(".")[1])
    for v in np.linalg.norm(x, axis=1):
        norm_rows.append(dict(dataset=n, layer=layer, norm=float(v)))
norms = pd.DataFrame(norm_rows)
norm_table = norms.groupby("layer")["norm"].describe()[["mean", "25%", "50%", "75%"]].round(0)
glue("norm_main_median", float(norm_table.loc[prof.main_layer, "50%"]), display=False)

first = datasets[names[0]]
n_pos = min(32, len(first))
pos_rows = []
for h in prof.hooks:
    layer = int(h.split(".")[1])
    for i, a, _ in iter_token_acts(model, first.texts[:n_pos], h, max_len=prof.max_len,
                                   batch_size=prof.batch_size, progress=False):
        for p, v in enumerate(a.norm(dim=1).tolist()):
            pos_rows.append(dict(layer=layer, position=p + 1, norm=v))
by_pos = pd.DataFrame(pos_rows).groupby(["layer", "position"])["norm"].mean().unstack(0)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
layers = sorted(norms["layer"].unique())
axes[0].boxplot([norms.loc[norms.layer == L, "norm"] for L in layers], showfliers=False)
axes[0].set_xticks(range(1, len(layers) + 1), [f"layer {L}" for L in layers])
axes[0].set_ylabel(r"$\|x\|_2$ at the last token")
axes[0].set_title(f"Last-token norm by layer ({len(names)} datasets)")
for L in by_pos.columns:
    axes[1].plot(by_pos.index, by_pos[L], marker=".", label=f"layer {L}")
axes[1].set_xlabel("token position (1 = first token after BOS)")
axes[1].set_ylabel(r"mean $\|x\|_2$")
axes[1].set_title(f"Norm by position ({n_pos} prompts of {names[0]})")
axes[1].legend(fontsize=8)
fig.tight_layout()
show.figure(fig, "fig_norms")
show.table(norm_table, digits=0, caption="Last-token norm by layer", keep_index=True)

# %% [markdown]
# :::{glue:figure} fig_norms
# :name: fig-01-norms
# :alt: Left, box plots of the last-token residual norm per layer; right, lines of the mean norm at each token position, one line per layer.
#
# The residual stream's scale: the last-token norm by layer (left) and the mean norm by token position
# (right); both grow with depth.
# :::

# %% [markdown]
# ## Two-dimensional projections
#
# A PCA of the standardised last-token vectors at the main layer (layer {glue:text}`main_layer:d`),
# coloured by class, for up to three datasets. Linear separability in two dimensions is not needed for
# a good probe, but when it shows, the task is easy for the model.

# %% tags=["hide-input"]
glue("main_layer", prof.main_layer, display=False)
shown = names[:3]
fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown), 3.2), squeeze=False)
for ax, n in zip(axes[0], shown):
    x = acts[(n, prof.hook_name())]
    y = datasets[n].labels
    z = PCA(n_components=2, random_state=prof.seed).fit_transform(StandardScaler().fit_transform(x))
    for c, colour in zip(range(datasets[n].n_classes), [show.PALETTE[0], show.PALETTE[1]]):
        ax.scatter(z[y == c, 0], z[y == c, 1], s=8, alpha=0.6, color=colour,
                   label=f"{c}: {datasets[n].classes[c]}"[:30])
    ax.set_title(n, fontsize=10)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, markerscale=2)
fig.tight_layout()
show.figure(fig, "fig_pca")

# %% [markdown]
# :::{glue:figure} fig_pca
# :name: fig-01-pca
# :alt: Scatter plots, one per dataset, of the first two principal components of the standardised last-token activations, points coloured by class.
#
# The first two principal components of the main layer's last-token vectors, coloured by class, for up
# to three of the profile's datasets.
# :::

# %% [markdown]
# ## A quick linear probe
#
# Logistic regression ($C = 1$, standardised features) on P1's standard split (seed 42) of each
# dataset, test ROC-AUC per layer. This is a sanity check, not P1's protocol: the P1 chapter tunes
# $C$ on validation data and adds the other baselines. Profiles with fewer than 200 rows per dataset
# (`smoke`) are too small for P1's 100 test rows; they keep half the rows for test instead.

# %%
def split_of(ds):
    # P1 keeps 100 test rows; tiny profiles (smoke) keep half the rows instead (not P1)
    min_test = min(100, len(ds) // 2)
    s = regimes.standard_split(ds.labels, seed=prof.seed, min_test=min_test)
    return s.train_idx, s.test_idx, "P1 standard" if min_test == 100 else f"P1 rule, {min_test} test rows"


auc_rows = []
for n in names:
    ds = datasets[n]
    tr, te, kind = split_of(ds)
    row = dict(dataset=n, train=len(tr), test=len(te), split=kind)
    for h in prof.hooks:
        x = acts[(n, h)]
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        clf.fit(x[tr], ds.labels[tr])
        row[f"layer {h.split('.')[1]}"] = roc_auc_score(ds.labels[te], clf.predict_proba(x[te])[:, 1])
    auc_rows.append(row)
aucs = pd.DataFrame(auc_rows).set_index("dataset")
layer_cols = [c for c in aucs.columns if c.startswith("layer ")]
mean_auc = aucs[layer_cols].mean()
glue("probe_auc_main", float(mean_auc[f"layer {prof.main_layer}"]), display=False)
glue("probe_best_layer", mean_auc.idxmax(), display=False)
glue("probe_best_auc", float(mean_auc.max()), display=False)
show.table(aucs, caption="Quick linear probe: test ROC-AUC per dataset and layer")

# %% [markdown]
# Mean test AUC at the main layer: {glue:text}`probe_auc_main:.3f`; the best layer on average is
# {glue:text}`probe_best_layer` (mean AUC {glue:text}`probe_best_auc:.3f`).

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(mean_auc.index, mean_auc.values, color=show.PALETTE[2])
ax.set_ylim(0.5, 1.0)
ax.set_ylabel("mean test ROC-AUC")
ax.set_title("Quick linear probe, mean over datasets")
fig.tight_layout()
show.figure(fig, "fig_quick_probe")

# %% [markdown]
# :::{glue:figure} fig_quick_probe
# :name: fig-01-quick-probe
# :alt: Bar chart of the quick linear probe's mean test ROC-AUC at each extracted layer, on an axis from 0.5 to 1.
#
# The quick probe's mean test AUC per layer (logistic regression, C = 1, standardised features).
# :::

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: which layer reads out best?
# :label: ex-01_activations-predict
# A linear probe on the last token at each profile layer: predict which layer gives the highest mean AUC.
# :::
#
# :::{solution} ex-01_activations-predict
# :class: dropdown
# Usually a middle-to-late layer: early layers hold token identity, the last ones the next-token prediction. The table and figure above give the answer on this profile; the code counts how often each layer wins.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: per dataset instead of on average
# :label: ex-01_activations-change
# Instead of the mean over datasets, count for how many datasets each layer is the best one.
# :::
#
# :::{solution-start} ex-01_activations-change
# :class: dropdown
# :::
#
# The average winner need not win on most datasets; when the counts spread, the choice of one main layer (P1's layer 20) costs some datasets.

# %% tags=["solution"]
print(aucs[layer_cols].idxmax(axis=1).value_counts())

# %% [markdown]
# :::{solution-end}
# :::
