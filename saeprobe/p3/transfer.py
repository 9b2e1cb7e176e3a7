"""P3's transfer experiments: cross-lingual (notebook 42) and cross-model (notebook 44).

* :func:`crosslingual` -- train on a dataset's English rows, test zero-shot on its translated OOD
  file (:data:`CROSSLINGUAL`: French, Spanish, German), for TF-IDF, hidden states and SAE features.
* :func:`cross_model_transfer` -- do model A's features predict model B's zero-shot answers? Needs
  two different loadable models (:func:`model_available`); no stand-in pair.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from saeprobe.core import activations, data, models
from saeprobe.core.config import no_bar
from saeprobe.p3.features import binarize, by_layer, sae_features
from saeprobe.p3.protocol import Config, c_path, macro_f1, profile_split, standardize, tfidf_features
from saeprobe.p3.settings import load_texts, p3_profile, settings

#: Languages of the cross-lingual OOD files (P1's OOD data; English in-distribution).
CROSSLINGUAL = {"66_living-room": "French", "67_social-security": "Spanish", "73_control-group": "German"}


# ----------------------------------------------------------------------------- cross-lingual (notebook 42)
def crosslingual(profile, configs: Sequence[Config], *, saes_by_hook=None, model=None, progress: bool = True,
                 names: Sequence[str] | None = None) -> pd.DataFrame:
    """Train on the English in-distribution set, test zero-shot on its French/Spanish/German OOD file.

    One row per (dataset, config, C): ``val_f1`` / ``test_f1`` (English, held-out split) and ``ood_f1``
    (the other language; same refit model). TF-IDF's vocabulary is fitted on English training texts;
    ``ood_vocab_coverage`` (share of OOD texts with at least one known n-gram) is recorded for it.
    """

    prof = p3_profile(profile)
    s = settings(prof)
    names = list(names if names is not None else s.crosslingual)
    rows = []
    for name in tqdm(names, desc="cross-lingual", disable=no_bar(progress)):
        name = data.resolve_name(name)
        ds = load_texts(prof, name, False)
        ood = load_texts(prof, name, True)
        # the hidden-state cache holds every (non-empty) row of the OOD file: map the subsample onto it
        full_pos = {int(p): i for i, p in enumerate(data.load_ood(name).row_index)}
        rows_o = np.array([full_pos[int(p)] for p in ood.row_index], dtype=np.int64)
        y, yo = ds.labels, ood.labels
        train, test, inner, val = profile_split(s, y)
        need = [c for c in configs if c.kind == "sae"]
        feats, feats_o = {}, {}
        if need:
            hooks = {prof.hook_name(c.layer) for c in need}
            sub = {h: g for h, g in (saes_by_hook or {}).items() if h in hooks}
            feats = by_layer(sae_features(prof, name, sub, ood=False, model=model, progress=progress))
            feats_o = by_layer(sae_features(prof, name, sub, ood=True, model=model, progress=progress))
        base = {"dataset": name, "language": CROSSLINGUAL.get(name, "?"), "n_train": int(len(train)),
                "n_ood": int(len(yo))}
        for c in configs:
            extra_info = {}
            if c.kind == "tfidf":
                X, Xo = tfidf_features(ds.texts, train, ood.texts)
                extra_info["ood_vocab_coverage"] = float((Xo.getnnz(axis=1) > 0).mean())
                extra_info["id_vocab_coverage"] = float((X[test].getnnz(axis=1) > 0).mean())
                res = c_path(X, y, train, val, inner, test, s.C_grid, class_weight="balanced",
                             max_iter=s.max_iter, extra={"ood": (Xo, yo)})
            elif c.kind == "hidden":
                h = prof.hook_name(c.layer)
                X = activations.dataset_activations(prof, name, hook=h, reducer=c.pooling, model=model,
                                                    progress=progress).numpy().astype(np.float64)
                Xo = activations.dataset_activations(prof, name, hook=h, reducer=c.pooling, ood=True, model=model,
                                                     progress=progress).numpy().astype(np.float64)[rows_o]
                Xs, (mu, sd) = standardize(X, train)
                res = c_path(Xs, y, train, val, inner, test, s.C_grid, max_iter=s.max_iter,
                             extra={"ood": ((Xo - mu) / sd, yo)})
            else:
                X = binarize(feats[(c.layer, c.sae)][(c.pooling, c.top_n)], c.binarize)
                Xo = binarize(feats_o[(c.layer, c.sae)][(c.pooling, c.top_n)], c.binarize)
                res = c_path(X, y, train, val, inner, test, s.C_grid, max_iter=s.max_iter,
                             extra={"ood": (Xo, yo)})
            for r in res:
                rows.append({**base, **c.to_dict(), **extra_info, **r})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- cross-model (notebook 44)
@dataclass
class Availability:
    """Whether a model can be loaded here, and why not."""

    name: str
    available: bool
    reason: str = ""


def model_available(name: str) -> Availability:
    """Can ``name`` be loaded? Offline only the profile's local Gemma 3 270M can; with hub access
    (``SAEPROBE_ONLINE=1`` / ``HF_HUB_OFFLINE=0``) any TransformerLens name is tried lazily."""

    if models.hub_offline():
        if name in getattr(models, "_OFFLINE_ALIASES", {models.OFFLINE_MODEL}):
            return Availability(name, True, "local offline build")
        return Availability(name, False, "hub access is off (HF_HUB_OFFLINE=1); only google/gemma-3-270m is "
                                         "available offline. Set SAEPROBE_ONLINE=1 on a machine with hub access.")
    return Availability(name, True, "hub access is on")


def cross_model_transfer(profile, model_a: str, model_b: str, dataset: str, *, layer_a: int | None = None,
                         max_rows: int = 500,
                         progress: bool = True) -> pd.DataFrame:
    """MOSAIC-style cross-model transfer: do model A's features predict model B's behaviour?

    Model B answers each prompt zero-shot: the class whose name's first token gets the highest
    next-token logit. A logistic regression on model A's last-token residual at ``layer_a`` (80/20
    split, C by validation) predicts B's answers; macro F1 against B's answers is reported next to
    the majority-answer baseline. Needs two *different* loadable models (see :func:`model_available`);
    raises ``RuntimeError`` otherwise — there is no stand-in pair.
    """

    if model_a == model_b:
        raise ValueError("cross-model transfer needs two different models (got the same name twice)")
    for m in (model_a, model_b):
        av = model_available(m)
        if not av.available:
            raise RuntimeError(f"model {m!r} is not available: {av.reason}")
    s = settings(profile)
    ds = load_texts(profile.replace(max_rows=max_rows), dataset, False)
    mb = models.load_model(model_b, device=profile.device, dtype=profile.dtype)
    first = [mb.tokenizer(" " + c.replace("_", " "), add_special_tokens=False)["input_ids"][0] for c in ds.classes]
    answers = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(ds.texts), 8), desc=f"{model_b} answers", disable=no_bar(progress)):
            toks = activations.tokenize(mb, ds.texts[i:i + 8], profile.max_len)
            for t in toks:
                logits = mb(torch.tensor([t], device=next(mb.parameters()).device), return_type="logits")[0, -1]
                answers.append(int(torch.argmax(logits[first]).item()))
    del mb
    yb = np.array(answers)
    ma = models.load_model(model_a, device=profile.device, dtype=profile.dtype)
    layer_a = ma.cfg.n_layers // 2 if layer_a is None else int(layer_a)
    hook = profile.hook.format(layer=layer_a)
    X = activations.extract(ma, ds.texts, [hook], max_len=profile.max_len, batch_size=profile.batch_size,
                            reducers=("last",), progress=progress)[hook]["last"].numpy().astype(np.float64)
    train, test, inner, val = profile_split(s, yb)
    Xs, _ = standardize(X, train)
    res = pd.DataFrame(c_path(Xs, yb, train, val, inner, test, s.C_grid, max_iter=s.max_iter))
    major = np.bincount(yb[train]).argmax()
    res["majority_f1"] = macro_f1(yb[test], np.full(len(test), major))
    res["agreement_with_labels"] = float((yb == ds.labels).mean())
    res["model_a"], res["model_b"], res["dataset"], res["layer_a"] = model_a, model_b, ds.name, layer_a
    return res
