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
# # P1's split leaks: how much do duplicate prompts move the numbers?
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
#
# :::
#
# :::{glue:figure} p1_leak_key
# :name: fig-16-key
# :alt: Per dataset and method, the test AUC on P1's split minus the test AUC on the deduplicated test set, against the share of test rows that deduplication removed, with a line at zero.
#
# Per dataset: how much higher a method scores on P1's test set than on the deduplicated one (y), against the share of test rows whose prompt also occurs in training (x).
# :::
# ::::

# %% [markdown]
# P1's datasets contain duplicate prompts, so under P1's split a test prompt often also appears in
# training (median 17 % of test prompts; > 80 % for some sets, see the data chapter). Here the
# standard regime is run twice on the same training rows: with P1's test set, and with every test
# row whose prompt occurs in training removed (`dedup=True`). Same estimators, same seeds. This page
# tests no claim of the paper; the box at the top reports what it measures.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, saes, show
from saeprobe.core import stats
from saeprobe.core.cache import results_dir
from saeprobe.p1 import features as F
from saeprobe.p1 import quiver as Q
from saeprobe.p1 import runner

prof = load_profile(profile)
show.setup(prof)
names = prof.dataset_names()
out_dir = results_dir(prof, "p1") / "leakage"  # own tables: do not overwrite 10_standard

# %% tags=["hide-input"]
first = F.main_sae_specs(prof)[:1]
features = F.load_features(prof, names, saes={s.name: saes.get_sae(prof, s, progress=False) for s in first})
specs = [{"method": "lr"}] + runner.expand_methods(
    ["sae"], saes=list(features.saes), ks=[16], ranking=prof.p1.sae_ranking, penalty=prof.p1.sae_penalty)
kw = dict(features=features, out_dir=out_dir, n_jobs=prof.p1.n_jobs, progress=False)
p1_split = runner.run_regime("standard", names, specs, splits=F.regime_splits(prof, "standard", features), **kw)
dedup = runner.run_regime("standard", names, specs, splits=F.regime_splits(prof, "standard", features, dedup=True),
                          dedup=True, **kw)

# %% [markdown]
# ## P1's test set against the deduplicated one
#
# Per dataset and method: the test rows of P1's split, how many deduplication removes, and the test AUC
# on both. The second table pairs the two over datasets: P1's split minus deduplicated, with its 95 %
# bootstrap CI (a positive difference is what the duplicates add).

# %%
for df in (p1_split, dedup):
    df["label"] = df.apply(Q.method_label, axis=1)
both = p1_split.merge(dedup, on=["dataset", "label"], suffixes=("_p1", "_dedup"))
both["removed"] = both["n_test_p1"] - both["n_test_dedup"]
display(show.table(both[["dataset", "label", "n_test_p1", "removed", "test_auc_p1", "test_auc_dedup"]],
                   rename={"label": "method", "n_test_p1": "test rows (P1)", "removed": "removed by dedup",
                           "test_auc_p1": "test AUC, P1's split", "test_auc_dedup": "test AUC, deduplicated"}))
rows = []
for lab, g in both.groupby("label"):
    g = g[g["test_auc_dedup"].notna()]
    t = stats.paired_test(g["test_auc_p1"], g["test_auc_dedup"], seed=prof.seed)
    rows.append({"method": lab, "mean_p1": g["test_auc_p1"].mean(), "mean_dedup": g["test_auc_dedup"].mean(),
                 "delta": t["mean_diff"], "ci_lo": t["ci_lo"], "ci_hi": t["ci_hi"], "p_wilcoxon": t["p_wilcoxon"],
                 "n": t["n"]})
leak = pd.DataFrame(rows)
display(show.table(leak, digits=4, rename={"mean_p1": "mean AUC, P1's split", "mean_dedup": "mean AUC, deduplicated",
                                           "delta [95 % CI]": "P1's split − deduplicated [95 % CI]",
                                           "n": "datasets"}))
