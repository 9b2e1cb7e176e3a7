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
# # P1, dataset debugging: do probes find CoLA's bad labels, with an SAE or without?
#
# **P1's claim** (Kantamneni et al. 2025): SAEs "initially appear promising for detecting poor
# dataset quality", but a simple non-SAE baseline does as well. GLUE CoLA labels sentences as
# grammatical or not, and some labels are wrong. P1 had three LLM judges relabel 1,000 CoLA
# sentences; their majority disagrees with the original label on 220. On those disputed sentences,
# a probe that agrees with the judges rather than with the original label has learned grammaticality
# rather than the annotators' slips. P1 (Gemma-2-9B layer 20), accuracy against the judges on the
# disputed 220 -- **the paper's numbers**: residual-stream probe 0.459, SAE probe (k = 128) 0.564, a
# single SAE latent 0.632.
#
# Here: the relabelled sentences are matched to our `87_glue_cola` rows by exact text, every other
# CoLA row (minus duplicates of an evaluation sentence) trains the probes -- P1's logistic regression
# on the raw activations, the z-scored one (`lr_z`), P1's SAE probe with k = 128 and with k = 1 (the
# best single latent by P1's ranking) -- and the 1,000 are scored against both label sets. Then the
# non-SAE route: do the baseline probe's most confident disagreements with the original labels find
# the disputed sentences?

# %% tags=["parameters"]
profile = "cpu"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, saes
from saeprobe.core import data
from saeprobe.core.activations import dataset_activations, extract
from saeprobe.core.models import load_profile_model
from saeprobe.p1 import debugging as D
from saeprobe.p1 import features as F
from saeprobe.p1.probes import LRProbe, SAETopKProbe, ZLRProbe

prof = load_profile(profile)
cola = data.load_dataset("87_glue_cola")  # every row, in file order
rel = D.load_cola_labels()
if prof.p1.cola_max_eval is not None:
    rel = rel.iloc[: prof.p1.cola_max_eval].reset_index(drop=True)
split = D.cola_split(cola.texts, cola.labels, rel, max_train=prof.p1.cola_max_train, seed=prof.seed)
glue("p1_cola_n_matched", split["n_matched"], display=False)
glue("p1_cola_n_disputed", int(rel.disputed.sum()), display=False)
glue("p1_cola_n_train", split["n_train"], display=False)
display(Markdown(
    f"{split['n_matched']} of {len(rel)} relabelled sentences match a CoLA row exactly ({split['n_missing']} do "
    f"not); {int(rel.disputed.sum())} are disputed (judges' majority != original label). Training rows: "
    f"{split['n_train']:,} ({split['n_dropped_duplicates']} rows dropped as duplicates of an evaluation sentence)."))

# %% [markdown]
# ## Features and probes
#
# Last-token activations at the main layer for every CoLA row (one cached pass; a smoke profile
# extracts only the rows it uses), and their codes under the widest of P1's SAEs.

# %%
rows = np.concatenate([split["train"], split["eval"]])
if prof.p1.cola_max_eval is None and prof.p1.cola_max_train is None:
    X_all = dataset_activations(prof.replace(max_rows=None), "87_glue_cola", progress=False).numpy()
    X = X_all[rows]
else:
    hook = prof.hook_name()
    X = extract(load_profile_model(prof), [cola.texts[i] for i in rows], [hook], max_len=prof.max_len,
                batch_size=prof.batch_size, reducers=("last",), progress=False)[hook]["last"].numpy()
n_tr = len(split["train"])
Xtr, Xev = X[:n_tr], X[n_tr:]
ytr = cola.labels[split["train"]]
spec = max(F.main_sae_specs(prof), key=lambda s: s.width)
sae = saes.get_sae(prof, spec, progress=False)
Ztr, Zev = saes.encode(sae, Xtr), saes.encode(sae, Xev)
probes = {
    "LR (P1's)": (LRProbe(), Xtr, Xev),
    "LR, z-scored": (ZLRProbe(), Xtr, Xev),
    f"SAE probe, k = 128 ({spec.name})": (SAETopKProbe(k=128, ranking="normalized"), Ztr, Zev),
    "single SAE latent (k = 1)": (SAETopKProbe(k=1, ranking="normalized"), Ztr, Zev),
}
proba, rows_out = {}, []
for name, (est, A, B) in probes.items():
    est.fit(A, ytr)
    proba[name] = est.predict_proba(B)[:, 1]
    rows_out.append({"probe": name, **D.label_scores(proba[name], rel)})
scores = pd.DataFrame(rows_out)
paper = D.P1_COLA
p1_names = {"LR (P1's)": "baseline", f"SAE probe, k = 128 ({spec.name})": "sae_k128",
            "single SAE latent (k = 1)": "single_latent"}
