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
# # P1: SAE architectures by win rate
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
#
# :::{glue:figure} p1_arch_fig
# :name: fig-19-arch
# :alt: Bars of each SAE architecture's win rate against the strong baseline quiver with 95 % CIs, and its loss rate as a black dash.
#
# Win rate (bars, 95 % CI over datasets) and loss rate (black dashes) of each architecture's SAE probe against the strong baseline quiver.
# :::
# ::::

# %% [markdown]
# **P1's question** (Kantamneni et al. 2025): do newer SAE architectures make better probes? P1
# compared SAE architectures (ReLU, TopK, JumpReLU, BatchTopK, Gated, p-anneal, Matryoshka) by their
# SAE probe's **win rate** against the baselines. Its authors' summary (the paper's finding, not
# ours): the newer architectures reconstruct better at a fixed sparsity, but that improvement did not
# carry over to sparse probing.
#
# Here: five architectures trained by us with sae-lens on the same corpus, token budget and recipe as
# the profile's main SAEs, at one width and a matched L0 (`p1.architectures`); for each, its quality
# (FVE, L0 and CE loss recovered, with CIs over held-out texts), P1's SAE probe in the standard
# regime (P1's split, top-k latents by class-mean difference, L1 logistic regression with P1's C
# grid) at two k, and its win / tie / loss rates against the **strong baseline quiver** (P1's
# baselines plus the z-scored LR, chosen per dataset on validation AUC): a win is a test AUC above
# the quiver's by more than P1's margin of 0.005. Architectures that `sae.saes` already trains are
# the same cached SAEs.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, saes, show
from saeprobe.core import claims, stats
from saeprobe.core.cache import results_dir
from saeprobe.core.models import load_profile_model
from saeprobe.p1 import architectures as A
from saeprobe.p1 import features as F
from saeprobe.p1 import quiver as Q
from saeprobe.p1 import runner

T0 = time.perf_counter()
prof = load_profile(profile)
show.setup(prof)
cfg = prof.p1.architectures
specs = A.architecture_specs(prof) if prof.sae.source == "local" else []
ACTIVE = bool(specs)
label = {s.name: A.ARCH_LABELS.get(s.arch, s.arch) for s in specs}
targets = [t for s in specs for t in (s.k, s.target_l0) if t is not None]
target_l0 = float(pd.Series(targets).mode().iloc[0]) if targets else float("nan")
if not ACTIVE:
    display(Markdown(f"**Profile `{prof.name}` lists no architectures to compare** (`p1.architectures.saes` is empty "
                     "or its SAEs come from the hub), so this page measures nothing; the cpu profile trains them."))
else:
    display(show.table(pd.DataFrame([{"architecture": label[s.name], "SAE": s.name, "width": s.width, "sparsity": s.sparsity,
                                      "tokens seen": s.tokens, "in sae.saes (cached)": A.listed(prof, s)} for s in specs])))

# %% [markdown]
# ## Quality at matched L0
#
# Held-out part of the SAE corpus: L0 and FVE over its tokens, CE loss recovered when the SAE's
# reconstruction replaces the residual stream (`saeprobe.saes.quality`); 95 % CIs over texts. An
# architecture counts as L0-matched when its held-out L0 is within 25 % of the target.

# %%
if ACTIVE:
    model = load_profile_model(prof)
    arch_saes = {s.name: saes.get_sae(prof, s, model=model, progress=False) for s in specs}
    corpus = saes.token_corpus(prof, [prof.hook_name()], model, progress=False)
    qual = saes.quality_table(prof, arch_saes, corpus, model).set_index("sae")
    qtab = pd.DataFrame([{"architecture": label[n], "L0": qual.loc[n, "l0"],
                          "L0 matched": abs(qual.loc[n, "l0"] - target_l0) <= 0.25 * target_l0,
                          "FVE": qual.loc[n, "fve"], "FVE CI": f"[{qual.loc[n, 'fve_lo']:.3f}, {qual.loc[n, 'fve_hi']:.3f}]",
                          "CE recovered": qual.loc[n, "ce_recovered"],
                          "CE CI": f"[{qual.loc[n, 'ce_recovered_lo']:.3f}, {qual.loc[n, 'ce_recovered_hi']:.3f}]",
                          "dead": qual.loc[n, "dead_frac"], "CE tokens": qual.loc[n, "n_ce_tokens"]} for n in arch_saes])
    display(show.table(qtab.drop(columns=["FVE CI", "CE CI"]).assign(
        FVE_lo=[qual.loc[n, "fve_lo"] for n in arch_saes], FVE_hi=[qual.loc[n, "fve_hi"] for n in arch_saes],
        **{"CE recovered_lo": [qual.loc[n, "ce_recovered_lo"] for n in arch_saes],
           "CE recovered_hi": [qual.loc[n, "ce_recovered_hi"] for n in arch_saes]})))
    unmatched = qtab.loc[~qtab["L0 matched"], "architecture"].tolist()
    display(Markdown(f"Target L0 {target_l0:g}: " + (
        "every architecture is within 25 %." if not unmatched else
        f"**{', '.join(unmatched)} {'is' if len(unmatched) == 1 else 'are'} not** (see the L0 column): "
        "the comparison below is not at matched L0 for them.")))
    for n in arch_saes:
        a = next(s.arch for s in specs if s.name == n)
        glue(f"p1_arch_{a}_l0", float(qual.loc[n, "l0"]), display=False)
        glue(f"p1_arch_{a}_ce_recovered", float(qual.loc[n, "ce_recovered"]), display=False)

