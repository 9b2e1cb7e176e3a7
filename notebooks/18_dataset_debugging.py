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
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} p1_cola_acc_fig
# :name: fig-18-cola
# :alt: Grouped bars of accuracy for four probes against the original CoLA labels, against the judges' majority, and on the disputed sentences against the judges, with P1's values as crosses on the last group.
#
# Accuracy of each probe on the relabelled CoLA sentences; the right-hand group (disputed sentences, scored against the judges) is the one that finds label errors. Crosses: P1's numbers (Gemma-2-9B).
# :::
# ::::

# %% [markdown]
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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, saes, show
from saeprobe.core import claims, data
from saeprobe.core.activations import dataset_activations, extract
from saeprobe.core.models import load_profile_model
from saeprobe.p1 import debugging as D
from saeprobe.p1 import features as F
from saeprobe.p1.probes import LRProbe, SAETopKProbe, ZLRProbe

prof = load_profile(profile)
show.setup(prof)
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
display(show.table(scores, rename={"acc_original": "acc. vs original", "acc_ensemble": "acc. vs judges",
                                   "acc_disputed_vs_ensemble": "disputed: acc. vs judges",
                                   "auc_disputed_vs_ensemble": "disputed: AUC vs judges",
                                   "P1: acc on disputed vs judges": "P1 (paper): disputed acc."}))
lat = int(probes["single SAE latent (k = 1)"][0].latents_[0])
glue("p1_cola_single_latent", lat, display=False)
for _, r in scores.iterrows():
    key = {"LR (P1's)": "lr", "LR, z-scored": "lrz"}.get(r.probe, "sae128" if "k = 128" in r.probe else "single")
    glue(f"p1_cola_{key}_acc_disputed", float(r.acc_disputed_vs_ensemble), display=False)
    glue(f"p1_cola_{key}_acc_original", float(r.acc_original), display=False)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.4, 4.0))
metrics = ["acc_original", "acc_ensemble", "acc_disputed_vs_ensemble"]
x = np.arange(len(metrics))
probe_color = {"LR (P1's)": show.color("lr"), "LR, z-scored": show.color("lr_z"),
               f"SAE probe, k = 128 ({spec.name})": show.color(f"sae:{spec.name}:k=128"),
               "single SAE latent (k = 1)": show.color(f"sae:{spec.name}:k=1")}
for i, (_, r) in enumerate(scores.iterrows()):
    ax.bar(x + (i - 1.5) * 0.2, [r[m] for m in metrics], 0.2, label=r.probe, color=probe_color[r.probe],
           hatch="//" if r.probe.startswith("single") else None, edgecolor="white")
ax.scatter(x[2] + (np.arange(4) - 1.5) * 0.2, scores["P1: acc on disputed vs judges"], marker="x", color="k",
           zorder=3, label="P1 (paper, Gemma-2-9B)")
ax.set_xticks(x, ["vs original labels", "vs judges' majority", "disputed only, vs judges"])
ax.set_ylabel("accuracy")
ax.axhline(0.5, color="grey", lw=0.6, ls=":")
ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
plt.tight_layout()
show.figure(fig, "p1_cola_acc_fig")

# %% [markdown]
# {numref}`fig-18-cola` (at the top of the page) shows the table above: each probe's accuracy against the
# original labels, against the judges, and -- the group that matters -- on the disputed sentences against the judges.

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
display(show.table(pk.pivot(index="k", columns="probe", values="precision").assign(base_rate=pk.base_rate.iloc[0]),
                   rename={"base_rate": "base rate"}))
p50 = pk[(pk.k == min(50, pk.k.max())) & (pk.probe == best_base)].precision
glue("p1_cola_base_precision_at_50", float(p50.iloc[0]) if len(p50) else float("nan"), display=False)

# %% tags=["hide-input"]
fig, ax = plt.subplots()
for name, g in pk.groupby("probe"):
    ax.plot(g.k, g.precision, marker="o", label=name, color=probe_color[name])
ax.axhline(pk.base_rate.iloc[0], color="k", ls=":", label="base rate (disputed share)")
ax.set_xscale("log")
ax.set_xlabel("k (most confident disagreements with the original label)")
ax.set_ylabel("share disputed by the judges")
ax.legend()
plt.tight_layout()
show.figure(fig, "p1_cola_precision_fig")

