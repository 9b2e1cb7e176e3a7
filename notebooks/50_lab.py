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
# # Lab: probe your own texts, with and without an SAE (90 minutes)
#
# In this lab you write a handful of sentences yourself and follow them through the whole pipeline of
# the book: the model's activation at the **last token** of each sentence, a **logistic-regression
# probe** on those activations (P1's baseline), a **sparse probe on SAE latents** (P1's SAE probe)
# with the latents it chooses and the contexts that make those latents fire, and finally **two SAEs
# that differ only in their seed** (P2): do they learn the same latents, and does your probe pick the
# same ones? It is sized for a laptop CPU on the `cpu` profile: the model and the SAEs are built on
# first use and cached, and this page's measured compute time is on {doc}`../timings`.
#
# **Checkpoints.** After each step a box says what you should see ("you should see a test AUC ≈ …").
# The numbers in those boxes are the ones this page computed when the book was built (with the profile
# named in the note above), not typed in; with the same texts and profile your run gives the same
# numbers, since every step is seeded. With your own texts they will differ: that is the point.
#
# **Exercises** come in three kinds: *predict* before you run, *change one parameter* and explain,
# and *extend*. Solutions are folded; open them only after you have tried. Every solution that
# contains code runs when the book is built, so it cannot go stale.
#
# | part | what you do | minutes |
# | --- | --- | --- |
# | 1 | write texts, get their activations | 15 |
# | 2 | logistic-regression probe, a label-shuffle control | 20 |
# | 3 | SAE probe: its latents and their contexts | 25 |
# | 4 | two seeds of one SAE: shared latents, shared probe latents | 20 |
# | 5 | wrap-up | 10 |

# %% tags=["parameters"]
profile = "cpu"

# %%
import resource
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue
from sklearn.decomposition import PCA

from saeprobe import load_profile, saes, show
from saeprobe.core.activations import text_activations
from saeprobe.core.models import load_profile_model
from saeprobe.p1.texts import fit_probe, token_codes
from saeprobe.p2 import analysis, matching, seeds
from saeprobe.p2.analysis import format_ci as ci

T0 = time.perf_counter()
prof = load_profile(profile)
show.setup(prof)
THR = float(prof.p2.threshold)   # P2's cosine threshold for a shared latent
K = int(prof.p2.probe_k[0])      # latents the SAE probe keeps (the profile's P2 probe k)
N_EX = int(prof.p2.n_examples)   # top-activating contexts shown per latent
N_BOOT = int(prof.p2.n_boot)
pd.set_option("display.max_colwidth", 110)
model = load_profile_model(prof)
print(f"profile {prof.name}: {prof.description}")
print(f"layer {prof.main_layer} ({prof.hook_name()}), contexts up to {prof.max_len} tokens, SAE probe k = {K}")

# %% [markdown]
# ## Part 1 — your texts and their activations
#
# A probe needs labelled examples. Here: is a sentence **about food** (label 1) or about something
# else (label 0)? The lists below are a starting point: replace them with your own. Keep the two
# classes the same size and write at least a dozen of each; the test set is a quarter of them.