# %% [markdown]
# ## P1's SAE probe with each architecture
#
# Standard regime on every profile dataset. The baselines' cells are those of the standard page
# (the results cache is shared), so only the SAE probes of new SAEs are fitted here.

# %%
if ACTIVE:
    names = prof.dataset_names()
    feats = F.load_features(prof, names, saes=arch_saes)
    base_specs = [s for s in runner.specs_from_profile(prof, "standard") if s["method"] != "sae"]
    kw = dict(ranking=prof.p1.sae_ranking, penalty=prof.p1.sae_penalty)
    if prof.p1.sae_binarize:
        kw["binarize"] = True
    probe_specs = runner.expand_methods(["sae"], saes=list(arch_saes), ks=cfg.ks, **kw)
    res = runner.run_regime("standard", names, base_specs + probe_specs, splits=F.regime_splits(prof, "standard", feats),
                            features=feats, out_dir=results_dir(prof, "p1"), n_jobs=prof.p1.n_jobs, progress=False,
                            table="standard_architectures")
    strong = Q.quiver(res, methods=[m for m in Q.STRONG_BASELINES if m in set(res.method)], include_sae=False)
    q_auc = strong.set_index("dataset")["test_auc"].sort_index()
    q_ci = stats.bootstrap_ci(q_auc.to_numpy(), seed=prof.seed)
    rows = []
    for n in arch_saes:
        for k in cfg.ks:
            sae_auc = res[(res.method == "sae") & (res.sae == n) & (res.k == k)].set_index("dataset")["test_auc"].sort_index()
            ci = stats.bootstrap_ci(sae_auc.to_numpy(), seed=prof.seed)
            t = stats.paired_test(sae_auc.to_numpy(), q_auc.loc[sae_auc.index].to_numpy(), seed=prof.seed)
            w = A.win_rates(sae_auc, q_auc, margin=cfg.margin, seed=prof.seed)
            rows.append({"architecture": label[n], "arch": next(s.arch for s in specs if s.name == n), "label": label[n],
                         "k": int(k), "mean_auc": ci.mean, "auc_lo": ci.lo, "auc_hi": ci.hi, "diff": t["mean_diff"],
                         "diff_lo": t["ci_lo"], "diff_hi": t["ci_hi"], **w,
                         "CE recovered": qual.loc[n, "ce_recovered"]})
    arch_tab = pd.DataFrame(rows)
    display(Markdown(f"Strong quiver (baselines {', '.join(m for m in Q.STRONG_BASELINES if m in set(res.method))}): "
                     f"mean test AUC {q_ci.mean:.3f} (95 % CI [{q_ci.lo:.3f}, {q_ci.hi:.3f}], {q_ci.n} datasets)."))
    display(show.table(arch_tab[["architecture", "k", "mean_auc", "auc_lo", "auc_hi", "diff", "diff_lo", "diff_hi", "win",
                                 "win_lo", "win_hi", "tie", "loss", "loss_lo", "loss_hi", "n"]].rename(
        columns={"auc_lo": "mean_auc_lo", "auc_hi": "mean_auc_hi"}), rename={"diff [95 % CI]": "minus quiver [95 % CI]"}))
    glue("p1_arch_quiver_auc", float(q_ci.mean), display=False)
    for _, r in arch_tab.iterrows():
        for col in ("mean_auc", "win", "loss", "diff"):
            glue(f"p1_arch_{r['arch']}_k{r['k']}_{col}", float(r[col]), display=False)