# %% [markdown]
# :::{glue:figure} p1_cola_precision_fig
# :name: fig-18-precision
# :alt: Share of disputed sentences among each probe's k most confident disagreements with the original label, against k on a log axis, with the base rate as a dotted line.
#
# Precision at k: the share of a probe's k most confident disagreements with the original label that the judges dispute. Above the dotted base rate, the probe's disagreements point at label errors.
# :::

# %% [markdown]
# ## An artifact in AI-vs-human text: the last token is the final punctuation
#
# **P1's finding** (the paper's, Gemma-2-9B layer 20, `110_aimade_humangpt3`): the SAE latents the
# probe relies on fire on punctuation and sentence ends, and the dense probe direction projected onto
# every token of a corpus tops at the same kind of tokens -- a probe of "who wrote this" that reads
# *how the text ends*. Both routes on our model, then the test of the hypothesis:
#
# 1. the SAE route: P1's SAE probe on the last-token codes, the latents it relies on most
#    (|coefficient| × the latent's spread on the training rows) and their top-activating contexts over
#    the SAE corpus's held-out texts (never seen in SAE training; texts that also occur in this dataset
#    are skipped);
# 2. the non-SAE route: P1's LR probe direction projected onto every token of the same held-out texts,
#    its top contexts and the tokens with the highest mean projection;
# 3. the test: strip every text's final punctuation (and trailing whitespace), retrain and re-evaluate
#    both probes on the same split, and report the AUC drop with a paired bootstrap CI over test rows.

# %%
from tqdm.auto import tqdm

from saeprobe.core.activations import text_activations
from saeprobe.core.config import no_bar
from saeprobe.core.stats import bootstrap_ci, paired_test
from saeprobe.p1 import artifacts as AR
from saeprobe.p1 import spurious as SP
from saeprobe.p1.probes import make_probe
from saeprobe.p1.splits import standard_split
from saeprobe.saes import contexts as CX

p1 = prof.p1
art = data.load_dataset(p1.artifact_dataset, max_rows=prof.max_rows, seed=prof.seed)
y_art = np.asarray(art.labels)
ends = AR.ending_table(art.texts, y_art)
stripped, changed = AR.strip_texts(art.texts)
X_art = dataset_activations(prof, art.name, progress=False).numpy()
X_strip = X_art.copy()
if changed.any():  # texts that do not end in punctuation are unchanged: their activations are reused
    X_strip[changed] = text_activations(prof, [stripped[i] for i in np.flatnonzero(changed)], progress=False).numpy()
Z_art, Z_strip = saes.encode(sae, X_art), saes.encode(sae, X_strip)
split_art = standard_split(y_art, seed=prof.seed, min_test=p1.min_test)
tr_a, te_a = split_art.train_idx, split_art.test_idx
punct_label = int(ends.loc[ends.ends_in_punctuation.idxmax(), "label"])  # the class that ends in punctuation more
glue("p1_art_n_rows", len(art.texts), display=False)
glue("p1_art_n_changed", int(changed.sum()), display=False)
for _, r in ends.iterrows():
    glue(f"p1_art_punct_end_label{r.label}", float(r.ends_in_punctuation), display=False)
display(show.table(ends))
display(Markdown(
    f"`{art.name}`: {len(art.texts):,} rows ({split_art.num_train} train / {split_art.num_test} test, P1's split). "
    + "; ".join(f"label {r.label}: {r.ends_in_punctuation:.1%} of texts end in punctuation" for _, r in ends.iterrows())
    + f". Stripping changes {int(changed.sum())} texts; the probe reads the last token, so before stripping "
    f"that token *is* the final punctuation for those texts."))

# %% [markdown]
# ### The SAE route: the latents the probe relies on, and where they fire

