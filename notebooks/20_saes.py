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
# # Sparse autoencoders
#
# All three papers read the residual stream through a sparse autoencoder (SAE): an encoder maps an
# activation $x \in \mathbb{R}^{d}$ to a wide, sparse code $z \in \mathbb{R}^{m}_{\ge 0}$ and a
# decoder reconstructs $\hat x = W_\text{dec}^\top z + b_\text{dec}$. P1 and P3 use Google's Gemma
# Scope SAEs; P2 trains its own. Offline, no official SAE can be downloaded, so this notebook
# **trains the profile's SAEs with sae-lens** on our model — TopK, standard ReLU + L1 and JumpReLU,
# the seed replicas P2 needs and a second width for P2's width effect and P3's two widths per
# layer — and shows what a reader needs to trust them: training curves, reconstruction quality on
# held-out tokens, the next-token loss with the SAE spliced into the model, how often latents fire,
# and the texts that make a few latents fire most.
#
# **Training corpus.** Texts of P1's binary datasets that are *not* in the profile's evaluation
# subset, minus every text that also occurs in an evaluated dataset, an OOD test file or a
# multiclass dataset (exact match) — so no SAE has seen a text any probe is tested on. Every
# non-BOS token is used (BOS activations are ~10x larger than the rest).
#
# With hub access (`SAEPROBE_ONLINE=1`) `saeprobe.saes.load_sae("release/sae_id")` loads the
# official SAEs instead (e.g. `gemma-scope-2-270m-pt-res/layer_12_width_16k_l0_medium`).

# %% tags=["parameters"]
profile = "cpu"

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from saeprobe import load_profile, saes
from saeprobe.core.models import load_profile_model

prof = load_profile(profile)
specs = saes.sae_specs(prof)
print(f"profile {prof.name}: {len(specs)} SAEs at layers {sorted({s.layer for s in specs})}")
pd.DataFrame([{"name": s.name, "arch": s.arch, "width": s.width, "sparsity": s.sparsity, "seed": s.seed,
               "layer": s.layer, "tokens": s.tokens, "batch": s.batch_size, "lr": s.lr} for s in specs])

# %% [markdown]
# ## The official SAEs (hub only)
#
# Offline this says which local SAE replaces the official one.

# %%
hub = prof.sae.hub
for layer, spec in hub.items():
    try:
        saes.load_sae(spec, profile=prof)
        print(f"layer {layer}: loaded {spec}")
    except saes.SAEUnavailableOffline as exc:
        print(f"layer {layer}: {exc}")

# %% [markdown]
# ## Corpus and training
#
# The corpus's token activations are computed once for every layer the SAEs need (one forward
# pass) and cached; each SAE is then trained (or loaded from its cache) with a progress bar.
# Inputs are pre-scaled so centred activations have mean squared norm $d$, and the decoder bias
# starts at the data mean (the residual stream carries a large constant offset); the scale is
# folded back into the saved weights.

# %%
model = load_profile_model(prof)
t0 = time.perf_counter()
hooks = sorted({prof.hook_name(s.layer) for s in specs})
corpus = saes.token_corpus(prof, hooks, model)
t_corpus = time.perf_counter() - t0
c0 = corpus[prof.hook_name()]
print(f"corpus: {c0.meta['n_tokens']:,} tokens from {c0.meta['n_heldout_texts']} held-out + "
      f"{len(c0.texts) - c0.meta['n_heldout_texts']} training texts of {c0.meta['n_datasets']} datasets "
      f"({c0.meta['n_dropped_overlap']:,} rows dropped for overlapping an evaluated text); {t_corpus:.0f} s")
t0 = time.perf_counter()
trained = saes.profile_saes(prof, model=model)
t_train = time.perf_counter() - t0
train_s = sum(s.saeprobe_manifest.get("train_seconds", 0) for s in trained.values())
print(f"{len(trained)} SAEs ready in {t_train:.0f} s (training proper, when not cached: {train_s:.0f} s)")
glue("n_saes", len(trained), display=False)
glue("corpus_tokens", int(c0.meta["n_tokens"]), display=False)
glue("corpus_datasets", int(c0.meta["n_datasets"]), display=False)
glue("train_seconds_total", float(train_s), display=False)

