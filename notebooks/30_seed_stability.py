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
# # Do SAEs trained with different seeds learn the same latents?
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} fig_p2_width_k
# :name: fig-30-width-k
# :alt: Two panels: the shared fraction with 95 % CIs against SAE width (left) and against TopK's k (right), ours as coloured lines and P2's numbers as a dotted black line with crosses.
#
# The shared fraction of two seeds' latents against width (left) and k (right): ours with 95 % CIs
# over seed pairs, P2's numbers (the paper's, Pythia-160m) dotted.
# :::
# ::::

# %% [markdown]
# Paulo & Belrose (2025) (P2) train sparse autoencoders that differ **only in their random seed** and
# match their latents with the Hungarian algorithm: decoder directions (rows of `W_dec`) are
# unit-normalised, the cosine matrix between the two SAEs is formed, and the one-to-one assignment
# that maximises the summed cosine is found (`scipy.optimize.linear_sum_assignment`); the same is done,
# separately, for the encoder directions. A latent is **shared** when its decoder match *and* its
# encoder match both have cosine > 0.7; their architecture and model comparisons use the
# **decoder-only** variant (decoder cosine > 0.7). We report both.
#
# P2's claims, on Pythia-160m with TopK SAEs (their numbers are in the table below, labelled as the
# paper's): the shared fraction **falls with width** and **with k**, it **rises with training
# tokens**, **TopK SAEs are less stable than ReLU + L1 (and Gated) SAEs**, and with nine seeds about
# a third of one SAE's latents appear in no other.
#
# Here the SAEs are our own, trained offline with sae-lens on Gemma 3 270M's residual stream
# (`saeprobe.saes`; the seeds change only the initialisation — the training batches come in the same
# order for every seed, as in P2). The matching is `saeprobe.p2.matching`.

# %% tags=["parameters"]
profile = "cpu"
hub_compare = True  # compare the official Gemma Scope 2 262k SAE with its seed_1 twin (hub only)

# %% tags=["hide-input"]
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue
from scipy.stats import spearmanr

from saeprobe import load_profile, saes, show
from saeprobe.core import claims
from saeprobe.core.models import hub_offline, load_profile_model
from saeprobe.core.stats import CI
from saeprobe.p2 import analysis, matching, seeds
from saeprobe.p2 import axes as p2axes
from saeprobe.p2.analysis import format_ci as ci
from saeprobe.saes import families

T0 = time.perf_counter()
prof = load_profile(profile)
show.setup(prof)
P2 = prof.p2
THR = float(P2.threshold)
CACHE = seeds.match_cache_dir(prof)
pd.set_option("display.max_colwidth", 120)


GLUED: set[str] = set()


def gl(key, value):
    """myst-nb glue (not displayed), remembering the key."""
    GLUED.add(key)
    glue(key, value, display=False)


print(f"profile {prof.name}: {prof.description}; threshold {THR}")

# %% [markdown]
# ## P2's numbers (from the paper)
#
# Shared fraction (decoder AND encoder > 0.7 unless noted) for TopK k = 32 SAEs on Pythia-160m's
# layer-6 MLP output, as reported by P2. These are **the paper's** numbers, not ours.

# %%
paper_rows = []
for what, d in analysis.P2_PAPER.items():
    for x, v in d.items():
        paper_rows.append({"P2 result": what, "setting": x, "P2 (paper)": v})
paper = pd.DataFrame(paper_rows)
display(show.table(paper, rename={"P2 (paper)": "P2 (the paper's number)"}))

# %% [markdown]
# ## Our seed replicas
#
# Every group of the profile's SAEs that differ only in their seed (see the `sae:` section of the
# profile). `L0` and `FVE` are measured on held-out tokens (mean over the group's seeds).

# %% tags=["hide-input"]
specs = saes.sae_specs(prof)
groups = seeds.seed_groups(specs)
model = load_profile_model(prof)
loaded: dict[str, list] = {}
for label, group in groups.items():
    loaded[label] = [saes.get_sae(prof, s, model=model, progress=False) for s in group]


inventory = pd.DataFrame([
    {"group": label, "arch": g[0].arch, "width": g[0].width, "layer": g[0].layer,
     "sparsity": g[0].sparsity, "seeds": [s.seed for s in g], "tokens": g[0].tokens,
     "L0": np.nanmean([analysis.manifest_metric(x, "l0") for x in loaded[label]]),
     "FVE": np.nanmean([analysis.manifest_metric(x, "fve") for x in loaded[label]]),
     "dead_frac": np.nanmean([analysis.manifest_metric(x, "dead_frac") for x in loaded[label]])}
    for label, g in groups.items()
])
gl("p2_n_groups", len(groups))
if inventory.empty:
    display(Markdown(f"**Profile `{prof.name}` defines no seed replicas** (no two SAEs in its `sae:` section "
                     "differ only in their seed), so there is nothing to match; the cpu profile has them."))