# %%
sae_art = make_probe("sae", k=p1.artifact_k, ranking=p1.sae_ranking, penalty=p1.sae_penalty)
sae_art.fit(Z_art[tr_a], split_art.y_train)
weights = AR.probe_latent_weights(sae_art, Z_art[tr_a])
shown = weights[weights.weight > 0].head(p1.artifact_n_latents)
model = load_profile_model(prof)
decode = model.tokenizer.decode
hook = prof.hook_name()
corpus = saes.token_corpus(prof, [hook], model, progress=False)[hook]
held = corpus.heldout.numpy()
H = corpus.acts[held]
tok_h, tix_h = corpus.token_ids[held].numpy(), corpus.text_index[held].numpy()
art_all = set(data.load_dataset(p1.artifact_dataset).texts)
excl = np.array([corpus.texts[i] in art_all for i in tix_h], dtype=bool)
glue("p1_art_n_heldout_tokens", int(len(tok_h)), display=False)
glue("p1_art_n_heldout_texts", int(len(set(tix_h.tolist()))), display=False)
cols = CX.latent_columns(sae, H, shown.latent.tolist())
ctx_rows = []
for j, (_, r) in enumerate(shown.iterrows()):
    side = sae_art.classes_[1] if r.coef > 0 else sae_art.classes_[0]
    t = CX.top_contexts(cols[:, j], tok_h, tix_h, decode, n=p1.debug_n_contexts, before=p1.debug_context_tokens,
                        exclude=excl)
    ctx_rows.append(t.assign(latent=int(r.latent), pushes_toward=f"label {side}", weight=r.weight))
ctx = pd.concat(ctx_rows, ignore_index=True) if ctx_rows else pd.DataFrame()
display(Markdown(
    f"SAE probe (k = {p1.artifact_k}, `{spec.name}`): test AUC on the original texts below. "
    f"The {len(shown)} latents it relies on most, and their top-activating contexts over "
    f"{len(set(tix_h.tolist()))} held-out corpus texts ({len(tok_h):,} tokens; «» marks the top token; "
    f"{int(excl.sum())} tokens skipped as texts of this dataset):"))
display(show.table(ctx[["latent", "pushes_toward", "weight", "rank", "score", "context"]]) if len(ctx) else ctx)

# %% [markdown]
# ### The non-SAE route: the dense probe direction on every token

# %%
lr_art = LRProbe().fit(X_art[tr_a], split_art.y_train)
proj = H.numpy().astype(np.float64) @ lr_art.coef_  # [n_tokens]: toward label 1 when positive
sign = 1.0 if punct_label == int(lr_art.classes_[1]) else -1.0  # orient toward the class that ends in punctuation
dctx = CX.top_contexts(sign * proj, tok_h, tix_h, decode, n=p1.debug_n_contexts, before=p1.debug_context_tokens,
                       exclude=excl, positive_only=False)
tmeans = CX.token_means(sign * proj, tok_h, decode, min_count=p1.artifact_min_count, exclude=excl)
display(Markdown(
    f"P1's LR direction, oriented toward label {punct_label} (the class that more often ends in punctuation), "
    f"projected onto every held-out token. Top contexts, then the tokens with the highest mean projection "
    f"(seen at least {p1.artifact_min_count} times). P1's top tokens (the paper's, pile-10k, Gemma-2-9B): "
    + ", ".join(f"`{t}`" for t in AR.P1_ARTIFACT["dense_top_tokens"])
    + " (our corpus drops BOS, so `<bos>` cannot appear)."))
display(show.table(dctx[["rank", "score", "token", "context"]], digits=2))
display(show.table(tmeans.head(15), digits=2))

# %% [markdown]
# ### Is punctuation over-represented where they fire?
#
# For each shown latent and for the dense direction: the share of punctuation tokens among its top
# held-out tokens, with a bootstrap CI over those tokens, against the share of punctuation among all
# held-out tokens (the base rate).

# %%
lat_scores = {f"latent {int(l)}": cols[:, j] for j, l in enumerate(shown.latent)}
pt_lat, base = AR.top_token_punctuation(lat_scores, tok_h, decode, top_n=p1.artifact_top_tokens, exclude=excl,
                                        positive_only=True, pool={"SAE latents (pooled)": list(lat_scores)},
                                        n_boot=p1.debug_n_boot, seed=prof.seed)
pt_dense, _ = AR.top_token_punctuation({"dense LR direction": sign * proj}, tok_h, decode,
                                       top_n=p1.artifact_top_tokens, exclude=excl, n_boot=p1.debug_n_boot,
                                       seed=prof.seed)