# %% [markdown]
# ## Figures: win rates, probe AUC and quality per architecture
#
# {numref}`fig-19-arch` (at the top of the page) draws the win and loss rates of the table above, one colour
# per architecture; {numref}`fig-19-auc` the probe's mean test AUC against the strong quiver's band, and its gap
# to the quiver against the CE loss its SAE recovers (marker shape: k).

# %% tags=["hide-input"]
if ACTIVE:
    order = [label[n] for n in arch_saes]
    arch_color = [show.color(n) for n in arch_saes]
    markers = dict(zip(cfg.ks, "os^Dv"))
    x = np.arange(len(order))
    width = 0.8 / len(cfg.ks)
    k_handles = [plt.Line2D([], [], marker=markers[k], color="0.3", ls="", label=f"SAE probe, k = {k}") for k in cfg.ks]

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, k in enumerate(cfg.ks):
        g = arch_tab[arch_tab.k == k].set_index("architecture").loc[order]
        off = (i - (len(cfg.ks) - 1) / 2) * width
        ax.bar(x + off, g.win, width * 0.9, yerr=[g.win - g.win_lo, g.win_hi - g.win], capsize=3, color=arch_color,
               hatch=None if i == 0 else "//", edgecolor="white", label=f"win rate, k = {k}")
        ax.scatter(x + off, g.loss, marker="_", s=200, color="k", zorder=3, label="loss rate" if i == 0 else None)
    ax.set_ylabel(f"share of datasets (margin {cfg.margin:g})")
    ax.set_xticks(x)
    ax.set_xticklabels(order, rotation=20, ha="right")
    ax.set_title("win rate vs the strong quiver")
    ax.legend()
    plt.tight_layout()
    show.figure(fig, "p1_arch_fig")

    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8))
    for i, k in enumerate(cfg.ks):
        g = arch_tab[arch_tab.k == k].set_index("architecture").loc[order]
        off = (i - (len(cfg.ks) - 1) / 2) * width
        for j, c in enumerate(arch_color):
            axes[0].errorbar(x[j] + off, g.mean_auc.iloc[j], yerr=[[g.mean_auc.iloc[j] - g.auc_lo.iloc[j]],
                             [g.auc_hi.iloc[j] - g.mean_auc.iloc[j]]], fmt=markers[k], capsize=3, color=c)
            axes[1].errorbar(g["CE recovered"].iloc[j], g["diff"].iloc[j], yerr=[[g["diff"].iloc[j] - g.diff_lo.iloc[j]],
                             [g.diff_hi.iloc[j] - g["diff"].iloc[j]]], fmt=markers[k], capsize=3, color=c)
    axes[0].axhspan(q_ci.lo, q_ci.hi, color="grey", alpha=0.25, label="strong quiver (95 % CI)")
    axes[0].axhline(q_ci.mean, color="k", lw=0.8)
    axes[0].set_ylabel("mean test ROC-AUC")
    axes[0].set_xticks(x)
    axes[0].set_xticklabels(order, rotation=20, ha="right")
    for n, (a, c) in zip(order, arch_tab[arch_tab.k == cfg.ks[-1]].set_index("architecture").loc[order, ["diff", "CE recovered"]].values):
        axes[1].annotate(n, (c, a), fontsize=8, xytext=(3, 3), textcoords="offset points")
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_xlabel("CE loss recovered (held-out)")
    axes[1].set_ylabel("SAE probe minus strong quiver (AUC)")
    axes[0].legend(handles=k_handles + axes[0].get_legend_handles_labels()[0])
    axes[0].set_title("probe AUC")
    axes[1].set_title("quality vs probe gap")
    plt.tight_layout()
    show.figure(fig, "p1_arch_auc_fig")
