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
# # Images through a text SAE: classifying CIFAR-100 from a VLM's image tokens (MOSAIC)
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
# ::::

# %% [markdown]
# **MOSAIC's experiment** (P3). An SAE trained on a *language* model's residual stream is applied to
# the image tokens of a vision-language model built on that language model: LLaVA-Gemma-2B's
# hidden states at layer 12, the 576 image-token positions `[:, 4:580]` of the prompt, encoded with
# the text SAE `gemma-2b-res-jb` of that layer. The latents are pooled over the image tokens exactly
# as the text pages pool them over words (per-token top-$n$, counted or summed, optionally binarised
# `> 1`), and a logistic regression classifies the CIFAR-100 test images by macro F1. The question:
# do text-trained features carry the image's class?
#
# **Here**: the same pipeline (`saeprobe.p3.visual`), with two choices spelled out. The hidden state
# is the output of block 12, the one `blocks.12.hook_resid_post` SAEs read; MOSAIC's code takes
# Hugging Face's `hidden_states[12]`, the output of block 11 (the off-by-one of PROTOCOLS.md; the
# profile's `p3.visual.hidden_states_index: 12` replays it). And C and the configuration are chosen
# on a validation split of the training images, as on the text pages. It runs **only with hub
# access** (`SAEPROBE_ONLINE=1`): the VLM, the SAE and CIFAR-100 all come from the Hugging Face hub.
# Offline this page says so and reports no number: a randomly initialised VLM would classify
# *something*, and that number would describe nothing about MOSAIC. (The code path is tested offline on
# such a tiny random model in `tests/p3/test_visual.py`, as a test, not a result.)

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, show
from saeprobe.core import claims
from saeprobe.p3.settings import MOSAIC_VISUAL, visual_settings
from saeprobe.p3.visual import run_visual, summarize_visual, visual_available

T0 = time.perf_counter()
prof = load_profile(profile)
show.setup(prof)
vs = visual_settings(prof)
av = visual_available(prof)
glue("p3_45_model", vs.model, display=False)
glue("p3_45_sae", vs.sae, display=False)
glue("p3_45_dataset", f"{vs.dataset} ({vs.split})", display=False)
glue("p3_45_status", "ran" if av.available else "did not run", display=False)
display(Markdown(f"- `{vs.model}` with `{vs.sae}` on `{vs.dataset}` ({vs.split}): "
                 f"{'available' if av.available else 'NOT available'} — {av.reason}"))
display(show.table(pd.DataFrame({
    "this profile": [vs.model, vs.sae, vs.hidden_states_index, vs.token_slice, f"{vs.dataset} [{vs.split}]",
                     "all" if vs.max_images is None else vs.max_images],
    "MOSAIC's code": [MOSAIC_VISUAL["model"], MOSAIC_VISUAL["sae"], MOSAIC_VISUAL["hidden_states_index"],
                      MOSAIC_VISUAL["token_slice"], f"{MOSAIC_VISUAL['dataset']} [{MOSAIC_VISUAL['split']}]", "all"],
}, index=["model", "SAE (release/id)", "hidden_states index", "image tokens [start, stop)", "images", "max images"]),
    rename={"index": "setting"}))

# %%
if av.available:
    res, feats = run_visual(prof, progress=False)
    out = summarize_visual(prof, res, feats)
    sel, best, hid, cmp = out["table"], out["best"], out["hidden"], out["compare"]
    display(show.table(sel[["config", "C", "val_f1", "test_f1", "test_selected_f1", "c_at_edge"]],
                       rename={"val_f1": "validation macro F1", "test_f1": "test macro F1",
                               "test_selected_f1": "test macro F1, C picked on test"}))
    # drawn only with hub access, so shown here rather than through a captioned {glue:figure} (an offline
    # build would lack its key)
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(sel) + 1))
    ax.barh(sel.config, sel.test_f1, color=[show.color(vs.sae) if f == "sae" else show.color("hidden")
                                            for f in sel.features])
    ax.set_xlabel("test macro F1 (C chosen on validation)")
    ax.invert_yaxis()
    plt.tight_layout()
    display(fig)
    plt.close(fig)
    display(Markdown("*Test macro F1 of every configuration (SAE features and the hidden-state baselines, in two "
                     "colours), sorted by validation F1, best first.*"))
    glue("p3_45_n_images", int(len(feats.labels)), display=False)
    glue("p3_45_n_classes", int(res.n_classes.iloc[0]), display=False)
    glue("p3_45_best_config", best.config, display=False)
    glue("p3_45_best_f1", float(best.test_f1), display=False)
    glue("p3_45_hidden_f1", float(hid.test_f1), display=False)
    glue("p3_45_diff_lo", cmp["lo"], display=False)
    glue("p3_45_diff_hi", cmp["hi"], display=False)
    glue("p3_45_verdict", out["verdict"], display=False)