pt = pd.concat([pt_lat, pt_dense], ignore_index=True)
display(show.table(pt, rename={"punct share [95 % CI]": "punctuation share [95 % CI]"}))
glue("p1_art_punct_base", base["share"], display=False)
pooled = pt.set_index("name").loc["SAE latents (pooled)"]
dense_row = pt.set_index("name").loc["dense LR direction"]
for key, r in (("sae", pooled), ("dense", dense_row)):
    glue(f"p1_art_punct_{key}", float(r.punct_share), display=False)
    glue(f"p1_art_punct_{key}_lo", float(r.lo), display=False)
    glue(f"p1_art_punct_{key}_hi", float(r.hi), display=False)
display(Markdown(
    f"**Verdict (P1: the latents fire on punctuation):** among the top tokens of the {len(shown)} latents the SAE "
    f"probe relies on, {pooled.punct_share:.1%} are punctuation (95 % CI [{pooled.lo:.1%}, {pooled.hi:.1%}]) against "
    f"a base rate of {base['share']:.1%} -- {AR.share_verdict(pooled.lo, pooled.hi, base['share'])}. "
    f"**The dense route:** {dense_row.punct_share:.1%} [{dense_row.lo:.1%}, {dense_row.hi:.1%}] -- "
    f"{AR.share_verdict(dense_row.lo, dense_row.hi, base['share'])}."))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.4 * len(pt)))
yy = np.arange(len(pt))
ax.errorbar(pt.punct_share, yy, xerr=[pt.punct_share - pt.lo, pt.hi - pt.punct_share], fmt="o", capsize=3)
ax.axvline(base["share"], color="k", ls=":", label="base rate (all held-out tokens)")
ax.set_yticks(yy, pt.name)
ax.set_xlabel(f"share of punctuation among the top {p1.artifact_top_tokens} tokens")
ax.legend()
plt.tight_layout()
show.figure(fig, "p1_art_punct_fig")

# %% [markdown]
# :::{glue:figure} p1_art_punct_fig
# :name: fig-18-punct
# :alt: Dots with 95 % CI bars: the share of punctuation among the top held-out tokens of each SAE latent, of the latents pooled and of the dense LR direction, with the corpus base rate as a dotted vertical line.
#
# Share of punctuation among the tokens where each latent (and the dense probe direction) is largest. Right of the dotted base rate, punctuation is over-represented.
# :::

# %% [markdown]
# ### The test: does the AUC fall without the final punctuation?

# %%
probes_art = {"LR (P1's)": (LRProbe(), "resid"),
              f"SAE probe, k = {p1.artifact_k}": (make_probe("sae", k=p1.artifact_k, ranking=p1.sae_ranking,
                                                             penalty=p1.sae_penalty), "sae")}
feats_art = {("resid", "orig"): X_art, ("resid", "stripped"): X_strip, ("sae", "orig"): Z_art, ("sae", "stripped"): Z_strip}
abl = AR.punctuation_ablation(probes_art, feats_art, split_art, n_boot=p1.debug_n_boot, seed=prof.seed)
display(show.table(abl.drop(columns="verdict")))
for key, (_, r) in zip(("lr", "sae"), abl.iterrows()):
    for c in ("auc_original", "auc_stripped", "auc_stripped_no_retrain", "drop", "drop_lo", "drop_hi"):
        glue(f"p1_art_{key}_{c}", float(r[c]), display=False)
display(Markdown("\n".join(
    f"* **Verdict, {r.probe}:** test AUC {r.auc_original:.3f} on the original texts, {r.auc_stripped:.3f} retrained on "
    f"the stripped texts: drop {r['drop']:+.3f}, 95 % CI [{r.drop_lo:+.3f}, {r.drop_hi:+.3f}] -- {r.verdict}. "
    f"(The original probe on stripped texts: {r.auc_stripped_no_retrain:.3f}, drop {r.drop_no_retrain:+.3f} "
    f"[{r.drop_no_retrain_lo:+.3f}, {r.drop_no_retrain_hi:+.3f}].)" for _, r in abl.iterrows())))

# %% tags=["hide-input"]
fig, ax = plt.subplots()
conds = [("auc_original", "original texts"), ("auc_stripped", "stripped (retrained)"),
         ("auc_stripped_no_retrain", "stripped (original probe)")]
x = np.arange(len(abl))
for i, (c, lab) in enumerate(conds):
    ax.bar(x + (i - 1) * 0.27, abl[c], 0.27, label=lab)