# %%
food = [
    "I baked a loaf of sourdough bread this morning",
    "She ordered a bowl of spicy ramen",
    "The soup needs more salt and pepper",
    "We grilled corn and peppers for dinner",
    "He spread butter on the warm toast",
    "The pasta was tossed in garlic and olive oil",
    "My grandmother makes the best apple pie",
    "They shared a large pepperoni pizza",
    "Slice the onions thinly before frying them",
    "The cheese platter had brie and cheddar",
    "I had oatmeal with honey for breakfast",
    "The chef roasted the chicken with lemon",
    "Add two eggs and a cup of flour",
    "The curry simmered for an hour",
    "We picked strawberries and made jam",
    "He eats pancakes with maple syrup",
    "The salad came with a tangy vinaigrette",
    "Our neighbours brought over a tray of cookies",
    "Stir the risotto until the rice is creamy",
    "She packed sandwiches and fruit for lunch",
    "The steak was cooked medium rare",
    "Fresh basil makes the tomato sauce sing",
    "He peeled the potatoes for the stew",
    "The bakery sells croissants still warm from the oven",
    "We tried dumplings at the night market",
    "Whisk the cream until it forms soft peaks",
    "The tacos were filled with beans and salsa",
    "I always add cinnamon to my porridge",
    "The lemon cake was moist and sweet",
    "They fried fish and chips by the harbour",
    "Sprinkle the popcorn with a little sugar",
    "The noodles were served in a rich broth",
]
other = [
    "The train to Berlin leaves at noon",
    "She painted the fence a pale blue",
    "The meeting was moved to Thursday",
    "He fixed the flat tire on his bike",
    "The library closes early on Sundays",
    "Our team won the football match",
    "It rained all afternoon in the valley",
    "The new phone has a larger screen",
    "They hiked to the top of the hill",
    "I forgot my umbrella at the office",
    "The museum opened a new exhibit",
    "She practices the violin every evening",
    "The printer ran out of paper again",
    "He is reading a novel about sailors",
    "The kids built a sandcastle on the beach",
    "We watched the stars from the roof",
    "The bus was late because of the snow",
    "My sister is learning to drive",
    "The old bridge was closed for repairs",
    "He wrote a letter to his cousin",
    "The cat slept on the windowsill all day",
    "They moved into a flat near the station",
    "The concert starts at eight tonight",
    "She lost her keys somewhere in the park",
    "The election results were announced late",
    "I need to charge my laptop",
    "The garden fence blew down in the storm",
    "He swam three laps before work",
    "The teacher handed back the exams",
    "We repainted the bedroom walls",
    "The plane landed ten minutes early",
    "Her brother plays chess on Fridays",
]
texts = food + other
labels = [1] * len(food) + [0] * len(other)
print(f"{len(texts)} texts: {sum(labels)} about food, {len(labels) - sum(labels)} not")

# %% [markdown]
# One forward pass per text gives the residual stream at layer `main_layer`; P1 keeps the vector at
# the **last token** only. `text_activations` caches the result by a digest of your texts, so the
# second call costs nothing.

# %% mystnb={"figure": {"caption": "Your texts' last-token activations at the main layer, projected on their first two principal components and coloured by label.", "name": "fig-50-pca"}, "image": {"alt": "Scatter plot of the texts in the plane of the first two principal components, food texts and other texts in two colours."}}
X = text_activations(prof, texts, model=model)   # FloatTensor [n_texts, d_model]
print("activations:", tuple(X.shape))
Z = (X.numpy() - X.numpy().mean(0)) / (X.numpy().std(0) + 1e-6)
xy = PCA(n_components=2, random_state=prof.seed).fit_transform(Z)
fig, ax = plt.subplots(figsize=(5.5, 4))
for lab, name in ((1, "food"), (0, "other")):
    m = np.asarray(labels) == lab
    ax.scatter(xy[m, 0], xy[m, 1], label=name, s=25, alpha=0.8)
ax.set_xlabel("PC 1 (z-scored activations)")
ax.set_ylabel("PC 2")
ax.set_title(f"last-token activations, layer {prof.main_layer}")
ax.legend()
plt.tight_layout()
plt.show()
glue("lab_n_texts", len(texts), display=False)
glue("lab_d_model", int(X.shape[1]), display=False)

# %% [markdown]
# ```{admonition} Checkpoint 1
# You should see activations of shape ({glue:text}`lab_n_texts`, {glue:text}`lab_d_model`): one
# {glue:text}`lab_d_model`-dimensional vector per text.
# ```
#
# :::{exercise} Predict: which token?
# :label: lab-ex-last-token
#
# The vector is taken at the *last* token of each sentence. For "The curry simmered for an hour"
# that token is "hour", which says nothing about food. Predict: can a linear probe still tell the
# classes apart from that single vector? Why might it?
# :::
#
# :::{solution} lab-ex-last-token
# :class: dropdown
#
# Yes. By a middle layer the residual stream at the last position carries a summary of the whole
# prefix (attention has mixed earlier tokens in), which is why P1 probes the last token at all. The
# PCA plot above often already separates the classes along one direction. A probe at layer 0
# (embeddings only) would not have that summary.
# :::