else:
    for k in ("n_images", "n_classes", "best_f1", "hidden_f1", "diff_lo", "diff_hi"):
        glue(f"p3_45_{k}", float("nan"), display=False)
    glue("p3_45_best_config", "none (not run)", display=False)
    glue("p3_45_verdict", "were not compared with", display=False)
    display(Markdown(
        f"**Not run.** This experiment needs `{vs.model}`, the SAE `{vs.sae}` and `{vs.dataset}`, which "
        "only the Hugging Face hub provides, and hub access is off in this run. Offline the only model is "
        "the local text-only Gemma 3 270M, which has no image tokens, and a randomly initialised VLM would "
        "measure nothing about MOSAIC — so no number is reported. Run `SAEPROBE_ONLINE=1 python -m "
        f"saeprobe.book run --profile {profile} --only 45_visual` on a machine with hub access (a GPU for the paper profile's whole split)."))
glue("p3_45_seconds", time.perf_counter() - T0, display=False)

# %% [markdown]
# ## MOSAIC's experiment next to ours
#
# {glue:text}`p3_45_model` with the text SAE {glue:text}`p3_45_sae` on {glue:text}`p3_45_dataset`:
# **{glue:text}`p3_45_status`** in this build ({glue:text}`p3_45_n_images:.0f` images,
# {glue:text}`p3_45_n_classes:.0f` classes; nan = not run). The SAE configuration with the best
# validation F1, {glue:text}`p3_45_best_config`, scores test macro F1 {glue:text}`p3_45_best_f1:.3f`
# against {glue:text}`p3_45_hidden_f1:.3f` for the hidden state of the prompt's last token (the
# text pages' baseline; it attends to every image token); the SAE features
# {glue:text}`p3_45_verdict` the hidden-state baseline (95 % CI of the difference over resampled test
# images: {glue:text}`p3_45_diff_lo:.3f` to {glue:text}`p3_45_diff_hi:.3f`).

# %% [markdown]
# ## This page's claim
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under
# Getting started). MOSAIC reports that text-trained SAE features transfer zero-shot to image classification;
# the row compares them with the VLM's own hidden state, as the text pages do. Without hub access it is
# recorded as not run, with the reason.

# %% tags=["hide-input"]
if av.available:  # hidden state minus SAE: the hidden state should not beat the text SAE's features
    ours45 = dict(ours=-cmp["diff"], ci_lo=-cmp["hi"], ci_hi=-cmp["lo"])
    rule45 = claims.no_gain(0.01)
else:
    ours45 = dict(ours=None)
    rule45 = claims.not_run(f"needs the hub ({vs.model}, the SAE {vs.sae} and {vs.dataset})")
row = claims.record_claim(
    prof, "p3-visual-transfer", paper="P3", page="45_visual", rule=rule45,
    # the paper's number: PROTOCOLS.md and saeprobe.p3.MOSAIC_PAPER give none for this experiment
    paper_value=None, **ours45,
    claim="A text-trained SAE read on a vision-language model's image tokens classifies CIFAR-100 images: the "
          "VLM's last-token hidden state does not beat its pooled features (hidden minus SAE test macro F1).")
display(Markdown(claims.claim_markdown(row)))
findings = ([f"Best SAE configuration *{best.config}*: test macro F1 {float(best.test_f1):.3f}; last-token hidden "
             f"state: {float(hid.test_f1):.3f} (SAE minus hidden, 95 % CI over resampled test images: "
             f"[{cmp['lo']:+.3f}, {cmp['hi']:+.3f}])."] if av.available else [])
show.verdict_box([row], findings=findings)