ax.set_xticks(x, abl.probe)
ax.set_ylabel("test AUC")
ax.set_ylim(0.4, 1.0)
ax.axhline(0.5, color="grey", lw=0.6, ls=":")
ax.legend(loc="lower right")
plt.tight_layout()
show.figure(fig, "p1_art_ablation_fig")

# %% [markdown]
# :::{glue:figure} p1_art_ablation_fig
# :name: fig-18-ablation
# :alt: Grouped bars of test AUC for the LR and the SAE probe on the original texts, on the stripped texts after retraining, and on the stripped texts with the original probe.
#
# Test AUC with and without the texts' final punctuation. A probe that reads how a text ends loses AUC on the stripped texts, most with the probe trained on the original texts.
# :::

# %% [markdown]
# ## Spurious features under covariate shift: pruning latents by relevance
#
# **P1's protocol** (the paper's): on each OOD parent a k = 8 SAE probe (Gemma Scope 131k, L0 114);
# an LLM and a human ranked the 8 latents for relevance to the task; removing them least relevant
# first, OOD AUC was tracked. P1's numbers (the paper's): on `66_living-room` the top latent
# ("living rooms / parlors") scores 0.998 validation AUC and 0.640 OOD; pruning moves OOD AUC
# little (living-room 0.59-0.64, glue_qnli 0.45-0.53, ispolitician 0.56 -> 0.64).
#
# **Our relevance proxy** (there is no LLM or human judge offline), by default ``shift``: how much a
# latent's firing frequency moves between the in-distribution inputs and the OOD inputs,
# |log(freq_ID / freq_OOD)| (add-one smoothed; OOD *labels* are never used). Why: the judges' notion
# of "spurious" for these shifts is a latent about the domain -- English words when the OOD file is
# French, a name order, a typo -- rather than about the label, and such a latent is exactly one whose
# firing changes with the domain. The alternative ``id_auc`` proxy (the latent's own AUC on the
# training rows) is computed beside it; it uses only ID labels, so it cannot see the shift. Each
# latent's top-activating held-out contexts, and the ID and OOD prompts it fires on most, are shown so
# a reader can judge the proxy. The non-SAE counterpart: the top 8 principal directions of the
# (standardised) ID training activations with P1's L2 LR on them, pruned by the same proxies (the
# shift of a direction: its standardised mean shift). Random pruning orders are the chance reference.
# Splits: P1's standard split of the ID rows (train; ID test) and the whole OOD file as the OOD test
# (P1 trains on all 1,024 ID rows and reports validation AUC in-distribution).

# %%
names_sp = list(p1.spurious_datasets or prof.ood_datasets)
other = "id_auc" if p1.spurious_proxy == "shift" else "shift"
res = {}
for name in tqdm(names_sp, desc="OOD parents", disable=no_bar(True)):
    ds = data.load_dataset(name, max_rows=prof.max_rows, seed=prof.seed)
    od = data.load_ood(name)
    X_id = dataset_activations(prof, name, progress=False).numpy()
    X_od = dataset_activations(prof, name, ood=True, progress=False).numpy()
    Z_id, Z_od = saes.encode(sae, X_id), saes.encode(sae, X_od)
    sp_split = standard_split(np.asarray(ds.labels), seed=prof.seed, min_test=p1.min_test)
    out = SP.spurious_experiment(Z_id, X_id, sp_split, Z_od, X_od, np.asarray(od.labels), k=p1.spurious_k,
                                 ranking=p1.ood_sae.ranking, penalty=p1.ood_sae.penalty,
                                 proxies=(p1.spurious_proxy, other), n_random=p1.spurious_random_orders,
                                 seed=prof.seed)
    lat = out["latents"].latent.to_numpy()
    zc_id, zc_od = SP.dense(Z_id[:, lat]), SP.dense(Z_od[:, lat])
    out["latents"]["top ID prompt"] = [(SP.top_prompts(zc_id[:, j], ds.texts, n=1) or [""])[0] for j in range(len(lat))]
    out["latents"]["top OOD prompt"] = [(SP.top_prompts(zc_od[:, j], od.texts, n=1) or [""])[0] for j in range(len(lat))]
    ccols = CX.latent_columns(sae, H, lat.tolist())
    out["latents"]["held-out contexts"] = [
        " ‖ ".join(CX.top_contexts(ccols[:, j], tok_h, tix_h, decode, n=p1.spurious_n_contexts,
                                   before=p1.debug_context_tokens).context) for j in range(len(lat))]
    out["n"] = (sp_split.num_train, sp_split.num_test, len(od.texts))
    res[name] = out