lr_row = leak[leak.method == "lr"].iloc[0]
glue("p1_leak_lr_delta", float(lr_row["delta"]), display=False)
display(Markdown(
    f"Logistic regression: P1's split {lr_row['mean_p1']:.3f}, deduplicated {lr_row['mean_dedup']:.3f} "
    f"(difference {lr_row['delta']:+.3f}, 95 % CI [{lr_row['ci_lo']:+.3f}, {lr_row['ci_hi']:+.3f}])."))

# %% tags=["hide-input"]
# the key figure (in the box at the top) and the box's findings, from the tables above
fig, ax = plt.subplots(figsize=(3.0, 2.1))
for i, (lab, g) in enumerate(both.groupby("label")):
    g = g[g["test_auc_dedup"].notna()]
    ax.scatter(100 * g["removed"] / g["n_test_p1"], g["test_auc_p1"] - g["test_auc_dedup"], s=28 if i else 18,
               marker="os^v"[i % 4], facecolors="none" if i else show.color(lab), edgecolors=show.color(lab),
               linewidths=1.2, label=show.method_label(lab))
ax.axhline(0, color="k", lw=0.8)
ax.set_xlabel("test rows removed by deduplication (%)")
ax.set_ylabel("test AUC, P1's split − dedup")
ax.legend(fontsize=7)
fig.tight_layout()
show.figure(fig, "p1_leak_key")
lr_both_ = both[both.label == "lr"]
findings = [f"Deduplication removes {int(lr_both_['removed'].sum())} of {int(lr_both_['n_test_p1'].sum())} test rows "
            f"({lr_both_['removed'].sum() / max(lr_both_['n_test_p1'].sum(), 1):.0%}) over {len(lr_both_)} datasets; "
            f"{int((lr_both_['removed'] > 0).sum())} of them lose at least one test row."]
for _, r in leak.iterrows():
    ci = f" [{r['ci_lo']:+.3f}, {r['ci_hi']:+.3f}]" if np.isfinite(r["ci_lo"]) and np.isfinite(r["ci_hi"]) else ""
    findings.append(f"{show.method_label(r['method'])}: mean test AUC {r['mean_p1']:.3f} on P1's split, "
                    f"{r['mean_dedup']:.3f} deduplicated (difference {r['delta']:+.3f}{ci}, {int(r['n'])} datasets).")
show.verdict_box([], findings=findings)

# %% [markdown]
# {numref}`fig-16-key` (at the top of the page) draws the same pairs per dataset: the farther right, the
# more of a dataset's test set was also in training.

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: who loses most when duplicates leave the test set?
# :label: ex-16_leakage-predict
# Removing test prompts that also occur in training takes away free points. Predict: does logistic regression or the SAE probe lose more AUC, and on which kind of dataset?
# :::
#
# :::{solution} ex-16_leakage-predict
# :class: dropdown
# The method that memorises more loses more: a dense LR on 640 dimensions can fit individual prompts, a k = 16 SAE probe much less. Datasets with the most duplicates (see the data chapter) move most. Here LR moves by {glue:text}`p1_leak_lr_delta:+.3f`.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: what counts as a leaky dataset
# :label: ex-16_leakage-change
# List the datasets where deduplication removed more than 10 % of the test rows, with LR's AUC before and after. Then change 10 % to 30 %: does the list still carry the average difference?
# :::
#
# :::{solution-start} ex-16_leakage-change
# :class: dropdown
# :::
#
# If the average difference comes from a few heavily duplicated datasets, the list at 30 % carries most of it: leakage is a property of some datasets, not of the benchmark as a whole.

# %% tags=["solution"]
lr_both = both[both.label == "lr"].assign(frac=lambda d: d["removed"] / d["n_test_p1"])
for cut in (0.1, 0.3):
    sub = lr_both[lr_both.frac > cut]
    print(f"> {cut:.0%} removed: {len(sub)} datasets, mean LR change "
          f"{(sub.test_auc_p1 - sub.test_auc_dedup).mean() if len(sub) else float('nan'):+.4f}")

# %% [markdown]
# :::{solution-end}
# :::