else:  # the box names these figures on every profile: say what was (not) measured
    for key in ("p1_arch_fig", "p1_arch_auc_fig"):
        fig, ax = plt.subplots(figsize=(6.4, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Profile {prof.name}: no architectures compared (p1.architectures.saes empty or hub SAEs)",
                ha="center", va="center")
        show.figure(fig, key)

# %% [markdown]
# :::{glue:figure} p1_arch_auc_fig
# :name: fig-19-auc
# :alt: Left, each architecture's SAE probe mean test AUC with 95 % CI against the strong quiver's grey band; right, its AUC gap to the quiver against the CE loss recovered by its SAE, each point labelled with the architecture.
#
# Left: the SAE probe's mean test AUC per architecture against the strong quiver (grey band: its 95 % CI). Right: if better reconstruction bought better probes, the points would rise to the right.
# :::

# %% [markdown]
# ## Verdict
#
# Computed from the CIs above: does any architecture win more often than it loses against the
# strong baselines, and do the win rates separate the architectures? Then the paper's finding --
# better reconstruction does not buy better probes -- tested on ours: is the architecture with the
# most CE loss recovered also the one whose probe wins most?

# %%
if ACTIVE:
    lines = [f"- {A.arch_verdict(arch_tab, k=int(k))}" for k in cfg.ks]
    k_top = int(cfg.ks[-1])
    t = arch_tab[arch_tab.k == k_top]
    best_q, best_w = t.loc[t["CE recovered"].idxmax()], t.loc[t["win"].idxmax()]
    same = best_q["architecture"] == best_w["architecture"]
    apart = best_w["win_lo"] > t[t.architecture != best_w["architecture"]]["win_hi"].max() if len(t) > 1 else False
    rho = float(pd.Series(t["CE recovered"].to_numpy()).corr(pd.Series(t["win"].to_numpy()), method="spearman")) \
        if len(t) >= 3 else float("nan")
    lines.append(
        f"- *Does the best reconstruction give the best probe?* At k = {k_top} the most CE loss recovered is "
        f"{best_q['architecture']}'s ({best_q['CE recovered']:.3f}); the highest win rate is {best_w['architecture']}'s "
        f"({best_w['win']:.0%}, 95 % CI [{best_w['win_lo']:.0%}, {best_w['win_hi']:.0%}]); Spearman correlation of CE "
        f"recovered and win rate over the {len(t)} architectures {rho:+.2f}. "
        + ("**Consistent with P1's finding**: " if not (same and apart) else "**Against P1's finding**: ")
        + ("the best-reconstructing architecture is not the one that probes best." if not same else
           "the best-reconstructing architecture also probes best, " + (
               "and its win rate's CI lies above every other architecture's." if apart else
               "but its win rate's CI overlaps the others', so the datasets cannot tell them apart.")))
    display(Markdown("\n".join(lines)))
    glue("p1_arch_verdict", " ".join(line[2:] for line in lines), display=False)
    display(Markdown("*P1 (the paper's finding, Gemma-2 models and SAEBench SAEs): across ReLU, TopK, JumpReLU, "
                     "BatchTopK, Gated, p-anneal and Matryoshka SAEs, better reconstruction at fixed sparsity did not "
                     "carry over to better sparse probing.*"))

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under
# Getting started); each verdict is computed from our 95 % CI by the rule named in its line.

# %% tags=["hide-input"]
if ACTIVE:
    k_top = int(cfg.ks[-1])
    t = arch_tab[arch_tab.k == k_top]
    top = t.loc[t["diff"].idxmax()]  # the architecture closest to (or furthest above) the quiver
    best_rule, best_claim = claims.no_gain(0.01), (
        f"No SAE architecture's probe beats the strong baseline quiver (the best of the {len(t)} architectures at "
        f"k = {k_top}, here {top['architecture']}, minus the quiver, mean test AUC).")
    best_ours = dict(ours=float(top["diff"]), ci_lo=float(top["diff_lo"]), ci_hi=float(top["diff_hi"]))
    recon_rule = claims.not_run(f"no CI: a rank correlation over {len(t)} architectures - see the Verdict section")
else:
    why = f"profile {prof.name} compares no architectures (p1.architectures.saes empty or hub SAEs)"
    best_rule, recon_rule, best_ours = claims.not_run(why), claims.not_run(why), {}
    best_claim = "No SAE architecture's probe beats the strong baseline quiver (the best architecture minus the quiver, mean test AUC)."
recorded = [
    # P1 reports the architecture comparison as a figure: no number (PROTOCOLS.md), so paper_value None
    claims.record_claim(prof, "p1-arch-best-vs-quiver", paper="P1", page="19_architectures", rule=best_rule,
                        claim=best_claim, paper_value=None, **best_ours),
    claims.record_claim(prof, "p1-arch-recon-not-probing", paper="P1", page="19_architectures", rule=recon_rule,
                        claim="Better reconstruction at fixed sparsity does not carry over to better sparse probing "
                              "(the best-reconstructing architecture is not the best-probing one).", paper_value=None),
]
display(Markdown("\n\n".join(claims.claim_markdown(r) for r in recorded)))
show.verdict_box(recorded, findings=[line[2:] for line in lines[-1:]] if ACTIVE else [])

# %% tags=["hide-input"]
elapsed = time.perf_counter() - T0
glue("p1_arch_seconds", elapsed, display=False)
print(f"notebook time {elapsed:.0f} s")