# %% [markdown]
# ## Part 2 — a logistic-regression probe
#
# `fit_probe` splits your texts with P1's rule (class-balanced, seeded; a quarter of a small set is
# held out for the test), selects the regularisation on validation folds of the training part, refits
# and reports the **test ROC-AUC**: the probability that a random food sentence scores above a random
# other one. The CI is a percentile bootstrap over the test texts.

# %%
lr = fit_probe(prof, texts, labels, progress=False)
lr_lo, lr_hi = lr.auc_ci(n_boot=N_BOOT, seed=prof.seed)
print(lr)
print(f"test AUC {lr.test_auc:.3f} {ci(lr_lo, lr_hi)} on {lr.split.num_test} test texts")
glue("lab_lr_auc", lr.test_auc, display=False)
glue("lab_lr_lo", lr_lo, display=False)
glue("lab_lr_hi", lr_hi, display=False)
glue("lab_n_train", lr.split.num_train, display=False)
glue("lab_n_test", lr.split.num_test, display=False)

# %% [markdown]
# ```{admonition} Checkpoint 2
# You should see a test AUC ≈ {glue:text}`lab_lr_auc:.2f` (95 % CI {glue:text}`lab_lr_lo:.2f` to
# {glue:text}`lab_lr_hi:.2f`) with {glue:text}`lab_n_train` training and {glue:text}`lab_n_test` test
# texts.
# ```
#
# :::{exercise} Predict, then change one thing: shuffle the labels
# :label: lab-ex-shuffle
#
# Shuffle `labels` at random (keeping the number of each class) and fit the probe again. Predict the
# test AUC before you run it. Then explain why this *control* matters whenever a probe looks good.
# :::
#
# ```{solution-start} lab-ex-shuffle
# :class: dropdown
# ```

# %%
rng = np.random.default_rng(prof.seed)
shuffled = rng.permutation(labels)
control = fit_probe(prof, texts, shuffled, progress=False)
c_lo, c_hi = control.auc_ci(n_boot=N_BOOT, seed=prof.seed)
print(f"shuffled labels: test AUC {control.test_auc:.3f} {ci(c_lo, c_hi)}")
glue("lab_shuffle_auc", control.test_auc, display=False)

# %% [markdown]
# With random labels there is nothing to learn, so the test AUC should sit near 0.5, inside a wide
# interval (here {glue:text}`lab_shuffle_auc:.2f`). A probe that scores well on shuffled labels
# would be memorising something about the split, not reading the concept. The "control tasks" of
# {cite:t}`hewitt2019control` make the same point for probes in general.
#
# ```{solution-end}
# ```

# %% [markdown]
# ## Part 3 — a sparse probe on SAE latents
#
# An SAE rewrites each activation as a sparse combination of learned directions (*latents*). P1's
# SAE probe ranks the latents by how differently they fire on the two classes **in the training
# texts**, keeps the top $k$, and fits an L1-regularised logistic regression on them. Its appeal is
# that you can look at what the chosen latents respond to.

# %%
spec = saes.select_specs(prof, arch="topk", seed=0)[0]
sae = saes.get_sae(prof, spec, model=model, progress=False)
sp_probe = fit_probe(prof, texts, labels, sae=sae, k=K, progress=False)
sp_lo, sp_hi = sp_probe.auc_ci(n_boot=N_BOOT, seed=prof.seed)
assert np.array_equal(sp_probe.split.test_idx, lr.split.test_idx)   # same test texts as the LR probe
diff, d_lo, d_hi = analysis.paired_auc_diff(lr.split.y_test, lr.test_score, sp_probe.test_score,
                                            n_boot=N_BOOT, seed=prof.seed)
