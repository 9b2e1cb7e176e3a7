"""P3's settings of a profile, resolved, and what follows from them alone.

:func:`settings` is the profile's :class:`~saeprobe.core.settings.P3Settings` (where every default
lives) with ``layers`` resolved; :func:`p3_profile` applies ``p3.max_rows``; :func:`datasets` names
the runs; :func:`load_texts` reads a dataset's rows (or its OOD file's) as every P3 module does;
:func:`feature_forms` lists the pooled forms of the grid; :func:`main_layer` is the layer the pages
quote; :func:`visual_settings` resolves ``p3.visual`` (notebook 45). The paper's constants
(:data:`MOSAIC_PAPER`, :data:`MOSAIC_VISUAL`, :data:`TOP_N`, :data:`POOLINGS`) are here too.
"""
from __future__ import annotations

import dataclasses
import re

from saeprobe.core import data
from saeprobe.core.settings import P3_POOLINGS, P3Settings, VisualSettings

#: Bump when a change in saeprobe.p3 changes the numbers produced (part of every cache key).
MOSAIC_VERSION = "1"

#: MOSAIC's per-token top-n values; ``0`` means every active latent ("all").
TOP_N = P3Settings.top_n
#: Pooled forms over a text's tokens (``saeprobe.saes.pool_token_codes``; ``last``: the last token).
POOLINGS = P3_POOLINGS

#: MOSAIC's headline numbers (from the paper; Gemma-2-2B, Gemma Scope SAEs), quoted next to ours.
MOSAIC_PAPER = {
    "best_config": "binarized, all latents counted over tokens, layer 12 of Gemma-2-2B, 16k SAE",
    "best_macro_f1": 0.802,
    "best_macro_f1_sd": 0.143,
}

#: MOSAIC's visual protocol as its code runs it (shan23chen/MOSAIC: src/models.py, src/get_hidden_states.py
#: and the README's VLM command): LLaVA-Gemma-2B, prompt = the tokenizer's chat template around
#: ``"<image>"`` (no text), one forward pass, ``hidden_states[layer]`` (the output of block ``layer - 1``)
#: sliced to the image tokens ``[:, 4:580]``, the text SAE ``gemma-2b-res-jb`` of that layer, then the
#: text protocol's pooling and classifier.
MOSAIC_VISUAL = {
    "model": "Intel/llava-gemma-2b",
    "sae": "gemma-2b-res-jb/blocks.12.hook_resid_post",
    "hidden_states_index": 12,
    "token_slice": (4, 580),
    "dataset": "renumics/cifar100-enriched",
    "split": "test",
}


def settings(profile) -> P3Settings:
    """The profile's ``p3:`` settings with ``layers`` resolved (None: every profile layer, sorted).

    Types and unknown keys were checked when the profile was loaded; here the checks that need the
    profile: every P3 layer is a profile layer. (The main width is checked by ``features.sae_table``,
    which knows the trained widths.)
    """
    s = profile.p3
    layers = tuple(sorted(profile.layers)) if s.layers is None else tuple(s.layers)
    for layer in layers:
        if layer not in profile.layers:
            raise ValueError(f"profile {profile.name!r} p3.layers: {layer} is not a profile layer {list(profile.layers)}")
    return dataclasses.replace(s, layers=layers)


def datasets(profile) -> list[tuple[str, str]]:
    """``[(canonical name, "binary" | "multiclass")]`` of the P3 runs of this profile."""

    s = settings(profile)
    binary = profile.dataset_names() if s.binary is None else [data.resolve_name(n) for n in s.binary]
    mc = s.multiclass
    multi = data.list_datasets("multiclass") if mc == "all" else [data.resolve_name(n) for n in (mc or [])]
    return [(n, "multiclass") for n in multi] + [(n, "binary") for n in binary]


def p3_profile(profile):
    """The profile with P3's ``max_rows`` applied (rows of every dataset and cache key follow it)."""
    mr = settings(profile).max_rows
    return profile if mr is None else profile.replace(max_rows=int(mr))


def load_texts(profile, dataset: str, ood: bool = False):
    """The rows P3 uses: ``load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)``, or with
    ``ood`` the OOD file (``p3.ood_max_rows``: a class-proportional subsample; None: all of it)."""
    if ood:
        mr = profile.p3.ood_max_rows
        return data.load_ood(dataset, max_rows=None if mr is None else int(mr), seed=profile.seed)
    return data.load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)


def feature_forms(s: P3Settings) -> list[tuple[str, int]]:
    """The pooled forms ``[(pooling, top_n)]`` of the grid: every pooling with every top-n for
    ``top_n_poolings``, the other poolings with all latents only; ``last`` is ``("last", 0)``."""
    forms = []
    for p in s.poolings:
        if p == "last":
            forms.append((p, 0))
            continue
        for n in s.top_n:
            if n and p not in s.top_n_poolings:
                continue
            forms.append((p, int(n)))
    return forms


def main_layer(profile, s: P3Settings | None = None) -> int:
    """The layer the pages quote: the profile's main layer if P3 uses it, else the middle P3 layer."""
    s = settings(profile) if s is None else s
    return profile.main_layer if profile.main_layer in s.layers else s.layers[len(s.layers) // 2]


def visual_settings(profile) -> VisualSettings:
    """The profile's ``p3.visual`` with ``hidden_states_index`` resolved (None -> ``layer + 1``).

    Checks that need no model (one line each): ``token_slice`` is ``[start, stop]`` with
    ``0 <= start < stop``; an SAE id naming a block (``blocks.L.…``) names ``layer``; the hidden-state
    index is at least 1 (index 0 is the embeddings).
    """
    v = profile.p3.visual
    where = f"profile {profile.name!r} p3.visual"
    if v.token_slice is not None:
        ts = tuple(int(t) for t in v.token_slice)
        if len(ts) != 2 or not 0 <= ts[0] < ts[1]:
            raise ValueError(f"{where}.token_slice: expected [start, stop] with 0 <= start < stop, got {list(ts)}")
    m = re.search(r"(?:^|/)blocks\.(\d+)\.", v.sae)
    if m and int(m.group(1)) != v.layer:
        raise ValueError(f"{where}.sae {v.sae!r} reads block {m.group(1)} but p3.visual.layer is {v.layer}")
    idx = v.layer + 1 if v.hidden_states_index is None else int(v.hidden_states_index)
    if idx < 1:
        raise ValueError(f"{where}.hidden_states_index: {idx} is the embeddings (need >= 1)")
    return dataclasses.replace(v, hidden_states_index=idx)
