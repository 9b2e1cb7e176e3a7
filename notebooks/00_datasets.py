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
# # The P1 datasets
#
# Kantamneni et al. (2025) probe on the binary classification datasets that ship with their package
# (`sae-probes`); `saeprobe.core.data` reads them straight from the wheel and encodes labels exactly as P1
# does. This notebook describes them: how many there are and of which kind, how long the prompts are,
# how balanced the classes are, how many prompts are duplicated, and how many **test prompts also
# occur in the training side of P1's own split**, and the eight out-of-distribution (OOD) test sets.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, show
from saeprobe.core import data, data_report
from saeprobe.p1 import leakage

prof = load_profile(profile)
show.setup(prof)
glue("profile_name", prof.name, display=False)
pd.set_option("display.max_colwidth", 80)
print(f"profile {prof.name}: {prof.description}")

# %% [markdown]
# ## What ships
#
# One row per binary dataset: the source family, a coarse category, the number of rows, the share of
# class 1 and the median prompt length in characters.

# %%
binary = data_report.describe("binary")
multiclass = data.list_datasets("multiclass")
ood_names = data.list_datasets("ood")
in_profile = set(prof.dataset_names())
binary["in_profile"] = binary["name"].isin(in_profile)

glue("n_binary", len(binary), display=False)
glue("n_multiclass", len(multiclass), display=False)
glue("n_ood", len(ood_names), display=False)
glue("n_categories", binary["category"].nunique(), display=False)
glue("n_families", binary["family"].nunique(), display=False)
glue("n_profile_datasets", len(in_profile), display=False)
glue("total_rows", int(binary["n_rows"].sum()), display=False)
glue("min_rows", int(binary["n_rows"].min()), display=False)
glue("max_rows", int(binary["n_rows"].max()), display=False)

by_cat = (
    binary.groupby("category")
    .agg(datasets=("name", "size"), in_profile=("in_profile", "sum"), rows=("n_rows", "sum"),
         median_chars=("median_chars", "median"), example=("tag", "first"))
    .sort_values("datasets", ascending=False)
)
show.table(by_cat, caption="Binary datasets per category (in_profile: how many the profile uses)")

# %% [markdown]
# There are {glue:text}`n_binary` binary datasets in {glue:text}`n_categories` categories
# ({glue:text}`total_rows:,d` rows in all, {glue:text}`min_rows` to {glue:text}`max_rows` per dataset),
# plus {glue:text}`n_multiclass` multiclass sets that P1 does not probe. The profile in use covers
# {glue:text}`n_profile_datasets` of the binary sets (column `in_profile`).

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
ax = axes[0]
cats = by_cat.index[::-1]
ax.barh(cats, by_cat.loc[cats, "datasets"], color="#BBBBBB", label="all")
ax.barh(cats, by_cat.loc[cats, "in_profile"], color=show.PALETTE[1], label=f"in profile '{prof.name}'")
ax.set_xlabel("datasets")
ax.legend(loc="lower right", fontsize=8)
ax.set_title("Datasets per category")
ax = axes[1]
ax.hist(binary["median_chars"], bins=np.logspace(0.5, 4, 30), color=show.PALETTE[0])
ax.set_xscale("log")
ax.set_xlabel("median prompt length (characters)")
ax.set_ylabel("datasets")
ax.set_title("Prompt length")
ax = axes[2]
ax.hist(binary["n_rows"], bins=20, color=show.PALETTE[2])
ax.set_xlabel("rows")
ax.set_ylabel("datasets")
ax.set_title("Dataset size")
fig.tight_layout()
show.figure(fig, "fig_catalogue")

# %% [markdown]
# :::{glue:figure} fig_catalogue
# :name: fig-00-catalogue
# :alt: Three panels: horizontal bars of datasets per category with the profile's share highlighted; a histogram of median prompt length on a log axis; a histogram of dataset sizes in rows.
#
# P1's binary datasets: how many per category (the profile's in colour), how long their prompts are, and
# how many rows each has.
# :::

# %% [markdown]
# **Class balance.** The share of class 1 (P1's `LabelEncoder` order: the later label in sort order):

# %%
balance = binary["pos_frac"].describe()[["min", "50%", "max"]].round(3)
glue("pos_frac_min", float(balance["min"]), display=False)
glue("pos_frac_max", float(balance["max"]), display=False)
show.table(balance.to_frame("share of class 1"), caption="Share of class 1 across the binary datasets")

# %% [markdown]
# ## Duplicates and train/test overlap under P1's split
#
# Many prompts occur more than once in a dataset (the same headline or name with the same label), and
# a few occur with *both* labels. P1's standard split (seed 42: $\min(N-100, 1024)$ balanced training
# rows, the rest for test) draws rows, not distinct prompts, so a test prompt can also be a training
# prompt. `saeprobe.p1.leakage.quality_report` counts this for every dataset; `saeprobe.p1.splits` offers
# `dedup=True` to drop such test rows.