else:
    display(show.table(inventory, caption="Seed-replica groups (L0, FVE: mean over the group's seeds)"))

# %% [markdown]
# **The SAEs these verdicts rest on** (measured as in the SAE chapter: CE loss recovered on held-out text,
# 95 % CI over texts; the book's bar for them is 0.70):

# %% tags=["hide-input"]
p2_saes = {spec.name: sae for label in groups for spec, sae in zip(groups[label], loaded[label])}
quality_sentence, _ = saes.page_quality(prof, p2_saes, model=model, what="this page's verdicts")
display(Markdown(quality_sentence))

# %% [markdown]
# ## Shared fraction per group, with CIs across seed pairs
#
# For each group, every pair of seeds is matched (decoder and encoder separately). Means over seed
# pairs with a 95% percentile bootstrap CI over the pairs. With three seeds the three pairs share
# seeds, so they are not independent and the CI is optimistic.

# %%
ms: dict[str, seeds.MultiSeedResult] = {}
rows = []
for label, g in groups.items():
    res = seeds.multi_seed(loaded[label], threshold=THR, labels=[f"s{s.seed}" for s in g],
                              cache_dir=CACHE, progress=False)
    ms[label] = res
    summ = seeds.pair_summary(res.pairs, n_boot=int(P2.n_boot), seed=prof.seed)
    rows.append({"group": label, "arch": g[0].arch, "width": g[0].width, "sparsity": g[0].sparsity,
                 "k": g[0].k, "n_seeds": len(g), **summ,
                 "orphan_frac": res.orphan_fraction, "match_s": float(res.pairs["seconds"].sum())})
table = pd.DataFrame(rows)
if not table.empty:
    inv = inventory.set_index("group")
    table["L0"] = table["group"].map(inv["L0"])
    shown = table[["group", "n_seeds", "L0", "shared", "shared_lo", "shared_hi", "shared_decoder",
                  "shared_decoder_lo", "shared_decoder_hi", "agreement", "mean_decoder_cos",
                  "mean_encoder_cos", "orphan_frac", "match_s"]]
    display(show.table(shown, caption="Shared fraction per group (95 % CI over seed pairs)"))

# %% [markdown]
# The *main* group of each architecture (most seeds, then the widest) carries the headline numbers.

# %%
main = {}
if not table.empty:
    chosen_groups = seeds.main_groups(groups)
    for arch in sorted(chosen_groups):
        best = table.set_index("group").loc[chosen_groups[arch]].copy()
        best["group"] = chosen_groups[arch]
        main[arch] = best
        for col in ("shared", "shared_decoder", "agreement", "mean_decoder_cos"):
            for suf in ("", "_lo", "_hi"):
                gl(f"p2_{arch}_{col}{suf}", float(best[col + suf]))
        gl(f"p2_{arch}_group", best["group"])
        gl(f"p2_{arch}_L0", float(best["L0"]))
    display(Markdown("\n".join(
        f"- **{a}** (`{b['group']}`, {int(b['n_seeds'])} seeds, L0 {b['L0']:.1f}): shared {b['shared']:.3f} "
        f"{ci(b['shared_lo'], b['shared_hi'])}, decoder-only {b['shared_decoder']:.3f} "
        f"{ci(b['shared_decoder_lo'], b['shared_decoder_hi'])}, encoder/decoder partner agreement "
        f"{b['agreement']:.3f}"
        for a, b in main.items())))

# %% [markdown]
# ## Cosine histograms
#
# Matched cosines of the first seed pair of each main group: decoder (left) and encoder (right).
# The dashed line is the 0.7 threshold.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Matched cosine of every latent with its Hungarian partner in the other seed (first seed pair of each architecture's main group): decoder (left) and encoder (right); dashed: P2's threshold.", "name": "fig-30-cosines"}, "image": {"alt": "Two step histograms, decoder and encoder, of the matched cosine of each latent with its partner in the other seed, one line per architecture, a dashed line at the threshold."}}
def first_pair(label):
    g = loaded[label]
    return matching.match(g[0], g[1], threshold=THR, cache_dir=CACHE)


if main:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for arch, b in main.items():
        r = first_pair(b["group"])
        for ax, cos, name in ((axes[0], r.decoder_cos, "decoder"), (axes[1], r.encoder_cos, "encoder")):
            ax.hist(cos[np.isfinite(cos)], bins=50, range=(-0.2, 1), histtype="step", lw=1.5, label=arch)
            ax.set_title(f"{name} matched cosine")
    for ax in axes:
        ax.axvline(THR, ls="--", c="k", lw=1)
        ax.set_xlabel("cosine with Hungarian partner")
    axes[0].set_ylabel("latents")
    axes[0].legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Threshold sweep