# %% [markdown]
# ## Training curves
#
# Fraction of variance explained and L0 of each training batch (before the input scale is folded
# back; FVE is scale-free). One line per SAE at the main layer.

# %%
main = {n: s for n, s in trained.items() if s.saeprobe_manifest["layer"] == prof.main_layer}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, sae in main.items():
    h = sae.saeprobe_manifest["history"]
    axes[0].plot(h["tokens"], h["fve"], label=name, lw=1)
    axes[1].plot(h["tokens"], h["l0"], label=name, lw=1)
axes[0].set(xlabel="training tokens", ylabel="FVE (batch)", ylim=(-0.2, 1))
axes[1].set(xlabel="training tokens", ylabel="L0 (batch)", yscale="log")
axes[1].legend(fontsize=6, ncol=2)
fig.tight_layout()

# %% [markdown]
# ## Quality on held-out tokens
#
# L0 (active latents per token), fraction of variance explained, fraction of latents that never
# fire on the held-out tokens, and the next-token cross-entropy (nats/token) with the SAE's
# reconstruction spliced in at every non-BOS position, vs clean (`ce_delta`) and vs replacing the
# activation by its mean (`ce_recovered` = share of that gap the SAE closes).

# %%
table = saes.metrics_table(trained)
cols = ["sae", "arch", "width", "layer", "seed", "sparsity", "tokens_seen", "train_s", "l0", "fve", "dead_frac",
        "ce_clean", "ce_sae", "ce_delta", "ce_recovered"]
display(table[[c for c in cols if c in table]].round(4))
by_arch = table[table.layer == prof.main_layer].groupby("arch")[["l0", "fve", "dead_frac", "ce_delta"]].mean()
display(by_arch.round(4))
for arch, row in by_arch.iterrows():
    for k, v in row.items():
        glue(f"{arch}_{k}", float(v), display=False)

# %% [markdown]
# ## How often latents fire
#
# Firing frequency of every latent on the held-out tokens (log scale; never-firing latents at the
# left edge). Dense latents (firing on most tokens) and many dead ones are both warning signs.

# %%
firsts = {}
for name, sae in main.items():
    key = (sae.saeprobe_manifest["spec"]["arch"], sae.saeprobe_manifest["spec"]["width"])
    firsts.setdefault(key, (name, sae))
fig, ax = plt.subplots(figsize=(8, 3.5))
bins = np.linspace(-6, 0, 50)
for (arch, width), (name, sae) in sorted(firsts.items()):
    freq = np.asarray(sae.saeprobe_manifest["metrics"]["freq"])
    ax.hist(np.log10(np.maximum(freq, 1e-6)), bins=bins, histtype="step", label=f"{arch} w{width}")
ax.set(xlabel="log10 firing frequency (held-out tokens; -6 = never)", ylabel="latents")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## Top-activating examples
#
# For the first TopK SAE at the main layer: three latents of different firing frequency, each with
# the held-out tokens that activate it most (the token in brackets, a few tokens of left context).

# %%
name, sae = next((n, s) for n, s in main.items() if s.saeprobe_manifest["spec"]["arch"] == "topk")
codes = saes.encode(sae, c0.test)
freq = np.asarray((codes != 0).mean(axis=0)).ravel()
alive = np.flatnonzero(freq > 0)
picks = alive[np.argsort(freq[alive])][[len(alive) // 10, len(alive) // 2, -max(1, len(alive) // 50)]]
tok = model.tokenizer
test_ids = c0.token_ids[c0.heldout]
test_text = c0.text_index[c0.heldout]
rows = []
for lat in picks:
    col = codes[:, lat].toarray().ravel()
    for pos in np.argsort(-col)[:4]:
        if col[pos] <= 0:
            break
        lo = pos
        while lo > 0 and pos - lo < 8 and test_text[lo - 1] == test_text[pos]:
            lo -= 1
        left = tok.decode(test_ids[lo:pos].tolist())
        rows.append({"latent": int(lat), "freq": float(freq[lat]), "act": float(col[pos]),
                     "context": f"{left}[{tok.decode([int(test_ids[pos])])}]"})
print(name)
pd.set_option("display.max_colwidth", 120)
display(pd.DataFrame(rows))
