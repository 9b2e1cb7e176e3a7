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
# P1's datasets contain duplicate prompts, so under P1's split a test prompt often also appears in
# training (median 17 % of test prompts; > 80 % for some sets, see the data chapter). Here the
# standard regime is run twice on the same training rows: with P1's test set, and with every test
# row whose prompt occurs in training removed (`dedup=True`). Same estimators, same seeds.

# %% tags=["parameters"]
profile = "cpu"

# %%
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe.core import data, stats
from saeprobe import load_profile, saes
from saeprobe.p1 import runner as p1, splits as regimes
from saeprobe.core.activations import dataset_activations

prof = load_profile(profile)
P1 = dict(prof.p1)
min_test = int(P1.get("min_test", regimes.MIN_TEST))
names = prof.dataset_names()
out_dir = prof.home_dir / "results" / "p1" / prof.name / "leakage"  # own tables: do not overwrite 10_standard

# %%
archs = P1.get("sae_archs")
main_specs = [s for s in saes.sae_specs(prof) if s.seed == 0 and (s.layer in (None, prof.main_layer))
              and (not archs or s.arch in archs)]
sae_objs = {s.name: saes.get_sae(prof, s, progress=False) for s in main_specs[:1]}
dsets, feats = {}, {}
for name in names:
    dsets[name] = data.load_dataset(name, max_rows=prof.max_rows, seed=prof.seed)
    X = dataset_activations(prof, name, progress=False)
    feats[(name, "resid")] = X.numpy()
    for sname, sae in sae_objs.items():
        feats[(name, sname)] = saes.encode(sae, X)


def features(dataset, source, ood=False):
    return feats[(dataset, source)]


def make(dedup):
    def splits(dataset):
        return [regimes.standard_split(dsets[dataset], seed=prof.seed, dedup=dedup, min_test=min_test)]
    return splits


specs = [{"method": "lr"}] + p1.expand_methods(
    ["sae"], saes=list(sae_objs), ks=[16],
    ranking=P1.get("sae_ranking", "normalized"), penalty=P1.get("sae_penalty", "l1"))
kw = dict(features=features, out_dir=out_dir, n_jobs=int(P1.get("n_jobs", 2)), progress=False)
p1_split = p1.run_regime("standard", names, specs, splits=make(False), **kw)
dedup = p1.run_regime("standard", names, specs, splits=make(True), dedup=True, **kw)

# %%
for df in (p1_split, dedup):
    df["label"] = df.apply(stats.method_label, axis=1)
both = p1_split.merge(dedup, on=["dataset", "label"], suffixes=("_p1", "_dedup"))
both["removed"] = both["n_test_p1"] - both["n_test_dedup"]
display(both[["dataset", "label", "n_test_p1", "removed", "test_auc_p1", "test_auc_dedup"]].round(3))
rows = []
for lab, g in both.groupby("label"):
    g = g[g["test_auc_dedup"].notna()]
    t = stats.paired_test(g["test_auc_p1"], g["test_auc_dedup"], seed=prof.seed)
    rows.append({"method": lab, "mean_p1": g["test_auc_p1"].mean(), "mean_dedup": g["test_auc_dedup"].mean(),
                 "delta": t["mean_diff"], "ci_lo": t["ci_lo"], "ci_hi": t["ci_hi"], "p_wilcoxon": t["p_wilcoxon"],
                 "n": t["n"]})
leak = pd.DataFrame(rows)
display(leak.round(4))
lr_row = leak[leak.method == "lr"].iloc[0]
glue("p1_leak_lr_delta", float(lr_row["delta"]), display=False)
display(Markdown(
    f"Logistic regression: P1's split {lr_row['mean_p1']:.3f}, deduplicated {lr_row['mean_dedup']:.3f} "
    f"(difference {lr_row['delta']:+.3f}, 95 % CI [{lr_row['ci_lo']:+.3f}, {lr_row['ci_hi']:+.3f}])."))