#
# Fraction of latents shared as the cosine threshold moves from 0 to 1 (mean over seed pairs),
# for both definitions.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The shared fraction as the cosine threshold t moves (mean over seed pairs), with both definitions; dashed: P2's 0.7.", "name": "fig-30-sweep"}, "image": {"alt": "Two panels of falling curves of the shared fraction against the threshold t, one line per architecture, a dashed line at P2's threshold."}}
if main:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for arch, b in main.items():
        g = loaded[b["group"]]
        sweeps = [matching.match(g[i], g[j], threshold=THR, cache_dir=CACHE).sweep()
                  for i in range(len(g)) for j in range(i + 1, len(g))]
        sw = pd.concat(sweeps).groupby("threshold").mean().reset_index()
        axes[0].plot(sw.threshold, sw.shared, marker=".", label=arch)
        axes[1].plot(sw.threshold, sw.shared_decoder, marker=".", label=arch)
    axes[0].set_title("decoder AND encoder > t")
    axes[1].set_title("decoder > t")
    for ax in axes:
        ax.axvline(THR, ls="--", c="k", lw=1)
        ax.set_xlabel("threshold t")
    axes[0].set_ylabel("shared fraction")
    axes[0].legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Sharedness vs width and vs sparsity
#
# Groups of one architecture that differ only in width (same sparsity setting), and TopK groups that
# differ only in k (same width). P2: sharing falls with width (0.81 → 0.28 from 32 to 131k latents)
# and with k (0.42 → 0.18 from k = 32 to 256).

# %% tags=["hide-input"]
def _trend(sub, x):
    sub = sub.sort_values(x)
    rho = spearmanr(sub[x], sub["shared"]).statistic if len(sub) >= 3 else np.nan
    return sub, rho


width_rows, k_rows = [], []
if not table.empty:
    for (arch, sparsity), sub in table.groupby(["arch", "sparsity"]):
        if sub["width"].nunique() >= 2:
            width_rows.append((arch, sparsity, sub))
    for width, sub in table[table.arch == "topk"].groupby("width"):
        if sub["k"].nunique() >= 2:
            k_rows.append((width, sub))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for arch, sparsity, sub in width_rows:
    sub = sub.sort_values("width")
    axes[0].errorbar(sub.width, sub.shared, yerr=[sub.shared - sub.shared_lo, sub.shared_hi - sub.shared],
                     marker="o", capsize=3, label=f"{arch} {sparsity}")
for width, sub in k_rows:
    sub = sub.sort_values("k")
    axes[1].errorbar(sub.k, sub.shared, yerr=[sub.shared - sub.shared_lo, sub.shared_hi - sub.shared],
                     marker="o", capsize=3, label=f"topk w{width}")
pw = analysis.P2_PAPER["shared_by_width"]
axes[0].plot(list(pw), list(pw.values()), "k:", marker="x", label="P2 (paper, Pythia TopK k32)")
pk = analysis.P2_PAPER["shared_by_k"]
axes[1].plot(list(pk), list(pk.values()), "k:", marker="x", label="P2 (paper, 32k latents)")
axes[0].set_xscale("log", base=2)
axes[1].set_xscale("log", base=2)
axes[0].set_xlabel("width (latents)")
axes[1].set_xlabel("k")
for ax in axes:
    ax.set_ylabel("shared fraction")
    ax.legend(fontsize=8)
plt.tight_layout()
show.figure(fig, "fig_p2_width_k")  # in the box at the top ({numref}`fig-30-width-k`)

width_trend = {f"{arch} {sparsity}": sub.sort_values("width").assign(x=lambda d: d.width)
               for arch, sparsity, sub in width_rows}
k_trend = {f"topk w{width}": sub.sort_values("k").assign(x=lambda d: d.k) for width, sub in k_rows}
if not width_rows:
    display(Markdown("This profile has no architecture with seed replicas at two or more widths: "
                     "sharedness vs width is not measured here."))
if not k_rows:
    display(Markdown("This profile has no TopK seed replicas at two or more k at one width: "
                     "sharedness vs k is not measured here."))


(width_verdict, falls_width) = analysis.trend_verdict(width_trend)
(k_verdict, falls_k) = analysis.trend_verdict(k_trend)

# %% [markdown]
# ## Multi-seed analysis
#
# For every latent of every SAE in a group with three or more seeds: in how many of the *other* SAEs
# is it shared? P2 (nine seeds): 35% of one SAE's latents are in no other.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "For every latent of a group with three or more seeds: in how many of the other seeds it is shared (fraction of latents).", "name": "fig-30-multi"}, "image": {"alt": "Line plot of the fraction of latents against the number of other seeds that contain the latent, one line per group."}}
multi = {lab: r for lab, r in ms.items() if r.n_saes >= 3}
if multi:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for lab, r in multi.items():
        h = r.histogram()
        ax.plot(h.index, h["mean"], marker="o", label=f"{lab} ({r.n_saes} seeds)")
    ax.set_xticks(range(max(r.n_saes for r in multi.values())))
    ax.set_xlabel("number of other seeds that contain the latent")
    ax.set_ylabel("fraction of latents")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if multi:
    orph = pd.DataFrame([{"group": lab, "n_seeds": r.n_saes, "in no other": r.orphan_fraction,
                          "in every other": r.everywhere_fraction} for lab, r in multi.items()])
    display(show.table(orph))
    best = max(multi.values(), key=lambda r: r.n_saes)
    gl("p2_orphan_fraction", best.orphan_fraction)
    gl("p2_orphan_n_seeds", best.n_saes)