display(Markdown(f"{len(res)} OOD parents, k = {p1.spurious_k} latents each (`{spec.name}`, P1's OOD probe: "
                 f"{p1.ood_sae.ranking} ranking, {p1.ood_sae.penalty.upper()} LR)."))

# %% [markdown]
# ### Each chosen latent: alone in- and out-of-distribution, its shift, and where it fires
#
# Per OOD parent, the 8 latents in P1's rank order: the latent's own test AUC in-distribution and on
# the OOD file (oriented on the training rows), how often it fires on ID and OOD prompts, the proxy's
# pruning step (0 = pruned first), its top held-out corpus context(s) and the ID / OOD prompt it fires
# on most (the prompt's end: the probe reads the last token).

# %%
show_cols = ["latent", "rank", "coef", "auc_id", "auc_ood", "freq_id", "freq_ood", f"prune_step_{p1.spurious_proxy}",
             "held-out contexts", "top ID prompt", "top OOD prompt"]
for name, out in res.items():
    n_tr, n_te, n_od = out["n"]
    display(Markdown(f"**`{name}`** ({n_tr} train / {n_te} ID test / {n_od} OOD rows)"))
    display(show.table(out["latents"][show_cols], rename={f"prune_step_{p1.spurious_proxy}": f"pruning step ({p1.spurious_proxy})",
                                                         "auc_id": "AUC ID", "freq_id": "freq ID"}))

# %% tags=["hide-input"]
all_lat = pd.concat([o["latents"].assign(dataset=n) for n, o in res.items()], ignore_index=True)
fig, ax = plt.subplots(figsize=(5.2, 4.2))
sc = ax.scatter(all_lat.auc_id, all_lat.auc_ood, c=all_lat["shift"], cmap="viridis", s=22)
ax.plot([0.3, 1], [0.3, 1], color="grey", lw=0.6, ls=":")
ax.set_xlabel("latent alone: ID test AUC")
ax.set_ylabel("latent alone: OOD AUC")
plt.colorbar(sc, label="ID->OOD firing shift |log ratio|")
plt.tight_layout()
show.figure(fig, "p1_spur_latents_fig")

# %% [markdown]
# :::{glue:figure} p1_spur_latents_fig
# :name: fig-18-latents
# :alt: Scatter of every chosen latent's own ID test AUC against its OOD AUC, coloured by how much its firing frequency shifts between ID and OOD inputs, with the diagonal.
#
# Each chosen latent alone, in- against out-of-distribution; the colour is the relevance proxy (firing shift). Latents far below the diagonal lose their signal under the shift.
# :::

# %%
top0 = all_lat[all_lat["rank"] == 0]
glue("p1_spur_top_latent_auc_id_mean", float(top0.auc_id.mean()), display=False)
glue("p1_spur_top_latent_auc_ood_mean", float(top0.auc_ood.mean()), display=False)
lr_row = top0[top0.dataset == "66_living-room"]
if len(lr_row):
    glue("p1_spur_livingroom_top_auc_id", float(lr_row.auc_id.iloc[0]), display=False)
    glue("p1_spur_livingroom_top_auc_ood", float(lr_row.auc_ood.iloc[0]), display=False)
ref = SP.P1_SPURIOUS["top_latent"]["66_living-room"]
display(Markdown(
    f"Each parent's top-ranked latent alone: mean ID test AUC {top0.auc_id.mean():.3f}, mean OOD AUC "
    f"{top0.auc_ood.mean():.3f} over {len(top0)} parents"
    + (f"; on `66_living-room` {lr_row.auc_id.iloc[0]:.3f} ID and {lr_row.auc_ood.iloc[0]:.3f} OOD" if len(lr_row) else "")
    + f" (P1, the paper's: living-room's top latent {ref['val_auc']:.3f} validation AUC, {ref['ood_auc']:.3f} OOD)."))

