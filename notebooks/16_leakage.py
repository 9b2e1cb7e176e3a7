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

from saeprobe import load_profile, saes
from saeprobe.core import stats
from saeprobe.core.cache import results_dir
from saeprobe.p1 import features as F
from saeprobe.p1 import quiver as Q
from saeprobe.p1 import runner

prof = load_profile(profile)
names = prof.dataset_names()
out_dir = results_dir(prof, "p1") / "leakage"  # own tables: do not overwrite 10_standard

# %%
first = F.main_sae_specs(prof)[:1]
features = F.load_features(prof, names, saes={s.name: saes.get_sae(prof, s, progress=False) for s in first})
specs = [{"method": "lr"}] + runner.expand_methods(
    ["sae"], saes=list(features.saes), ks=[16], ranking=prof.p1.sae_ranking, penalty=prof.p1.sae_penalty)
kw = dict(features=features, out_dir=out_dir, n_jobs=prof.p1.n_jobs, progress=False)
p1_split = runner.run_regime("standard", names, specs, splits=F.regime_splits(prof, "standard", features), **kw)
dedup = runner.run_regime("standard", names, specs, splits=F.regime_splits(prof, "standard", features, dedup=True),
                          dedup=True, **kw)

# %%
for df in (p1_split, dedup):
    df["label"] = df.apply(Q.method_label, axis=1)
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