else:
    display(Markdown("No group has three or more seeds in this profile: the multi-seed analysis is skipped."))

# %% [markdown]
# ## Sharedness vs activation frequency
#
# Per-latent firing frequency on held-out tokens (from the SAE's manifest) against whether the latent
# is shared with the next seed, in quantile bins. P2 finds that rarely-firing latents are the
# least shared.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The shared fraction of live latents in bins of firing frequency on held-out tokens (first seed pair of each architecture).", "name": "fig-30-freq"}, "image": {"alt": "Line plot of the shared fraction against firing frequency on a log axis, one line per architecture."}}
freq_tables = {}
if main:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for arch, b in main.items():
        sae0 = loaded[b["group"]][0]
        freq = np.asarray(((sae0.saeprobe_manifest or {}).get("metrics") or {}).get("freq") or [], float)
        if freq.size != int(sae0.cfg.d_sae):
            continue
        shared = first_pair(b["group"]).shared()
        live = freq > 0
        ft = analysis.sharedness_by(freq[live], shared[live], bins=int(P2.freq_bins))
        freq_tables[arch] = ft
        ax.plot(ft.center, ft.shared_fraction, marker="o", label=f"{arch} (dead: {1 - live.mean():.1%})")
    ax.set_xscale("log")
    ax.set_xlabel("firing frequency (held-out tokens)")
    ax.set_ylabel("shared fraction")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()
    for arch, ft in freq_tables.items():
        gl(f"p2_{arch}_shared_rare", float(ft.shared_fraction.iloc[0]))
        gl(f"p2_{arch}_shared_frequent", float(ft.shared_fraction.iloc[-1]))

# %% [markdown]
# ## Orphan vs shared latents: top-activating examples
#
# For the main TopK group (or the first group): the most confidently shared latents (highest
# decoder cosine, in every other seed) and orphan latents (in no other seed, among the more frequent
# ones), with their top-activating held-out contexts (the token in «»).

# %%
if main:
    arch0 = "topk" if "topk" in main else next(iter(main))
    lab0 = main[arch0]["group"]
    sae0 = loaded[lab0][0]
    hook = prof.hook_name(groups[lab0][0].layer)
    corpus = saes.token_corpus(prof, [hook], model, progress=False)[hook]
    held = corpus.heldout.numpy()
    codes = saes.encode(sae0, corpus.test)
    freq0 = analysis.latent_frequency(codes)
    counts = ms[lab0].counts[0]
    r01 = first_pair(lab0)
    n_show = int(P2.n_latents_shown)
    everywhere = np.nonzero((counts == ms[lab0].n_saes - 1) & (freq0 > 0))[0]
    shared_pick = everywhere[np.argsort(-r01.decoder_cos[everywhere])][:n_show]
    orphans = np.nonzero((counts == 0) & (freq0 > 0))[0]
    orphan_pick = orphans[np.argsort(-freq0[orphans])][:n_show]
    decode = model.tokenizer.decode
    ex = []
    for kind, lats in (("shared", shared_pick), ("orphan", orphan_pick)):
        if len(lats) == 0:
            continue
        t = analysis.top_examples(codes, lats, corpus.token_ids.numpy()[held], corpus.text_index.numpy()[held],
                                  decode, n=int(P2.n_examples))
        t.insert(0, "kind", kind)
        t["freq"] = t["latent"].map(lambda i: freq0[i])
        t["dec_cos_s1"] = t["latent"].map(lambda i: r01.decoder_cos[i])
        ex.append(t)
    display(Markdown(f"SAE `{groups[lab0][0].name}`: {len(everywhere)} live latents shared with every other seed, "
                     f"{len(orphans)} live orphans (in no other seed)"
                     + ("" if len(everywhere) else " — no latent is shared with every other seed, so only orphans are shown")
                     + "."))
    if ex:
        display(show.table(pd.concat(ex, ignore_index=True), digits=3))

# %% [markdown]
# ## P2's claims vs ours
#
# Side by side: the paper's number (from PROTOCOLS, Pythia-160m) and ours (Gemma 3 270M, this
# profile's SAEs; CIs over seed pairs). Different model, data, widths and training budgets: the
# comparison is about direction, not size.

# %%
cmp_rows = []
arch_names = {"topk": "TopK", "standard": "ReLU-L1", "jumprelu": "JumpReLU"}
for arch, b in main.items():
    paper_v = analysis.P2_PAPER["decoder_shared_by_arch"].get(arch, np.nan)
    cmp_rows.append({"claim": f"decoder-only shared, {arch_names.get(arch, arch)}", "P2 (paper)": paper_v,
                     "ours": b["shared_decoder"], "ours 95% CI": ci(b["shared_decoder_lo"], b["shared_decoder_hi"]),
                     "ours setting": f"{b['group']}, L0 {b['L0']:.0f}"})
