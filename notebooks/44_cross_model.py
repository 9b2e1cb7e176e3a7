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
# # Cross-model transfer: does a small model's representation predict a larger model's behaviour? (MOSAIC)
#
# ::::{admonition} At a glance
# :class: sp-verdict
#
# :::{glue:md} verdict_box
# :format: myst
# :::
# ::::

# %% [markdown]
# **MOSAIC's claim** (P3). Features read from a *small* model (Gemma-2-2B, with its Gemma Scope SAEs)
# predict what a *larger, instruction-tuned* model (Gemma-2-9B-IT) will do on the same prompts, so a
# cheap model can monitor an expensive one.
#
# **Here**: the experiment is parameterized by two model names. Model B answers every prompt of a
# dataset zero-shot (the class whose name's first token gets the highest next-token logit); a
# logistic regression on model A's last-token residual stream (80/20 split, C chosen on validation)
# predicts B's answers, scored by macro F1 against B's answers next to the majority-answer baseline.
# It runs **only when both models can be loaded** — i.e. with hub access (`SAEPROBE_ONLINE=1`) for
# any model other than the offline Gemma 3 270M. Offline there is one model only, and this page says
# so instead of inventing a pair.

# %% tags=["parameters"]
profile = "cpu"
model_a = None  # None: the profile's p3.cross_model.model_a (MOSAIC: google/gemma-2-2b)
model_b = None  # None: the profile's p3.cross_model.model_b (MOSAIC: google/gemma-2-9b-it)
dataset = "97_news_class"
layer_a = None  # None: the middle layer of model A

# %% tags=["hide-input"]
import time

from IPython.display import Markdown, display
from myst_nb import glue

from saeprobe import load_profile, show
from saeprobe.core import claims
from saeprobe.p3 import cross_model_transfer, model_available, select

T0 = time.perf_counter()
prof = load_profile(profile)
show.setup(prof)
cm = prof.p3.cross_model
model_a = model_a or cm.model_a
model_b = model_b or cm.model_b
av_a, av_b = model_available(model_a), model_available(model_b)
runnable = av_a.available and av_b.available and model_a != model_b
glue("p3_44_model_a", model_a, display=False)
glue("p3_44_model_b", model_b, display=False)
glue("p3_44_status", "ran" if runnable else "did not run", display=False)
for av in (av_a, av_b):
    display(Markdown(f"- `{av.name}`: {'available' if av.available else 'NOT available'} — {av.reason}"))

# %%
if runnable:
    res = cross_model_transfer(prof, model_a, model_b, dataset, layer_a=layer_a, progress=False)
    sel = select(res.assign(config=f"{model_a} -> {model_b}"), "val").iloc[0]
    display(show.table(res))
    glue("p3_44_f1", float(sel.test_f1), display=False)
    glue("p3_44_majority_f1", float(sel.majority_f1), display=False)
    display(Markdown(f"Model A's features predict model B's answers with macro F1 **{sel.test_f1:.3f}** "
                     f"(majority baseline {sel.majority_f1:.3f})."))
else:
    glue("p3_44_f1", float("nan"), display=False)
    glue("p3_44_majority_f1", float("nan"), display=False)
    display(Markdown(
        f"**Not run.** Cross-model transfer needs two different models; here `{model_a}` is "
        f"{'available' if av_a.available else 'not available'} and `{model_b}` is "
        f"{'available' if av_b.available else 'not available'}. Offline, only the local Gemma 3 270M can be "
        "loaded, and pairing it with itself (or with a perturbed copy) would measure nothing about transfer "
        "between models — so no number is reported. Run `SAEPROBE_ONLINE=1 python -m saeprobe.book run "
        "--profile cpu --only 44_cross_model` on a machine with hub access (and the Gemma licence accepted)."))
glue("p3_44_seconds", time.perf_counter() - T0, display=False)

# %% [markdown]
# ## MOSAIC's claim next to ours
#
# MOSAIC: a small model's SAE features predict the larger instruction-tuned model's behaviour. Ours:
# the transfer from {glue:text}`p3_44_model_a` to {glue:text}`p3_44_model_b` **{glue:text}`p3_44_status`**
# in this build; macro F1 of predicting B's answers: {glue:text}`p3_44_f1:.3f` (majority baseline
# {glue:text}`p3_44_majority_f1:.3f`; nan = not run). Our version uses model A's hidden state rather
# than its SAE features, because the official SAEs of a hub model need the hub as well.

# %% [markdown]
# ## This page's claims
#
# Recorded with `saeprobe.core.claims.record_claim` for the claims page (*Do the papers hold up here?*, under Getting started); the verdict is computed from our CI by the rule named in each line.

# %% tags=["hide-input"]
if runnable:
    ours44, rule44 = float(sel.test_f1 - sel.majority_f1), claims.direction(+1)
else:
    ours44, rule44 = None, claims.not_run("needs the hub (a second model; Gemma-2 weights are gated)")
row = claims.record_claim(
    prof, "p3-cross-model", paper="P3", page="44_cross_model", rule=rule44, paper_value=None, ours=ours44,
    claim="A small model's features predict a larger model's answers better than the majority answer (macro F1 "
          "minus the majority baseline).")
display(Markdown(claims.claim_markdown(row)))
findings = ([f"Model A's features predict model B's answers with macro F1 {sel.test_f1:.3f} (majority baseline "
             f"{sel.majority_f1:.3f})."] if runnable else [])
show.verdict_box([row], findings=findings)

# %% [markdown]
# ## Exercises
#
# Solutions are hidden: open one after you have tried (the code in a solution ran when this page was built).

# %% [markdown]
# :::{exercise} Predict before you run: what does the majority baseline score?
# :label: ex-44_cross_model-predict
# Model B answers a binary task; a classifier predicts B's answers. If B answers one class 80 % of the time, what macro F1 does always predicting that class get?
# :::
#
# :::{solution} ex-44_cross_model-predict
# :class: dropdown
# Macro F1 averages the two classes' F1: the majority class gets 2·0.8/(1+0.8) ≈ 0.89, the other 0, so macro F1 ≈ 0.44 — well below accuracy's 0.8, which is why the page reports macro F1 next to the majority baseline.
# :::

# %% [markdown]
# :::{exercise} Extend: check which models this machine can load
# :label: ex-44_cross_model-extend
# Before planning a cross-model run, print which of the two models this machine can load and why — the first thing to check on a new machine.
# :::
#
# :::{solution-start} ex-44_cross_model-extend
# :class: dropdown
# :::
#
# Offline only the local Gemma 3 270M loads; with `SAEPROBE_ONLINE=1` and the Gemma licence accepted, the hub models do too, and the page then runs the transfer.

# %% tags=["solution"]
for av in (av_a, av_b):
    print(f"{av.name}: {'available' if av.available else 'not available'} ({av.reason})")

# %% [markdown]
# :::{solution-end}
# :::