print(f"SAE {spec.name}: {sp_probe}")
print(f"LR minus SAE probe: {diff:+.3f} {ci(d_lo, d_hi)} (paired bootstrap over the test texts)")
if not np.isfinite(d_lo):
    verdict = "the test set is too small for a confidence interval on the difference"
elif d_lo > 0:
    verdict = "the LR probe is better than the SAE probe on these texts (the CI excludes 0)"
elif d_hi < 0:
    verdict = "the SAE probe is better than the LR probe on these texts (the CI excludes 0)"
else:
    verdict = "the two probes cannot be told apart on this many test texts (the CI includes 0)"
glue("lab_sae_name", spec.name, display=False)
glue("lab_k", K, display=False)
glue("lab_sae_auc", sp_probe.test_auc, display=False)
glue("lab_sae_lo", sp_lo, display=False)
glue("lab_sae_hi", sp_hi, display=False)
glue("lab_diff", diff, display=False)
glue("lab_diff_ci", ci(d_lo, d_hi), display=False)
glue("lab_verdict", verdict, display=False)

# %% [markdown]
# ```{admonition} Checkpoint 3
# With SAE {glue:text}`lab_sae_name` and $k$ = {glue:text}`lab_k` you should see a test AUC ≈
# {glue:text}`lab_sae_auc:.2f` (95 % CI {glue:text}`lab_sae_lo:.2f` to {glue:text}`lab_sae_hi:.2f`).
# LR minus SAE probe: {glue:text}`lab_diff:+.3f` {glue:text}`lab_diff_ci`, so
# {glue:text}`lab_verdict`.
# ```
#
# Which latents did it choose, and how do they fire on your texts (last token, training and test
# texts together)?

# %%
codes = saes.encode(sae, X)                  # sparse [n_texts, d_sae]
dense = codes[:, sp_probe.latents].toarray()
y = np.asarray(labels)
chosen = pd.DataFrame({
    "rank": range(1, len(sp_probe.latents) + 1),
    "latent": sp_probe.latents,
    "mean on food": dense[y == 1].mean(0),
    "mean on other": dense[y == 0].mean(0),
    "fires on food": (dense[y == 1] > 0).mean(0),
    "fires on other": (dense[y == 0] > 0).mean(0),
})
display(show.table(chosen, caption="The probe's latents, in the order it chose them"))

# %% mystnb={"figure": {"caption": "The SAE probe's chosen latents, one panel each: their activation at the last token on food texts and on the others.", "name": "fig-50-latents"}, "image": {"alt": "Strip plots, one per chosen latent, of the latent's activation on food texts and on other texts."}}
n_plot = min(4, len(sp_probe.latents))
fig, axes = plt.subplots(1, n_plot, figsize=(3 * n_plot, 3), sharey=False, squeeze=False)
for ax, j in zip(axes[0], range(n_plot)):
    for lab, name in ((1, "food"), (0, "other")):
        v = dense[y == lab, j]
        ax.scatter(np.full(len(v), lab) + rng.uniform(-0.15, 0.15, len(v)), v, s=14, alpha=0.7, label=name)
    ax.set_xticks([1, 0], ["food", "other"])
    ax.set_title(f"latent {sp_probe.latents[j]} (rank {j + 1})")
axes[0][0].set_ylabel("activation at the last token")
plt.tight_layout()
plt.show()

# %% [markdown]
# A latent is easier to read from the contexts where it fires most. First in the SAE's **held-out
# corpus** (text it never trained on; the strongest token in «»), then in **your own texts**, token
# by token.

# %%
hook = prof.hook_name(spec.layer)
corpus = saes.token_corpus(prof, [hook], model, progress=False)[hook]
held = corpus.heldout.numpy()
shown = sp_probe.latents[:min(3, len(sp_probe.latents))]
decode = model.tokenizer.decode
top_corpus = analysis.top_examples(saes.encode(sae, corpus.test), shown, corpus.token_ids.numpy()[held],
                                   corpus.text_index.numpy()[held], decode, n=N_EX)