if "topk" in main:
    b = main["topk"]
    w = int(b["width"])
    pw = analysis.P2_PAPER["shared_by_width"]
    near = min(pw, key=lambda x: abs(np.log(x / w)))
    cmp_rows.append({"claim": "shared (dec AND enc), TopK", "P2 (paper)": pw[near],
                     "ours": b["shared"], "ours 95% CI": ci(b["shared_lo"], b["shared_hi"]),
                     "ours setting": f"{b['group']} (paper at {near} latents, k32)"})
if "topk" in main:
    b = main["topk"]
    toks = int(groups[b["group"]][0].tokens)
    pt = analysis.P2_PAPER["shared_by_tokens"]
    cmp_rows.append({"claim": "shared (dec AND enc) vs training tokens, TopK", "P2 (paper)": pt[min(pt)],
                     "ours": b["shared"], "ours 95% CI": ci(b["shared_lo"], b["shared_hi"]),
                     "ours setting": f"{toks:,} tokens (paper: {min(pt):.1e} tokens; sharing rises with tokens)"})
if multi:
    best = max(multi.values(), key=lambda r: r.n_saes)
    cmp_rows.append({"claim": "latents in no other seed", "P2 (paper)": analysis.P2_PAPER["orphan_fraction_9_seeds"][9],
                     "ours": best.orphan_fraction, "ours 95% CI": "",
                     "ours setting": f"{best.n_saes} seeds (paper: 9)"})
comparison = pd.DataFrame(cmp_rows)
display(show.table(comparison, rename={"P2 (paper)": "P2 (the paper's number)"}))

verdicts = []
pa = analysis.P2_PAPER["decoder_shared_by_arch"]
if "topk" in main and "standard" in main:
    t, s_ = main["topk"], main["standard"]
    verdict, less = analysis.stability_verdict(t, s_)
    verdicts.append(
        f"- *TopK less stable than ReLU-L1?* P2 (paper): yes, decoder-only {pa['topk']} vs {pa['standard']}. "
        f"Ours: TopK {t['shared_decoder']:.3f} {ci(t['shared_decoder_lo'], t['shared_decoder_hi'])} vs ReLU-L1 "
        f"{s_['shared_decoder']:.3f} {ci(s_['shared_decoder_lo'], s_['shared_decoder_hi'])} at L0 {t['L0']:.0f} vs "
        f"{s_['L0']:.0f} — {verdict}.")
    gl("p2_topk_less_stable", bool(less))
    gl("p2_topk_vs_l1_verdict", verdict.replace("*", ""))
if width_verdict is not None:
    verdicts.append(f"- *Sharing falls with width?* P2 (paper): yes. Ours ({analysis.describe_trend(width_trend, 'w')}) — {width_verdict}.")
    gl("p2_width_verdict", width_verdict.replace("*", ""))
if k_verdict is not None:
    verdicts.append(f"- *Sharing falls with k?* P2 (paper): yes. Ours ({analysis.describe_trend(k_trend, 'k')}) — {k_verdict}.")
    gl("p2_k_verdict", k_verdict.replace("*", ""))
display(Markdown("\n".join(verdicts) if verdicts else "Not enough seed-replica groups in this profile for a verdict."))

# %% [markdown]
# ## P2's other axes: every layer, and two training corpora
#
# P2 finds the effect "across multiple layers of three different LLMs, two datasets, and several SAE
# architectures" (the paper's words). Two of those axes on our model, with one SAE (`p2.axes.sae`,
# trained like the main SAEs: same recipe and token budget) and the seeds `p2.axes.seeds`:
#
# * **layers** -- a seed group at each profile layer (MOSAIC's early / middle / late: 4, 8, 12);
# * **training data** -- at the main layer, a seed group trained only on corpus A and one trained
#   only on corpus B: the SAE corpus split by P1 source family (`saeprobe.saes.families`; every
#   family goes to exactly one corpus, balanced by training tokens, and a text that occurs in both
#   groups' datasets is in neither). Each sees the same number of training tokens as the full-corpus
#   group, so over about half as many distinct tokens (more epochs).
#
# CIs are over seed pairs (three seeds: three pairs that share seeds, so the CIs are optimistic).
# The trade for the budget: `p2.axes.sae` may be narrower than the main SAEs (the cpu profile uses
# its width-1024 TopK, a quarter of the main width, so each extra SAE trains in about a quarter of the
# time); P2 finds sharing falls with width, so at the main width a minority verdict would be expected
# to hold with more room, a majority one to weaken.