# %% [markdown]
# ### Pruning curves: OOD AUC as the least relevant features go

# %% tags=["hide-input"]
curves = pd.concat([o["curves"].assign(dataset=n) for n, o in res.items()], ignore_index=True)
ncol = min(4, len(res))
nrow = int(np.ceil(len(res) / ncol))
fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False, sharex=True)
style = {("SAE latents", p1.spurious_proxy): dict(color="C0", marker="o"),
         ("SAE latents", other): dict(color="C0", ls="--", marker="."),
         ("SAE latents", "random"): dict(color="C0", ls=":"),
         ("PCA directions", p1.spurious_proxy): dict(color="C1", marker="s"),
         ("PCA directions", other): dict(color="C1", ls="--", marker="."),
         ("PCA directions", "random"): dict(color="C1", ls=":")}
for ax, (name, g) in zip(axes.ravel(), curves.groupby("dataset", sort=False)):
    for (feats, order), gg in g.groupby(["features", "order"], sort=False):
        ax.plot(gg.n_kept, gg.auc_ood, label=f"{feats}, {order}", **style[(feats, order)])
    rng_ = SP.P1_SPURIOUS["ood_auc_range"].get(name)
    if rng_:
        ax.axhspan(*rng_, color="grey", alpha=0.2, label="P1's OOD AUC range (paper)")
    ax.set_title(name, fontsize=8)
    if not ax.xaxis_inverted():  # shared x: invert once
        ax.invert_xaxis()
    ax.axhline(0.5, color="grey", lw=0.5, ls=":")
for ax in axes.ravel()[len(res):]:
    ax.axis("off")
for ax in axes[-1]:
    ax.set_xlabel("features kept")
for ax in axes[:, 0]:
    ax.set_ylabel("OOD AUC")
h, l = axes.ravel()[0].get_legend_handles_labels()
fig.legend(h, l, fontsize=7, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02 - 0.04 * nrow))
plt.tight_layout()
show.figure(fig, "p1_spur_pruning_fig")

# %% [markdown]
# :::{glue:figure} p1_spur_pruning_fig
# :name: fig-18-pruning
# :alt: One panel per OOD parent: OOD AUC against the number of features kept, for SAE latents and PCA directions pruned by the relevance proxies and at random, with P1's OOD AUC range as a grey band where P1 reports one.
#
# OOD AUC as the least relevant features are pruned (read right to left: fewer features kept). Flat curves: pruning by relevance changes little.
# :::

# %% [markdown]
# ### Does pruning by relevance change the OOD AUC?
#
# Per parent: OOD AUC with the proxy-pruned probe at the profile's number of kept features minus the
# full probe's, for the SAE latents (by the proxy, and by random orders) and the PCA directions; mean
# over parents with a bootstrap CI over parents (few units: a rough interval).

# %%
kk = p1.spurious_prune_to
rows = []
for name, g in curves.groupby("dataset", sort=False):
    row = {"dataset": name}
    for feats, tag in (("SAE latents", "sae"), ("PCA directions", "pca")):
        for order in (p1.spurious_proxy, other, "random"):
            c = g[(g.features == feats) & (g.order == order)].sort_values("n_removed")
            if len(c):
                row[f"{tag}_full"] = float(c.auc_ood.iloc[0])
                row[f"{tag}_{order}"] = SP.prune_delta(c, kk)
                row[f"{tag}_id_full"] = float(c.auc_id.iloc[0])
    rng_ = SP.P1_SPURIOUS["ood_auc_range"].get(name)
    row["P1 OOD AUC range (paper)"] = f"{rng_[0]:.2f}-{rng_[1]:.2f}" if rng_ else ""
    rows.append(row)
summ = pd.DataFrame(rows)
display(Markdown(f"OOD AUC of the full k = {p1.spurious_k} probes (`*_full`) and the change when pruned to {kk} "
                 f"features kept, per order:"))
display(show.table(summ))
ci_sae = bootstrap_ci(summ[f"sae_{p1.spurious_proxy}"], n_boot=p1.debug_n_boot, seed=prof.seed)
ci_pca = bootstrap_ci(summ[f"pca_{p1.spurious_proxy}"], n_boot=p1.debug_n_boot, seed=prof.seed)
vs_rand = paired_test(summ[f"sae_{p1.spurious_proxy}"], summ["sae_random"], n_boot=p1.debug_n_boot, seed=prof.seed) \
    if "sae_random" in summ else None