scores["P1: acc on disputed vs judges"] = [paper["acc_disputed_vs_ensemble"].get(p1_names.get(n, ""), np.nan)
                                          for n in scores.probe]
display(scores.round(3))
lat = int(probes["single SAE latent (k = 1)"][0].latents_[0])
glue("p1_cola_single_latent", lat, display=False)
for _, r in scores.iterrows():
    key = {"LR (P1's)": "lr", "LR, z-scored": "lrz"}.get(r.probe, "sae128" if "k = 128" in r.probe else "single")
    glue(f"p1_cola_{key}_acc_disputed", float(r.acc_disputed_vs_ensemble), display=False)
    glue(f"p1_cola_{key}_acc_original", float(r.acc_original), display=False)

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.4))
metrics = ["acc_original", "acc_ensemble", "acc_disputed_vs_ensemble"]
x = np.arange(len(metrics))
for i, (_, r) in enumerate(scores.iterrows()):
    ax.bar(x + (i - 1.5) * 0.2, [r[m] for m in metrics], 0.2, label=r.probe)
ax.scatter(x[2] + (np.arange(4) - 1.5) * 0.2, scores["P1: acc on disputed vs judges"], marker="x", color="k",
           zorder=3, label="P1 (paper, Gemma-2-9B)")
ax.set_xticks(x, ["vs original labels", "vs judges' majority", "disputed only, vs judges"])
ax.set_ylabel("accuracy")
ax.axhline(0.5, color="grey", lw=0.6, ls=":")
ax.legend(fontsize=6, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Does the SAE help? (disputed sentences, against the judges)
#
# Paired over the disputed sentences: the SAE probe's accuracy minus the strongest baseline's, with a
# 95 % bootstrap CI over sentences.

# %%
d = rel.disputed.to_numpy()
ens = rel.ensemble.to_numpy()
sae_name = f"SAE probe, k = 128 ({spec.name})"
best_base = max(("LR (P1's)", "LR, z-scored"), key=lambda n: scores.set_index("probe").loc[n, "acc_original"])
diff, lo, hi = D.paired_accuracy_diff((proba[sae_name][d] > 0.5).astype(int), (proba[best_base][d] > 0.5).astype(int),
                                      ens[d], seed=prof.seed)
glue("p1_cola_sae_minus_base", diff, display=False)
glue("p1_cola_sae_minus_base_lo", lo, display=False)
glue("p1_cola_sae_minus_base_hi", hi, display=False)
if not (np.isfinite(lo) and np.isfinite(hi)):
    verdict = "too few disputed sentences to say"
elif lo > 0:
    verdict = "the SAE probe agrees with the judges more often than the baseline: the CI lies above 0"
elif hi < 0:
    verdict = "the SAE probe agrees with the judges less often than the baseline: the CI lies below 0"
else:
    verdict = "no detectable difference between the SAE probe and the baseline: the CI contains 0"
display(Markdown(
    f"**Verdict:** on the {int(d.sum())} disputed sentences, SAE probe (k = 128) minus {best_base} (the baseline "
    f"that fits the original labels best): {diff:+.3f} accuracy against the judges, 95 % CI [{lo:+.3f}, {hi:+.3f}] -- "
    f"{verdict}. (P1: +0.105, 0.564 vs 0.459 -- the paper's numbers, on Gemma-2-9B.)"))

# %% [markdown]
# ## The non-SAE route: the baseline's most confident disagreements
#
# Rank the 1,000 sentences by how strongly a probe contradicts the original label (the probability it
# gives the other class). If label errors are what the probe disagrees with, the top of that list is
# rich in disputed sentences. Precision at k against the base rate of disputed sentences:

# %%
pk = []
for name in ("LR (P1's)", "LR, z-scored", sae_name):
    t = D.precision_at_k(proba[name], rel.original_target.to_numpy(), d)
    pk.append(t.assign(probe=name))
pk = pd.concat(pk, ignore_index=True)
display(pk.pivot(index="k", columns="probe", values="precision").assign(base_rate=pk.base_rate.iloc[0]).round(3))
p50 = pk[(pk.k == min(50, pk.k.max())) & (pk.probe == best_base)].precision
glue("p1_cola_base_precision_at_50", float(p50.iloc[0]) if len(p50) else float("nan"), display=False)
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for name, g in pk.groupby("probe"):
    ax.plot(g.k, g.precision, marker="o", label=name)
ax.axhline(pk.base_rate.iloc[0], color="k", ls=":", label="base rate (disputed share)")
ax.set_xscale("log")
ax.set_xlabel("k (most confident disagreements with the original label)")
ax.set_ylabel("share disputed by the judges")
ax.legend(fontsize=7)
plt.tight_layout()
plt.show()