# %% tags=["hide-input"]
p2ax = P2.axes
axis_rows: list[dict] = []
if p2ax.sae is None:
    display(Markdown(f"Profile `{prof.name}` sets no `p2.axes.sae`: the layer and corpus axes are not measured."))
else:
    main_hook = prof.hook_name()
    main_corpus = saes.token_corpus(prof, sorted({prof.hook_name(layer) for layer in prof.layers}), model,
                                    progress=False)[main_hook]
    lay_groups = p2axes.layer_groups(prof)
    cor_groups, fams = p2axes.corpus_groups(prof, main_corpus)
    if fams:
        display(Markdown("\n".join(f"- **corpus {k}** ({len(v)} families, "
                                    f"{int(families.family_rows(prof, main_corpus, v).sum()):,} training tokens): "
                                    f"{', '.join(v)}" for k, v in fams.items())))
        gl("p2_axes_corpus_a_families", ", ".join(fams["A"]))
        gl("p2_axes_corpus_b_families", ", ".join(fams["B"]))
    points = [("layer", f"L{layer}", g) for layer, g in lay_groups.items()]
    points += [("corpus", "full", lay_groups[prof.main_layer])] if prof.main_layer in lay_groups and cor_groups else []
    points += [("corpus", k, g) for k, g in cor_groups.items()]
    for axis, point, g in points:
        ss = [saes.get_sae(prof, s, model=model, progress=False) for s in g]
        row = p2axes.axis_row(ss, threshold=THR, cache_dir=CACHE, n_boot=int(P2.n_boot), seed=prof.seed)
        axis_rows.append({"axis": axis, "point": point, "sae": g[0].name, **row,
                          "L0": np.nanmean([analysis.manifest_metric(x, "l0") for x in ss]),
                          "FVE": np.nanmean([analysis.manifest_metric(x, "fve") for x in ss]),
                          "unique_train_tokens": ss[0].saeprobe_manifest.get("unique_train_tokens")})