for key, ci in (("sae", ci_sae), ("pca", ci_pca)):
    glue(f"p1_spur_{key}_delta", ci.mean, display=False)
    glue(f"p1_spur_{key}_delta_lo", ci.lo, display=False)
    glue(f"p1_spur_{key}_delta_hi", ci.hi, display=False)
glue("p1_spur_sae_full_mean", float(summ.sae_full.mean()), display=False)


def _move(ci):
    if not (np.isfinite(ci.lo) and np.isfinite(ci.hi)):
        return "too few parents to say"
    if ci.lo > 0:
        return "pruning raises the OOD AUC (the CI lies above 0)"
    if ci.hi < 0:
        return "pruning lowers the OOD AUC (the CI lies below 0)"
    return "no detectable change (the CI contains 0)"


display(Markdown(
    f"**Verdict (P1: pruning by relevance moves OOD AUC little):** pruning the SAE probe from {p1.spurious_k} to {kk} "
    f"latents by the `{p1.spurious_proxy}` proxy changes the OOD AUC by {ci_sae.mean:+.3f} on average over "
    f"{ci_sae.n} parents (95 % CI [{ci_sae.lo:+.3f}, {ci_sae.hi:+.3f}]) -- {_move(ci_sae)}"
    + (f"; against random pruning orders: {vs_rand['mean_diff']:+.3f} [{vs_rand['ci_lo']:+.3f}, {vs_rand['ci_hi']:+.3f}]"
       if vs_rand else "")
    + f". **The non-SAE counterpart** (the same pruning of {p1.spurious_k} principal directions): "
    f"{ci_pca.mean:+.3f} [{ci_pca.lo:+.3f}, {ci_pca.hi:+.3f}] -- {_move(ci_pca)}. Full probes, mean OOD AUC: SAE "
    f"{summ.sae_full.mean():.3f}, PCA {summ.pca_full.mean():.3f}."))

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under
# Getting started); each verdict is computed from our 95 % CI by the rule named in its line.

# %% tags=["hide-input"]
pc = D.P1_COLA["acc_disputed_vs_ensemble"]  # P1's accuracies on the 220 disputed sentences (the paper's)
recorded = [claims.record_claim(
    prof, "p1-cola-sae-vs-lr", paper="P1", page="18_dataset_debugging", rule=claims.direction(+1),
    claim="On the CoLA sentences whose label the LLM judges dispute, the SAE probe (k = 128) agrees with the judges "
          "more often than the LR probe (SAE minus LR accuracy against the judges; ours: the better-fitting LR).",
    paper_value=round(pc["sae_k128"] - pc["baseline"], 3), ours=diff, ci_lo=lo, ci_hi=hi)]  # P1's: 0.564 - 0.459
for key, r, route in (("sae-latents", pooled, "the SAE latents the probe relies on fire"),
                      ("dense-direction", dense_row, "the dense LR direction projects highest")):
    recorded.append(claims.record_claim(
        # P1 reports no number here (a qualitative finding: its latents flag punctuation / periods, its dense
        # direction tops at `!).`, `”.`, `.”`, `."`): paper_value None
        prof, f"p1-art-{key}-punctuation", paper="P1", page="18_dataset_debugging", rule=claims.direction(+1),
        claim=f"AI-vs-human text: {route} on punctuation (punctuation share of the top held-out tokens minus the "
              "corpus base rate).",
        paper_value=None, ours=float(r.punct_share) - base["share"], ci_lo=float(r.lo) - base["share"],
        ci_hi=float(r.hi) - base["share"]))
display(Markdown("\n\n".join(claims.claim_markdown(r) for r in recorded)))
show.verdict_box(recorded, findings=[
    f"**Spurious latents under shift** (P1: pruning by relevance moves OOD AUC little): pruning the SAE probe from "
    f"{p1.spurious_k} to {kk} latents by the `{p1.spurious_proxy}` proxy changes OOD AUC by {ci_sae.mean:+.3f} "
    f"(95 % CI [{ci_sae.lo:+.3f}, {ci_sae.hi:+.3f}], {ci_sae.n} parents) -- {_move(ci_sae)}."])