display(Markdown("**Held-out corpus**"))
display(show.table(top_corpus, digits=2))
own_codes, own_ids, own_tix = token_codes(prof, texts, sae, model=model)
top_own = analysis.top_examples(own_codes, shown, own_ids, own_tix, decode, n=N_EX, before=12, after=3)
display(Markdown("**Your texts**"))
display(show.table(top_own, digits=2))

# %% [markdown]
# :::{exercise} Predict, then change one parameter: a single latent
# :label: lab-ex-k1
#
# Predict the test AUC of the SAE probe with $k = 1$, the single most different latent. Then run it.
# When would one latent be enough, and what would that tell you about the SAE?
# :::
#
# ```{solution-start} lab-ex-k1
# :class: dropdown
# ```

# %%
one = fit_probe(prof, texts, labels, sae=sae, k=1, progress=False)
print(f"k = 1 (latent {one.latents[0]}): test AUC {one.test_auc:.3f} {ci(*one.auc_ci(n_boot=N_BOOT, seed=prof.seed))}")
glue("lab_k1_auc", one.test_auc, display=False)

# %% [markdown]
# Here one latent gives a test AUC of {glue:text}`lab_k1_auc:.2f`. If a single latent nearly matches
# the full probe, the SAE has a latent that tracks your concept on its own, and its top contexts
# (above) are a fair description of what the probe reads. If it falls far short, the concept is
# spread over several latents, or the SAE split it in a way that no single latent follows. P1 found
# that SAE probes with small $k$ trail the dense baseline on most datasets.
#
# ```{solution-end}
# ```

# %% [markdown]
# :::{exercise} Extend: add a baseline
# :label: lab-ex-baseline
#
# P1 compares SAE probes against several baselines, not only logistic regression. Fit one more
# baseline on the same texts (`fit_probe(..., method="pca")` or `"knn"`) and add it to the comparison.
# Which would you report, and how would you choose without looking at the test AUCs?
# :::
#
# ```{solution-start} lab-ex-baseline
# :class: dropdown
# ```

# %%
rows = []
for name, res in (("lr_z", lr), ("pca", fit_probe(prof, texts, labels, method="pca", progress=False)),
                  ("knn", fit_probe(prof, texts, labels, method="knn", progress=False)), (f"sae k={K}", sp_probe)):
    lo, hi = res.auc_ci(n_boot=N_BOOT, seed=prof.seed)
    rows.append({"probe": name, "val AUC": res.val_auc, "test AUC": res.test_auc, "test 95% CI": ci(lo, hi)})
display(show.table(pd.DataFrame(rows)))

# %% [markdown]
# Choose on the **validation** AUC (the column P1's quiver of arrows uses), then report that probe's
# test AUC; picking the best test AUC afterwards would overstate it. With this few test texts the CIs
# overlap widely, so the honest statement is usually "no detectable difference".
#
# ```{solution-end}
# ```

# %% [markdown]
# ## Part 4 — two seeds of one small SAE
#
# P2 trains SAEs that differ **only in their random seed** and matches their latents one to one
# (the Hungarian algorithm on the cosine of decoder directions, and separately of encoder
# directions). A latent is **shared** when both matched cosines exceed {glue:text}`lab_thr`. Here
# the profile's narrowest TopK SAE with two seeds.

# %%
groups = seeds.seed_groups(saes.sae_specs(prof))
topk = {g: v for g, v in groups.items() if v[0].arch == "topk" and v[0].layer == prof.main_layer}
pair_label = min(topk, key=lambda g: topk[g][0].width)
spec_a, spec_b = topk[pair_label][:2]
sae_a = saes.get_sae(prof, spec_a, model=model, progress=False)
sae_b = saes.get_sae(prof, spec_b, model=model, progress=False)
res = matching.match(sae_a, sae_b, threshold=THR, cache_dir=seeds.match_cache_dir(prof))
print(f"{spec_a.name} vs {spec_b.name}: shared {res.shared_fraction:.3f}, decoder-only {res.decoder_shared_fraction:.3f}, "
      f"mean matched decoder cosine {res.mean_decoder_cos:.3f}")