axis_tab = pd.DataFrame(axis_rows)
if not axis_tab.empty:
    display(show.table(axis_tab[["axis", "point", "n_seeds", "L0", "FVE", "unique_train_tokens", "shared", "shared_lo",
                                 "shared_hi", "shared_decoder", "shared_decoder_lo", "shared_decoder_hi", "orphan_frac"]]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Seed sharing of the axes SAE at every profile layer (left) and on two training corpora split by source family (right), with 95 % CIs over seed pairs; dotted: one half.", "name": "fig-30-axes"}, "image": {"alt": "Two panels of points with error bars: the shared fraction by layer and by training corpus, both definitions, a dotted line at 0.5."}}
if not axis_tab.empty:
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for a_, (axis, g) in zip(axs, axis_tab.groupby("axis", sort=False)):
        xs = np.arange(len(g))
        for off, col, name in ((-0.1, "shared", "decoder AND encoder > 0.7"), (0.1, "shared_decoder", "decoder > 0.7")):
            lo, hi = (g[col] - g[f"{col}_lo"]).fillna(0), (g[f"{col}_hi"] - g[col]).fillna(0)
            a_.errorbar(xs + off, g[col], yerr=[lo, hi], fmt="o", capsize=3, label=name)
        a_.axhline(0.5, color="k", ls=":", lw=0.8)
        a_.set_xticks(xs)
        a_.set_xticklabels(g["point"])
        a_.set_xlabel({"layer": "layer", "corpus": "training corpus"}[axis])
        a_.set_title(f"seed sharing by {axis} ({g['sae'].iloc[0].split('-s')[0]})")
    axs[0].set_ylabel("shared fraction (mean over seed pairs)")
    axs[0].legend(fontsize=8)
    plt.tight_layout()
    plt.show()

# %% tags=["hide-input"]
axis_lines = []
for axis, what, plural in (("layer", "layer", "Layers"), ("corpus", "training corpus", "Training corpora")):
    sub = axis_tab[axis_tab.axis == axis] if not axis_tab.empty else axis_tab
    for col, name in (("shared", "decoder and encoder"), ("shared_decoder", "decoder only")):
        sentence, minority = p2axes.minority_verdict(sub, what=what, col=col)
        axis_lines.append(f"- *{plural}, {name}:* {sentence}")
        gl(f"p2_axes_{axis}_{col}_minority", "not measured" if minority is None and sub.empty else str(minority))
display(Markdown("\n".join(axis_lines)))

# %% [markdown]
# ## P2's own models (hub access)
#
# The profile's `p2.models` names the models P2 used that TransformerLens can load, with P2's hook
# (Pythia-160m's MLP output at layer 6 first). With hub access the same SAE (`p2.axes.sae`, its
# seeds) is trained on each model's activations of the SAE corpus texts (`p2.model_tokens` tokens)
# and the seeds are matched as above.

# %%
model_rows = []
if not P2.models:
    display(Markdown(f"Profile `{prof.name}` names no P2 model (`p2.models`); the paper profile lists them."))
elif p2ax.sae is None:
    display(Markdown("`p2.axes.sae` is not set, so there is no SAE to train on P2's models."))
elif hub_offline():
    display(Markdown("**The hub is not reachable from this run (offline mode)**, so P2's own models ("
                     + ", ".join(f"`{m.model}` at `{m.hook}`" for m in P2.models)
                     + ") are not loaded here. Set `SAEPROBE_ONLINE=1` with network access to run this section."))
else:
    from transformer_lens import HookedTransformer

    texts, source = p2axes.model_texts(prof)
    for m in P2.models:
        try:
            tl = HookedTransformer.from_pretrained_no_processing(m.model, device=prof.device or "cpu")
        except Exception as exc:  # hub errors differ by library version: report and go on
            display(Markdown(f"`{m.model}` could not be loaded: {type(exc).__name__}: {exc}"))
            continue
        r = p2axes.hub_model_pair(prof, tl, m.hook, texts, tokens=int(P2.model_tokens))
        model_rows.append({"model": m.model, "hook": m.hook, "note": m.note, **r})
        del tl
    if model_rows:
        mt = pd.DataFrame(model_rows)
        display(Markdown(f"Texts: {source}."))
        display(mt[["model", "hook", "n_tokens", "n_seeds", "shared", "shared_lo", "shared_hi", "shared_decoder",
                    "shared_decoder_lo", "shared_decoder_hi", "note"]].round(3))
        mt["point"] = mt["model"]
        sentence, minority = p2axes.minority_verdict(mt, what="model")
        display(Markdown(sentence))
        gl("p2_axes_models_minority", str(minority))

# %% [markdown]
# ## The official Gemma Scope 2 SAE and its `seed_1` twin
#
# Gemma Scope 2 publishes, for Gemma 3 270M layer 12, a 262k-latent SAE (medium L0) and a twin
# trained with another seed. A dense 262k × 262k cost matrix would need 550 GB, so this uses
# `match(..., candidates=32)`: each latent's 32 nearest neighbours both ways and an exact sparse
# assignment (LAPJVsp), which is identical to the dense result whenever the optimum uses only those
# edges (see `tests/p2/test_matching.py`). It needs the Hugging Face hub (and, to be quick, a GPU).

# %%
hub_result = None
if not hub_compare:
    display(Markdown("Hub comparison switched off (`hub_compare = False`)."))
elif not P2.hub_ids or not P2.hub_release:
    display(Markdown(f"Profile `{prof.name}` names no official seed pair (`p2.hub_ids`): skipped."))
elif hub_offline():
    display(Markdown("**The hub is not reachable from this run (offline mode)**, so the official "
                     f"`{P2.hub_release}` pair ({', '.join(P2.hub_ids)}) is not compared here; the "
                     "numbers above come from our own seed replicas. Set `SAEPROBE_ONLINE=1` with network "
                     "access to run this section."))
else:
    try:
        pair = [saes.load_sae(f"{P2.hub_release}/{i}", model, profile=prof) for i in P2.hub_ids]
        hub_result = matching.match(pair[0], pair[1], threshold=THR, candidates=int(P2.hub_candidates),
                                    cache_dir=CACHE)
        hs = hub_result.summary()
        gl("p2_hub_shared", hs["shared"])
        gl("p2_hub_shared_decoder", hs["shared_decoder"])
        display(Markdown(f"Gemma Scope 2 262k medium vs its seed_1 twin: shared {hs['shared']:.3f}, decoder-only "
                         f"{hs['shared_decoder']:.3f}, agreement {hs['agreement']:.3f} "
                         f"({hs['seconds']:.0f} s, sparse candidates)."))
        display(show.table(hub_result.sweep()))
    except saes.SAEUnavailableOffline as exc:
        display(Markdown(f"**The hub is not reachable**: {exc}. The numbers above come from our own seed replicas."))

# %%
# Keys other pages may quote exist on every profile (NaN / "not measured" when this profile cannot
# measure them).
DEFAULTS = analysis.glue_defaults()
for key, val in DEFAULTS.items():
    if key not in GLUED:
        gl(key, val)
elapsed = time.perf_counter() - T0
gl("p2_nb30_seconds", elapsed)
print(f"notebook time {elapsed:.0f} s")

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under Getting started); the verdict is computed from our CI by the rule named in each line.

# %%
def _trend_claim(trend, paper_curve):
    """last minus first point of the first series, a conservative CI from the two points' CIs, and
    the paper's value at the nearest x."""
    if not trend:
        return None, None
    d = next(iter(trend.values()))
    a, b = d.iloc[0], d.iloc[-1]
    near = lambda x: paper_curve[min(paper_curve, key=lambda p: abs(np.log(p / x)))]  # noqa: E731
    ours = {"mean_diff": float(b.shared - a.shared), "ci_lo": float(b.shared_lo - a.shared_hi),
            "ci_hi": float(b.shared_hi - a.shared_lo)}
    if not all(np.isfinite(v) for v in ours.values()):
        ours = float(b.shared - a.shared)
    return ours, round(near(b.x) - near(a.x), 3)


recorded = []
if "topk" in main and "standard" in main:
    t_, s_ = main["topk"], main["standard"]
    ours_a = {"mean_diff": float(t_["shared_decoder"] - s_["shared_decoder"]),
              "ci_lo": float(t_["shared_decoder_lo"] - s_["shared_decoder_hi"]),
              "ci_hi": float(t_["shared_decoder_hi"] - s_["shared_decoder_lo"])}
    rule_a = claims.direction(-1)
else:
    ours_a, rule_a = None, claims.not_run("this profile has no TopK and ReLU-L1 seed replicas")
pa_ = analysis.P2_PAPER["decoder_shared_by_arch"]
recorded.append(claims.record_claim(
    prof, "p2-topk-less-stable", paper="P2", page="30_seed_stability", rule=rule_a,
    claim="TopK SAEs share fewer latents across seeds than ReLU-L1 SAEs (decoder-only shared fraction, TopK minus "
          "ReLU-L1).", paper_value=round(pa_["topk"] - pa_["standard"], 3), ours=ours_a))
for key, trend, curve, what in (("width", width_trend, analysis.P2_PAPER["shared_by_width"], "width"),
                                ("k", k_trend, analysis.P2_PAPER["shared_by_k"], "k")):
    ours_t, paper_t = _trend_claim(trend, curve)
    recorded.append(claims.record_claim(
        prof, f"p2-shared-falls-with-{key}", paper="P2", page="30_seed_stability",
        rule=claims.direction(-1) if ours_t is not None else claims.not_run(f"this profile has seed replicas at one {what} only"),
        claim=f"The shared fraction falls as the SAE's {what} grows (largest minus smallest {what} here).",
        paper_value=paper_t, ours=ours_t))
if "topk" in main:
    b_ = main["topk"]
    pw_ = analysis.P2_PAPER["shared_by_width"]
    near_w = min(pw_, key=lambda x: abs(np.log(x / int(b_["width"]))))
    ours_s, pv_s, rule_s = CI(float(b_["shared"]), float(b_["shared_lo"]), float(b_["shared_hi"]), 0), pw_[near_w], claims.close_to(0.1)
else:
    ours_s, pv_s, rule_s = None, None, claims.not_run("this profile has no TopK seed replicas")
recorded.append(claims.record_claim(
    prof, "p2-shared-fraction-topk", paper="P2", page="30_seed_stability", rule=rule_s, paper_value=pv_s, ours=ours_s,
    claim="Two seeds of a TopK SAE share the paper's fraction of latents at a similar width (decoder and encoder "
          "cosine > 0.7; the paper's value at the nearest width, Pythia-160m)."))
recorded.append(claims.record_claim(
    prof, "p2-llama-131k", paper="P2", page="30_seed_stability", paper_value=analysis.P2_PAPER["llama3_8b_131k_shared"][131072],
    rule=claims.not_run("needs Llama-3-8B and its 131k SAEs from the hub, and a GPU"),
    claim="Only about 30 % of the latents of a 131k-latent SAE on Llama-3-8B are shared between two seeds."))
display(Markdown("\n\n".join(claims.claim_markdown(r) for r in recorded)))
show.verdict_box(recorded, findings=[quality_sentence.replace("**", "")])

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: how many latents do two seeds share?
# :label: ex-30_seed_stability-predict
# Two SAEs, same data, same width, different random seeds. Before the first table: what fraction of latents will find a partner with cosine > 0.7 on both the decoder and the encoder side?
# :::
#
# :::{solution} ex-30_seed_stability-predict
# :class: dropdown
# P2's answer is "far from all": 0.81 for tiny SAEs down to 0.28 at 131k latents on Pythia (the paper's numbers). Here see the claim `p2-shared-fraction-topk` above and the table of seed pairs.
# :::

# %% [markdown]
# :::{exercise} Change one parameter: the cosine threshold
# :label: ex-30_seed_stability-change
# P2 calls a latent shared when its matched partner has cosine > 0.7. Read off the shared fraction at 0.5 and at 0.9 for one seed pair of each main group. How much of the headline is the threshold?
# :::
#
# :::{solution-start} ex-30_seed_stability-change
# :class: dropdown
# :::
#
# The shared fraction falls steeply between 0.5 and 0.9: the threshold is a large part of any single number, which is why P2 (and this page) also show the whole sweep.

# %% tags=["solution"]
for arch, b in main.items():
    g = loaded[b["group"]]
    sw = matching.match(g[0], g[1], threshold=THR, cache_dir=CACHE).sweep()
    for t in (0.5, 0.9):
        r = sw.iloc[int((sw.threshold - t).abs().argmin())]
        print(f"{arch}: threshold {r.threshold:.2f} shared {r.shared:.3f} (decoder only {r.shared_decoder:.3f})")

# %% [markdown]
# :::{solution-end}
# :::