# %% tags=["hide-input"]
quality = leakage.quality_report()
quality = quality.merge(binary[["name", "category"]], on="name")
glue("median_dup_frac", float(quality["dup_frac"].median() * 100), display=False)
glue("median_leak_frac", float(quality["test_in_train_frac"].median() * 100), display=False)
glue("n_leak_over_half", int((quality["test_in_train_frac"] > 0.5).sum()), display=False)
glue("n_conflicting_sets", int((quality["n_conflicting_prompts"] > 0).sum()), display=False)
glue("n_conflicting_prompts", int(quality["n_conflicting_prompts"].sum()), display=False)

fig, ax = plt.subplots(figsize=(9, 3.6))
q = quality.sort_values("test_in_train_frac", ascending=False).reset_index(drop=True)
palette = dict(zip(sorted(q["category"].unique()), plt.cm.tab20.colors))
ax.bar(q.index, 100 * q["test_in_train_frac"], color=[palette[c] for c in q["category"]], width=1.0)
ax.set_xlabel("dataset (sorted)")
ax.set_ylabel("% of test rows also in train")
ax.set_title("Train/test overlap under P1's standard split (seed 42)")
handles = [plt.Rectangle((0, 0), 1, 1, color=col) for col in palette.values()]
ax.legend(handles, palette.keys(), ncol=4, fontsize=7, loc="upper right")
ax.set_xlim(-1, len(q))
fig.tight_layout()
show.figure(fig, "fig_overlap")

# %% [markdown]
# :::{glue:figure} fig_overlap
# :name: fig-00-overlap
# :alt: Bar chart, one bar per dataset sorted from most to least, of the percentage of test rows that also occur among the training rows, coloured by category.
#
# Train/test overlap under P1's standard split: the share of each dataset's test rows whose prompt also
# occurs among its training rows, datasets sorted, coloured by category.
# :::

# %% [markdown]
# The median dataset has {glue:text}`median_dup_frac:.1f`% duplicated rows and
# {glue:text}`median_leak_frac:.1f`% of its test rows also among its training rows; for
# {glue:text}`n_leak_over_half` datasets more than half the test set is seen in training.
# {glue:text}`n_conflicting_prompts` distinct prompts (in {glue:text}`n_conflicting_sets` datasets)
# carry both labels. The most affected datasets:

# %%
cols = ["name", "category", "n_rows", "n_unique", "dup_frac", "n_conflicting_prompts", "num_train",
        "num_test", "test_in_train", "test_in_train_frac"]
show.table(q[cols].head(12), caption="The 12 datasets with the most test rows also in train (fractions as shares)")

# %% [markdown]
# ## The profile's subset
#
# The profile subsamples each dataset to at most `max_rows` rows (class-balanced, seeded) before P1's
# split is applied; this is what every later notebook reads.

# %%
rows = []
for name in prof.dataset_names():
    ds = data.load_dataset(name, max_rows=prof.max_rows, seed=prof.seed)
    lengths = np.array([len(t) for t in ds.texts])
    rows.append(dict(name=name, category=binary.set_index("name").loc[name, "category"], rows=len(ds),
                     class_1=float(ds.labels.mean()), median_chars=float(np.median(lengths)),
                     max_chars=int(lengths.max()), classes=" / ".join(ds.classes)))
subset = pd.DataFrame(rows)
show.table(subset, digits=2)

# %% [markdown]
# ## Out-of-distribution test sets
#
# For {glue:text}`n_ood` datasets P1 ships a second test file whose inputs are shifted (another
# language, injected typos, a different naming pattern, fictional people, GLUE-X variants). A probe
# trained on the ordinary rows is tested on the whole OOD file. Two examples of each, next to an
# in-distribution prompt:

# %%
ood_rows, examples = [], []
for name in ood_names:
    ood = data.load_ood(name)
    base = data.load_dataset(name, max_rows=200, seed=prof.seed)
    ood_rows.append(dict(name=name, ood_rows=len(ood), ood_class_1=float(ood.labels.mean()),
                         in_dist_example=base.texts[0][:70], ood_example_1=ood.texts[0][:70],
                         ood_example_2=ood.texts[1][:70]))
ood_table = pd.DataFrame(ood_rows)
glue("ood_rows_median", int(ood_table["ood_rows"].median()), display=False)
show.table(ood_table, digits=2)

# %% [markdown]
# The OOD files are small (median {glue:text}`ood_rows_median` rows), so OOD AUCs in later chapters
# have wide confidence intervals.

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: duplicates between train and test
# :label: ex-00_datasets-predict
# P1's split draws train and test rows from one file without removing repeated prompts. Predict how many of the 113 datasets have more than half of their test prompts also in training.
# :::
#
# :::{solution} ex-00_datasets-predict
# :class: dropdown
# A handful, concentrated in templated datasets (the `temp_cat_*` and `cancer_cat_*` families, per the protocol notes); the bar chart above sorts them. The code counts them.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: the duplicate threshold
# :label: ex-00_datasets-change
# Count the datasets with more than 10 %, 50 % and 80 % of test prompts in training.
# :::
#
# :::{solution-start} ex-00_datasets-change
# :class: dropdown
# :::
#
# The counts fall quickly: a few datasets carry most of the duplication (page 16 measures what it does to AUC).

# %% tags=["solution"]
for cut in (0.1, 0.5, 0.8):
    print(f"test prompts in train > {cut:.0%}: {int((quality.test_in_train_frac > cut).sum())} datasets")

# %% [markdown]
# :::{solution-end}
# :::