pa = fit_probe(prof, texts, labels, sae=sae_a, k=K, progress=False)
pb = fit_probe(prof, texts, labels, sae=sae_b, k=K, progress=False)
ov = analysis.probe_latent_overlap(pa.latents, pb.latents, res)
sd, sd_lo, sd_hi = analysis.paired_auc_diff(pa.split.y_test, pa.test_score, pb.test_score, n_boot=N_BOOT, seed=prof.seed)
display(show.table(pd.DataFrame([
    {"seed": spec_a.seed, "SAE": spec_a.name, "test AUC": pa.test_auc, "chosen latents": pa.latents},
    {"seed": spec_b.seed, "SAE": spec_b.name, "test AUC": pb.test_auc, "chosen latents": pb.latents},
])))

# %% mystnb={"figure": {"caption": "Decoder cosine of every latent of one seed with its Hungarian partner in the other seed (grey), the latents your probe chose (red lines) and P2's threshold (dashed).", "name": "fig-50-seeds"}, "image": {"alt": "Histogram of matched decoder cosines between two seeds' latents, with vertical lines at the probe's latents and at the threshold."}}
fig, ax = plt.subplots(figsize=(6.5, 3.4))
cos = res.decoder_cos[np.isfinite(res.decoder_cos)]
ax.hist(cos, bins=40, range=(-0.2, 1), color="0.6", label="all latents of seed %d" % spec_a.seed)
for i, j in enumerate(pa.latents):
    ax.axvline(res.decoder_cos[j], color="C3", lw=1.2, label="latents your probe chose" if i == 0 else None)
ax.axvline(THR, ls="--", c="k", lw=1, label=f"threshold {THR}")
ax.set_xlabel(f"decoder cosine with its Hungarian partner in seed {spec_b.seed}")
ax.set_ylabel("latents")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
glue("lab_thr", THR, display=False)
glue("lab_pair", pair_label, display=False)
glue("lab_shared", res.shared_fraction, display=False)
glue("lab_shared_dec", res.decoder_shared_fraction, display=False)
glue("lab_chosen_shared", ov["chosen_shared"], display=False)
glue("lab_overlap", ov["overlap"], display=False)
glue("lab_overlap_chance", ov["chance"], display=False)
glue("lab_seed_diff", sd, display=False)
glue("lab_seed_diff_ci", ci(sd_lo, sd_hi), display=False)
seed_verdict = ("the two seeds' probes cannot be told apart on this many test texts (the CI includes 0)"
                if not (sd_lo > 0 or sd_hi < 0) else "the two seeds' probes differ (the CI excludes 0)")
if not np.isfinite(sd_lo):
    seed_verdict = "the test set is too small for a confidence interval on the difference"
glue("lab_seed_verdict", seed_verdict, display=False)
glue("lab_pair_tokens", int(sae_a.saeprobe_manifest["tokens_seen"]), display=False)
glue("lab_p2_tok_lo", analysis.P2_PAPER["shared_by_tokens"][0.8e9], display=False)
glue("lab_p2_tok_hi", analysis.P2_PAPER["shared_by_tokens"][80e9], display=False)

# %% [markdown]
# ```{admonition} Checkpoint 4
# For {glue:text}`lab_pair` you should see a shared fraction ≈ {glue:text}`lab_shared:.2f`
# (decoder-only {glue:text}`lab_shared_dec:.2f`). Of the latents your probe chose with the first
# seed, a fraction {glue:text}`lab_chosen_shared:.2f` are shared, and
# {glue:text}`lab_overlap:.2f` have their partner among the second seed's choices (chance:
# {glue:text}`lab_overlap_chance:.3f`). Test AUC, first seed minus second:
# {glue:text}`lab_seed_diff:+.3f` {glue:text}`lab_seed_diff_ci`, so {glue:text}`lab_seed_verdict`.
# ```
#
# These SAEs saw {glue:text}`lab_pair_tokens:,d` training tokens each. For scale, the paper's numbers
# (P2, TopK on Pythia-160m): a shared fraction of {glue:text}`lab_p2_tok_lo:.2f` after 0.8 billion
# training tokens and {glue:text}`lab_p2_tok_hi:.2f` after 80 billion; sharing grows with training.
#
# :::{exercise} Predict: are the probe's latents the stable ones?
# :label: lab-ex-stable
#
# Before reading the checkpoint: will the latents your probe chose be shared *more* often than an
# average latent of the SAE, or less? Argue from how often they fire.
# :::
#
# :::{solution} lab-ex-stable
# :class: dropdown
#
# An argument for *more*: the latents a probe picks fire on many of your texts, and latents that fire
# often have had more training signal, so both seeds had reason to learn them. An argument for
# *less*: a probe picks the latents that separate *your* two classes, which can be narrow, rarely
# used directions. The checkpoint settles it for this SAE: compare the chosen latents' shared
# fraction ({glue:text}`lab_chosen_shared:.2f`) with the base rate ({glue:text}`lab_shared:.2f`).
# Whether the *same* latents are chosen by both seeds is a separate question (the overlap against
# chance): an explanation read off a probe's latents is only as stable as that overlap.
# :::
#
# :::{exercise} Extend: how sharp is "shared"?
# :label: lab-ex-sweep
#
# The threshold {glue:text}`lab_thr` is P2's choice. Plot the shared fraction as the threshold moves
# from 0 to 1 (`res.sweep()`), and mark where your probe's latents fall.
# :::
#
# ```{solution-start} lab-ex-sweep
# :class: dropdown
# ```

# %% mystnb={"figure": {"caption": "The fraction of latents shared between the two seeds as the threshold t moves, with both cosines or the decoder's alone; ticks: your probe's latents.", "name": "fig-50-sweep"}, "image": {"alt": "Two falling curves of the shared fraction against the threshold, ticks along the bottom at the decoder cosines of the probe's latents, a dashed line at P2's threshold."}}
sw = res.sweep()
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(sw.threshold, sw.shared, label="decoder AND encoder > t")
ax.plot(sw.threshold, sw.shared_decoder, label="decoder > t")
ax.scatter(res.decoder_cos[pa.latents], np.full(len(pa.latents), 0.02), marker="|", s=200, c="C3",
           label="your probe's latents (decoder cos)")
ax.axvline(THR, ls="--", c="k", lw=1)
ax.set_xlabel("threshold t")
ax.set_ylabel("fraction of latents shared")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
glue("lab_sweep_lo", float(np.interp(0.5, sw.threshold, sw.shared)), display=False)
glue("lab_sweep_hi", float(np.interp(0.9, sw.threshold, sw.shared)), display=False)

# %% [markdown]
# Here the shared fraction (decoder and encoder) is {glue:text}`lab_sweep_lo:.2f` at t = 0.5 and
# {glue:text}`lab_sweep_hi:.2f` at t = 0.9: "shared" is a statement about a threshold. Quote it at
# P2's {glue:text}`lab_thr` and show the curve.
#
# ```{solution-end}
# ```

# %% [markdown]
# ## Part 5 — wrap-up
#
# You followed one small dataset through P1's two probes and P2's seed comparison. Things to take
# away, and to check on the book's larger pages:
#
# - the LR probe on last-token activations is a strong baseline; the SAE probe's value is that its
#   latents can be read (P1: {doc}`10_standard`);
# - with a few dozen test texts every AUC has a wide CI: compare probes on the *same* test texts
#   with a paired interval, as above;
# - an explanation read off one SAE's latents is one sample: another seed shares only part of them
#   (P2: {doc}`30_seed_stability`).

# %%
elapsed = time.perf_counter() - T0
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # Linux: KiB -> GiB
glue("lab_seconds", elapsed, display=False)
glue("lab_minutes", elapsed / 60, display=False)
glue("lab_peak_gb", peak_gb, display=False)
glue("lab_profile", prof.name, display=False)
print(f"this lab took {elapsed:.0f} s here (profile {prof.name}), peak memory {peak_gb:.1f} GiB")
