"""P3 — MOSAIC (Gallifant, Chen et al. 2025): pooled SAE features for text classification.

What this module does (notebooks ``4x_*`` orchestrate it; see PROTOCOLS.md, P3):

* **Pooled SAE features** (:func:`sae_features`). One forward pass of the model per dataset serves
  every profile layer, every SAE at those layers and every pooled form. Per text, the non-BOS token
  activations are encoded with the SAE (``saeprobe.saes.encode``); each token keeps its top-``n``
  latents (``n`` in ``{all, 20, 50}``; *all* = every active latent) and the codes are pooled over the
  text's tokens with ``saeprobe.saes.pool_token_codes``: ``count`` (tokens in which the latent is
  kept: MOSAIC's one-hot-and-sum), ``sum`` (summed activations), ``max``, ``mean``; ``last`` is the
  last token's code. Binarization (``X > threshold``, MOSAIC: 1; also ``> 0``) is applied on load by
  :func:`binarize` — it is elementwise on the pooled matrix, so the cache stores the unbinarized
  forms once. Cached per (model identity, hook, SAE identity, dataset rows, max_len, poolings, top-n)
  as sparse CSR (``indptr`` / ``indices`` / ``data`` tensors) with :mod:`saeprobe.cache`.
* **Baselines**: hidden states (last token and mean-pooled residual, from
  ``saeprobe.activations.dataset_activations``; standardized as MOSAIC does) and TF-IDF with the
  paper's settings (``TfidfVectorizer(ngram_range=(1, 2), max_features=20000,
  stop_words="english")`` + logistic regression with ``class_weight="balanced"``).
* **Protocol** (:func:`evaluate`): 80/20 stratified train/test split (seed 42); a stratified
  validation split (default 20 %) of the *training* part selects C of an L2 logistic regression by
  macro F1; the model is refit on the whole training part. Every C is also refit on the whole
  training part and scored on the test split, so the paper's test-set selection can be compared with
  validation selection (notebook 43). Metric: macro F1 (binary and multiclass alike).

Shapes: ``n`` texts, ``d_sae`` latents, ``d_model`` residual width. Features are scipy CSR
``[n, d_sae]`` float32 (SAE) or dense ``[n, d_model]`` (hidden states).

Known deviation from MOSAIC's code: its top-``n`` uses ``argpartition`` on the dense code, so when
fewer than ``n`` latents are active it also "keeps" inactive ones (with activation 0); we keep only
active latents (``pool_token_codes``), which is what the paper describes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm
from saeprobe.core.config import no_bar
from saeprobe import saes
from saeprobe.core import activations, data, models
from saeprobe.core.cache import atomic_save, key_for, load_checked
from saeprobe.core.config import load_profile
from saeprobe.core.models import load_profile_model
from saeprobe.core.stats import bootstrap_ci
from saeprobe.saes import encode, pool_token_codes

log = logging.getLogger("saeprobe.mosaic")

#: Bump when a change here changes the numbers produced (part of every cache key).
MOSAIC_VERSION = "1"

#: MOSAIC's per-token top-n values; ``0`` means every active latent ("all").
TOP_N = (0, 20, 50)
POOLINGS = ("count", "sum", "max", "mean", "last")
BINARIZE = (None, 0.0, 1.0)
TFIDF_SETTINGS = dict(ngram_range=(1, 2), max_features=20000, stop_words="english")
#: Languages of the cross-lingual OOD files (P1's OOD data; English in-distribution).
CROSSLINGUAL = {"66_living-room": "French", "67_social-security": "Spanish", "73_control-group": "German"}

#: MOSAIC's headline numbers (from the paper; Gemma-2-2B, Gemma Scope SAEs), quoted next to ours.
MOSAIC_PAPER = {
    "best_config": "binarized, all latents counted over tokens, layer 12 of Gemma-2-2B, 16k SAE",
    "best_macro_f1": 0.802,
    "best_macro_f1_sd": 0.143,
}

DEFAULTS: dict[str, Any] = {
    "binary": None,            # binary datasets; None: the profile's datasets
    "multiclass": "all",       # "all" | list of multiclass names | []
    "max_rows": None,          # None: the profile's max_rows
    "layers": None,            # None: every profile layer
    "top_n": list(TOP_N),
    "poolings": list(POOLINGS),
    "top_n_poolings": ["count", "sum"],  # poolings that also get the top-n (20, 50) variants
    "binarize": [None, 0.0, 1.0],
    "widths": None,            # SAE widths used (None: every width the profile trains)
    "arch": None,              # SAE architecture (None: the first in the sae: section)
    "main_width": None,        # width of the pooling grid (notebook 40); None: the first SAE's width
    "C_grid": [0.01, 0.1, 1.0, 10.0, 100.0],
    "max_iter": 500,
    "test_size": 0.2,
    "val_size": 0.2,
    "seed": 42,
    "n_boot": 2000,
    "crosslingual": list(CROSSLINGUAL),
    "ood_max_rows": None,      # None: the whole OOD file (nb 42); an int subsamples it (smoke)
    "cross_model": {"model_a": "google/gemma-2-2b", "model_b": "google/gemma-2-9b-it"},
}


def settings(profile) -> dict:
    """The ``p3:`` section of ``profile`` over :data:`DEFAULTS`; validated."""
    s = {**DEFAULTS, **(profile.p3 or {})}
    unknown = set(profile.p3 or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"profile {profile.name!r} p3: unknown key(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    bad = [p for p in s["poolings"] if p not in POOLINGS]
    if bad:
        raise ValueError(f"profile {profile.name!r} p3.poolings: unknown {bad}; choose from {POOLINGS}")
    if s["layers"] is None:
        s["layers"] = sorted(profile.layers)
    for layer in s["layers"]:
        if layer not in profile.layers:
            raise ValueError(f"profile {profile.name!r} p3.layers: {layer} is not a profile layer {list(profile.layers)}")
    s["top_n"] = [int(n or 0) for n in s["top_n"]]
    s["binarize"] = [None if b is None else float(b) for b in s["binarize"]]
    s["C_grid"] = [float(c) for c in s["C_grid"]]
    return s


def datasets(profile) -> list[tuple[str, str]]:
    """``[(canonical name, "binary" | "multiclass")]`` of the P3 runs of this profile."""

    s = settings(profile)
    binary = profile.dataset_names() if s["binary"] is None else [data.resolve_name(n) for n in s["binary"]]
    mc = s["multiclass"]
    multi = data.list_datasets("multiclass") if mc == "all" else [data.resolve_name(n) for n in (mc or [])]
    return [(n, "multiclass") for n in multi] + [(n, "binary") for n in binary]


def p3_profile(profile):
    """The profile with P3's ``max_rows`` applied (rows of every dataset and cache key follow it)."""
    mr = settings(profile)["max_rows"]
    return profile if mr is None else profile.replace(max_rows=int(mr))


# ----------------------------------------------------------------------------- pooling
def binarize(X, threshold: float | None):
    """``(X > threshold)`` as float32 0/1 (same sparsity type); ``None`` returns ``X`` unchanged."""
    if threshold is None:
        return X
    if sp.issparse(X):
        out = sp.csr_matrix(X, dtype=np.float32, copy=True)
        out.data = (out.data > threshold).astype(np.float32)
        out.eliminate_zeros()
        return out
    return (np.asarray(X) > threshold).astype(np.float32)


def pool_text(codes: sp.csr_matrix, poolings: Sequence[str] = POOLINGS, top_ns: Sequence[int] = (0,),
              top_n_poolings: Sequence[str] = ("count", "sum")) -> dict[tuple[str, int], sp.csr_matrix]:
    """Every pooled form of one text's token codes ``[T, d_sae]`` (CSR, BOS already excluded).

    Returns ``{(pooling, top_n): CSR [1, d_sae]}``; ``top_n`` 0 = all active latents. The top-n
    variants (``top_n > 0``) are made only for ``top_n_poolings``; ``"last"`` is the last token's code
    (all its latents). Pooling itself is ``saeprobe.saes.pool_token_codes``.
    """

    codes = sp.csr_matrix(codes, dtype=np.float32)
    T, d = codes.shape
    out = {}
    for p in poolings:
        if p == "last":
            out[(p, 0)] = codes[T - 1:T] if T else sp.csr_matrix((1, d), dtype=np.float32)
            continue
        for n in top_ns:
            if n and p not in top_n_poolings:
                continue
            out[(p, int(n))] = pool_token_codes(codes, p, top_n=int(n) or None)
    return out


# ----------------------------------------------------------------------------- SAEs of the profile
def sae_identity(sae) -> str:
    """String naming an SAE's exact weights (its training manifest key, else a weight hash)."""
    man = getattr(sae, "saeprobe_manifest", None) or {}
    if man.get("key"):
        return f"{man.get('name', 'sae')}@{man['key']}"
    h = hashlib.sha256()
    for name in ("W_enc", "b_enc", "threshold"):
        t = getattr(sae, name, None)
        if isinstance(t, torch.Tensor):
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return f"{type(sae).__name__}-{sae.cfg.d_sae}@{h.hexdigest()[:24]}"


def sae_table(profile) -> pd.DataFrame:
    """The profile's SAEs usable for P3: one per (layer, width) — the lowest seed of the chosen arch.

    Columns: ``layer, width, arch, name, spec`` (a :class:`saeprobe.saes.SAESpec`), ``main`` (True for
    the width used by the pooling grid: ``p3.main_width``, else the width of the first SAE of that
    architecture in the ``sae:`` section). Empty when the profile's ``sae:`` section defines no SAEs.
    """

    s = settings(profile)
    specs = [sp_ for sp_ in saes.sae_specs(profile) if sp_.layer in s["layers"]]
    if not specs:
        return pd.DataFrame(columns=["layer", "width", "arch", "name", "spec", "main"])
    arch = s["arch"] or specs[0].arch
    specs = [x for x in specs if x.arch == arch]
    if s["widths"]:
        specs = [x for x in specs if x.width in set(s["widths"])]
    best: dict[tuple, Any] = {}
    for x in specs:
        k = (x.layer, x.width)
        if k not in best or x.seed < best[k].seed:
            best[k] = x
    rows = [{"layer": k[0], "width": k[1], "arch": v.arch, "name": v.name, "spec": v} for k, v in sorted(best.items())]
    df = pd.DataFrame(rows)
    main_w = s["main_width"]
    if main_w is None:  # the profile's primary SAE: the width of the first spec of this architecture
        main_w = int(specs[0].width)
    if main_w not in set(df.width):
        raise ValueError(f"profile {profile.name!r} p3.main_width {main_w} is not a trained width {sorted(set(df.width))}")
    df["main"] = df.width == main_w
    return df


def load_saes(profile, table: pd.DataFrame, model=None, progress: bool = False) -> dict[str, dict[str, Any]]:
    """``{hook: {sae name: sae}}`` for the rows of :func:`sae_table` (trained or loaded from cache)."""

    out: dict[str, dict[str, Any]] = {}
    for _, r in table.iterrows():
        sae = saes.get_sae(profile, r["spec"], model=model, progress=progress)
        out.setdefault(profile.hook_name(int(r["layer"])), {})[r["name"]] = sae
    return out


# ----------------------------------------------------------------------------- feature cache
def _csr_tensors(prefix: str, m: sp.csr_matrix) -> dict[str, torch.Tensor]:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    return {f"{prefix}.indptr": torch.from_numpy(m.indptr.astype(np.int64)),
            f"{prefix}.indices": torch.from_numpy(m.indices.astype(np.int32)),
            f"{prefix}.data": torch.from_numpy(m.data.astype(np.float32))}


def _csr_from(tensors: dict, prefix: str, shape) -> sp.csr_matrix:
    return sp.csr_matrix((tensors[f"{prefix}.data"].numpy(), tensors[f"{prefix}.indices"].numpy(),
                          tensors[f"{prefix}.indptr"].numpy()), shape=tuple(shape))


def _form_name(pooling: str, top_n: int) -> str:
    return f"{pooling}.top{int(top_n)}"


def _texts_sha(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _load_texts(profile, dataset: str, ood: bool):
    if ood:  # p3.ood_max_rows: a class-proportional subsample of the OOD file (smoke); None: all of it
        mr = (profile.p3 or {}).get("ood_max_rows")
        return data.load_ood(dataset, max_rows=None if mr is None else int(mr), seed=profile.seed)
    return data.load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)


def _feature_entry(profile, ds, hook, sae_id, forms, identity, ood):
    fields = {"what": "p3-pooled-sae", "model": identity, "hook": hook, "sae": sae_id, "dataset": ds.name,
              "ood": ood, "texts_sha256": _texts_sha(ds.texts), "n_rows": len(ds.texts), "max_len": profile.max_len,
              "forms": sorted(forms), "version": MOSAIC_VERSION}
    key = key_for(fields)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:60]
    sae_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", sae_id.split("@")[0])[:60]
    path = profile.home_dir / "p3" / "features" / slug / ds.name / f"{hook}.{sae_slug}.{key[:16]}.safetensors"
    return path, {**fields, "key": key}


def _forms(s: dict) -> list[tuple[str, int]]:
    forms = []
    for p in s["poolings"]:
        if p == "last":
            forms.append((p, 0))
            continue
        for n in s["top_n"]:
            if n and p not in s["top_n_poolings"]:
                continue
            forms.append((p, int(n)))
    return forms


def sae_features(profile, dataset: str, saes_by_hook: dict[str, dict[str, Any]], *, ood: bool = False,
                 model=None, progress: bool = True) -> dict[tuple[str, str], dict[tuple[str, int], sp.csr_matrix]]:
    """Pooled SAE features of one dataset for every (hook, SAE) in ``saes_by_hook``.

    Returns ``{(hook, sae name): {(pooling, top_n): CSR [n_rows, d_sae]}}`` (unbinarized; apply
    :func:`binarize`). Rows follow ``load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)``
    (``load_ood`` with ``ood=True``). Cached; on a miss, ONE forward pass (all missing hooks at once)
    feeds every SAE and pooled form. The model is loaded only on a miss.
    """

    s = settings(profile)
    forms = _forms(s)
    form_names = [_form_name(*f) for f in forms]
    ds = _load_texts(profile, dataset, ood)
    n = len(ds.texts)
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    out: dict[tuple[str, str], dict] = {}
    missing: list[tuple[str, str]] = []
    entries = {}
    for hook, group in saes_by_hook.items():
        for name, sae in group.items():
            d_sae = int(sae.cfg.d_sae)
            if identity is None:
                missing.append((hook, name))
                continue
            path, fields = _feature_entry(profile, ds, hook, sae_identity(sae), form_names, identity, ood)
            entries[(hook, name)] = (path, fields)
            hit = load_checked(path, {"key": fields["key"]})
            if hit is None:
                missing.append((hook, name))
                continue
            out[(hook, name)] = {f: _csr_from(hit[0], _form_name(*f), (n, d_sae)) for f in forms}
    if not missing:
        return out
    model = model if model is not None else models.load_profile_model(profile)
    identity = models.model_identity(model)
    t0 = time.perf_counter()
    pooled = _pool_pass(model, ds.texts, {h: {k: saes_by_hook[h][k] for (hh, k) in missing if hh == h}
                                          for h in {h for h, _ in missing}},
                        forms, s, profile, progress)
    secs = time.perf_counter() - t0
    for key, mats in pooled.items():
        hook, name = key
        path, fields = _feature_entry(profile, ds, hook, sae_identity(saes_by_hook[hook][name]), form_names, identity, ood)
        tensors = {}
        for f, m in mats.items():
            tensors.update(_csr_tensors(_form_name(*f), m))
        atomic_save(path, tensors, {**fields, "d_sae": int(saes_by_hook[hook][name].cfg.d_sae), "seconds": secs})
        out[key] = mats
    return out


def _pool_pass(model, texts, saes_by_hook, forms, s, profile, progress):
    """One model pass over ``texts`` at every hook of ``saes_by_hook`` -> pooled CSR per (hook, SAE)."""

    hooks = sorted(saes_by_hook, key=lambda h: activations.hook_layer(model, h))
    token_ids = activations.tokenize(model, texts, profile.max_len)
    n = len(texts)
    poolings = sorted({p for p, _ in forms})
    top_ns = sorted({t for _, t in forms})
    rows: dict[tuple, dict[tuple, list]] = {(h, k): {f: [None] * n for f in forms}
                                            for h in hooks for k in saes_by_hook[h]}
    # activations.run_batches is the extractor's one-pass, multi-hook batch loop (same tokenization,
    # truncation and padding as extract / iter_token_acts).
    for idx, acts, mask, last, _ in activations.run_batches(model, token_ids, hooks, profile.batch_size,
                                                           "P3 features", progress):
        m = mask.cpu()
        lens = m.sum(1).tolist()
        starts = np.concatenate([[0], np.cumsum(lens)]).astype(int)
        for h in hooks:
            tok = acts[h].cpu()[m]  # [sum T_i, d_model], row-major: text by text
            for name, sae in saes_by_hook[h].items():
                codes = encode(sae, tok)  # CSR [sum T_i, d_sae]
                for r, i in enumerate(idx):
                    pooled = pool_text(codes[starts[r]:starts[r + 1]], poolings, top_ns, s["top_n_poolings"])
                    for f in forms:
                        rows[(h, name)][f][i] = pooled[f]
    out = {}
    for key, per_form in rows.items():
        out[key] = {f: sp.vstack(lst, format="csr").astype(np.float32) for f, lst in per_form.items()}
    return out


# ----------------------------------------------------------------------------- feature sets
@dataclass(frozen=True)
class Config:
    """One feature representation. ``kind``: ``"sae"`` | ``"hidden"`` | ``"tfidf"``."""

    kind: str
    layer: int | None = None
    sae: str | None = None
    width: int | None = None
    pooling: str | None = None   # sae: count/sum/max/mean/last; hidden: last/mean
    top_n: int = 0
    binarize: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "tfidf":
            return "TF-IDF"
        if self.kind == "hidden":
            return f"hidden {self.pooling} L{self.layer}"
        b = "" if self.binarize is None else f" >{self.binarize:g}"
        n = "all" if not self.top_n else f"top{self.top_n}"
        return f"SAE {self.pooling} {n}{b} L{self.layer} w{self.width}"

    def to_dict(self) -> dict:
        return {"features": self.kind, "layer": self.layer, "sae": self.sae, "width": self.width,
                "pooling": self.pooling, "top_n": self.top_n, "binarize": self.binarize, "config": self.label}


def grid_configs(profile, table: pd.DataFrame, *, which: str = "pooling") -> list[Config]:
    """Configurations to evaluate.

    ``which="pooling"``: every pooled form x binarization at every P3 layer for the main-width SAE,
    plus hidden last/mean per layer and TF-IDF (notebooks 40, 43).
    ``which="widths"``: MOSAIC's best form (count, all latents, > 1) and summed activations at every
    (layer, width), plus the same baselines (notebook 41).
    """
    s = settings(profile)
    out: list[Config] = [Config("tfidf")]
    for layer in s["layers"]:
        out += [Config("hidden", layer=layer, pooling="last"), Config("hidden", layer=layer, pooling="mean")]
    if table.empty:
        return out
    if which == "pooling":
        for _, r in table[table["main"]].iterrows():
            for p, n in _forms(s):
                for b in s["binarize"]:
                    out.append(Config("sae", int(r.layer), r["name"], int(r.width), p, n, b))
    elif which == "widths":
        for _, r in table.iterrows():
            out.append(Config("sae", int(r.layer), r["name"], int(r.width), "count", 0, 1.0))
            out.append(Config("sae", int(r.layer), r["name"], int(r.width), "sum", 0, None))
    else:
        raise ValueError(f"which must be 'pooling' or 'widths', got {which!r}")
    return out


def tfidf_vectorizer():
    """MOSAIC's TF-IDF baseline features (unfitted ``TfidfVectorizer``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**TFIDF_SETTINGS)


# ----------------------------------------------------------------------------- classification
def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred`` (sklearn)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def split(y, *, test_size: float = 0.2, val_size: float = 0.2, seed: int = 42):
    """Stratified ``(train, test, inner_train, val)`` row indices; ``inner_train``/``val`` partition ``train``.

    80/20 train/test (seed 42, MOSAIC); the validation split is a stratified ``val_size`` of the
    training part (seed 42). Classes too small to stratify fall back to an unstratified split.
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    idx = np.arange(len(y))

    def _tts(ix, frac):
        yy = y[ix]
        counts = np.unique(yy, return_counts=True)[1]
        strat = yy if len(counts) > 1 and counts.min() >= 2 else None
        try:
            return train_test_split(ix, test_size=frac, random_state=seed, stratify=strat)
        except ValueError:  # a split too small to hold every class
            return train_test_split(ix, test_size=frac, random_state=seed, stratify=None)

    train, test = _tts(idx, test_size)
    inner, val = _tts(np.sort(train), val_size)
    return np.sort(train), np.sort(test), np.sort(inner), np.sort(val)


def c_path(X, y, train, val, inner, test, Cs, *, class_weight=None, max_iter: int = 500,
           extra: dict | None = None) -> list[dict]:
    """Fit an L2 logistic regression for every C; returns one dict per C (in ``Cs`` order).

    Each dict: ``C``, ``val_f1`` (fit on ``inner``, scored on ``val``), ``test_f1`` (refit on all of
    ``train``, scored on ``test``), ``train_f1`` and, for every ``name: (X_extra, y_extra)`` in
    ``extra``, ``<name>_f1`` of the same refit model. C is walked in increasing order with warm starts.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    y = np.asarray(y)
    order = np.argsort(Cs)
    res: dict[float, dict] = {}
    inner_m = LogisticRegression(max_iter=max_iter, class_weight=class_weight, warm_start=True)
    full_m = LogisticRegression(max_iter=max_iter, class_weight=class_weight, warm_start=True)
    # One BLAS thread: these problems are small, and multi-threaded BLAS on a shared 2-core machine
    # was measured 20x slower (thread oversubscription).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in order:
            C = float(Cs[j])
            row = {"C": C}
            inner_m.set_params(C=C)
            if len(np.unique(y[inner])) < 2:
                row["val_f1"] = np.nan
            else:
                inner_m.fit(X[inner], y[inner])
                row["val_f1"] = macro_f1(y[val], inner_m.predict(X[val]))
            full_m.set_params(C=C)
            full_m.fit(X[train], y[train])
            row["test_f1"] = macro_f1(y[test], full_m.predict(X[test]))
            row["train_f1"] = macro_f1(y[train], full_m.predict(X[train]))
            for name, (Xe, ye) in (extra or {}).items():
                row[f"{name}_f1"] = macro_f1(ye, full_m.predict(Xe))
            res[C] = row
    return [res[float(c)] for c in Cs]


def _standardize(X, train):
    mu = X[train].mean(0)
    sd = X[train].std(0)
    sd[sd == 0] = 1.0
    return (X - mu) / sd, (mu, sd)


def _features_for(cfg: Config, *, sae_feats, hidden) -> Any:
    if cfg.kind == "sae":
        hook_mats = sae_feats[cfg.layer, cfg.sae]
        return binarize(hook_mats[(cfg.pooling, cfg.top_n)], cfg.binarize)
    return hidden[(cfg.layer, cfg.pooling)]


def prune_columns(X: sp.csr_matrix, train) -> sp.csr_matrix:
    """Keep only the columns (latents) that are non-zero in some training row ``[n, d] -> [n, d']``.

    A column that is zero on every training row gets a zero weight under L2 anyway, so the fitted
    model's predictions are unchanged; the fit is faster for wide SAEs.
    """
    X = sp.csr_matrix(X)
    cols = np.flatnonzero(np.asarray((X[train] != 0).sum(0)).ravel())
    return X[:, cols]


def _fingerprint(X) -> str:
    h = hashlib.sha256()
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        X.sort_indices()
        for a in (X.indptr, X.indices, X.data):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(X.shape).encode())
    else:
        h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()


def _atomic_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=str)
    os.replace(tmp, path)


def evaluate(profile, dataset: str, configs: Sequence[Config], *, saes_by_hook=None, model=None,
             progress: bool = True, kind: str | None = None) -> pd.DataFrame:
    """Macro F1 of every config on one dataset, one row per (config, C).

    Columns: ``dataset, kind, n_classes, n_rows`` + :meth:`Config.to_dict` + ``C, val_f1, test_f1,
    train_f1``. Results are cached per dataset as JSON, one entry per configuration (keyed by its
    label and, for SAE features, the SAE's identity), so notebooks that share configurations (40, 41,
    43) fit each one once.
    """

    s = settings(profile)
    ds = _load_texts(profile, dataset, False)
    y = ds.labels
    kind = kind or ds.meta.get("kind", "binary")
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    sae_ids = {(profile.hook_name(c.layer), c.sae): None for c in configs if c.kind == "sae"}
    for h, k in sae_ids:
        if h not in (saes_by_hook or {}) or k not in saes_by_hook[h]:
            raise ValueError(f"config needs SAE {k!r} at {h}, which is not in saes_by_hook; pass it (see mosaic.setup)")
        sae_ids[(h, k)] = sae_identity(saes_by_hook[h][k])
    key = key_for({"what": "p3-eval", "dataset": ds.name, "texts": _texts_sha(ds.texts), "n": len(y),
                   "model": identity, "max_len": profile.max_len, "C": s["C_grid"], "max_iter": s["max_iter"],
                   "split": [s["test_size"], s["val_size"], s["seed"]], "version": MOSAIC_VERSION})

    def ckey(c: Config) -> str:
        return c.label + ("" if c.kind != "sae" else "|" + sae_ids[(profile.hook_name(c.layer), c.sae)])

    path = profile.home_dir / "p3" / "results" / f"{ds.name}.{key[:16]}.json"
    store: dict[str, list] = {}
    if identity is not None and path.exists():
        try:
            obj = json.loads(path.read_text())
            if obj.get("key") == key:
                store = obj["configs"]
        except (ValueError, KeyError):
            store = {}
    todo = [c for c in configs if ckey(c) not in store]
    if todo:
        train, test, inner, val = split(y, test_size=s["test_size"], val_size=s["val_size"], seed=s["seed"])
        need_sae = [c for c in todo if c.kind == "sae"]
        sae_feats = {}
        if need_sae:
            hooks_needed = {profile.hook_name(c.layer) for c in need_sae}
            sub = {h: g for h, g in (saes_by_hook or {}).items() if h in hooks_needed}
            got = sae_features(profile, dataset, sub, model=model, progress=progress)
            for (h, name), mats in got.items():
                layer = activations._HOOK_LAYER.match(h)
                sae_feats[(int(layer.group(1)) if layer else h, name)] = mats
        hidden = {}
        for c in todo:
            if c.kind == "hidden" and (c.layer, c.pooling) not in hidden:
                X = activations.dataset_activations(profile, dataset, hook=profile.hook_name(c.layer),
                                                    reducer=c.pooling, model=model,
                                                    progress=progress).numpy().astype(np.float64)
                hidden[(c.layer, c.pooling)] = _standardize(X, train)[0]
        seen: dict[str, str] = {}
        for c in tqdm(todo, desc=f"probe {ds.name}", disable=no_bar(progress), leave=False):
            if c.kind == "tfidf":
                vec = tfidf_vectorizer()
                texts = np.array(ds.texts, dtype=object)
                vec.fit(texts[train])
                X = vec.transform(texts).tocsr()
                res = c_path(X, y, train, val, inner, test, s["C_grid"], class_weight="balanced",
                             max_iter=s["max_iter"])
            else:
                X = _features_for(c, sae_feats=sae_feats, hidden=hidden)
                if sp.issparse(X):
                    X = prune_columns(X, train)
                fp = _fingerprint(X)
                if fp in seen:  # identical features (e.g. top-50 == all for a TopK SAE with k <= 50)
                    res = [dict(r, same_as=seen[fp].split("|")[0]) for r in store[seen[fp]]]
                else:
                    res = c_path(X, y, train, val, inner, test, s["C_grid"], max_iter=s["max_iter"])
                    seen[fp] = ckey(c)
            store[ckey(c)] = res
        if identity is not None:
            _atomic_json(path, {"key": key, "configs": store})
    base = {"dataset": ds.name, "kind": kind, "n_classes": int(len(ds.classes)), "n_rows": int(len(y))}
    rows = [{**base, **c.to_dict(), **r} for c in configs for r in store[ckey(c)]]
    return pd.DataFrame(rows)


def run(profile, configs: Sequence[Config], *, names: Sequence[tuple[str, str]] | None = None, saes_by_hook=None,
        model=None, progress: bool = True) -> pd.DataFrame:
    """:func:`evaluate` over the P3 datasets (``names`` from :func:`datasets` by default); concatenated."""
    prof = p3_profile(profile)
    names = datasets(prof) if names is None else names
    frames = []
    for name, kind in tqdm(names, desc="P3 datasets", disable=no_bar(progress)):
        frames.append(evaluate(prof, name, configs, saes_by_hook=saes_by_hook, model=model, progress=progress,
                               kind=kind))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ----------------------------------------------------------------------------- selection & summaries
KEYS = ["dataset", "config"]


def select(df: pd.DataFrame, by: str = "val") -> pd.DataFrame:
    """One row per (dataset, config): the C chosen by ``by`` (``"val"``: best validation macro F1,
    ties -> smaller C; ``"test"``: best test macro F1, the paper's way)."""
    col = {"val": "val_f1", "test": "test_f1"}[by]
    d = df.copy()
    d["_score"] = d[col].fillna(-1.0)
    d = d.sort_values(KEYS + ["_score", "C"], ascending=[True, True, False, True])
    return d.groupby(KEYS, sort=False).head(1).drop(columns="_score").reset_index(drop=True)


def best_config(df: pd.DataFrame, by: str = "val", *, among: pd.Series | None = None) -> pd.DataFrame:
    """Per dataset, the single best configuration (and C) chosen by ``by`` over every config and C.

    ``"test"`` is MOSAIC's procedure (max test F1 over the whole grid); ``"val"`` picks by validation
    F1 and reports that configuration's test F1.
    """
    d = df if among is None else df[among]
    col = {"val": "val_f1", "test": "test_f1"}[by]
    d = d.assign(_score=d[col].fillna(-1.0)).sort_values(["dataset", "_score"], ascending=[True, False])
    return d.groupby("dataset", sort=False).head(1).drop(columns="_score").reset_index(drop=True)


def summarize(sel: pd.DataFrame, by: Sequence[str] = ("config",), *, metric: str = "test_f1",
              n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Mean ``metric`` over datasets with a bootstrap 95 % CI (resampling datasets), per group."""

    rows = []
    for key, g in sel.groupby(list(by), dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        vals = g[metric].to_numpy(dtype=float)
        ci = bootstrap_ci(vals, n_boot=n_boot, seed=seed) if np.isfinite(vals).any() else None
        rows.append({**dict(zip(by, key)), "mean": ci.mean if ci else np.nan, "lo": ci.lo if ci else np.nan,
                     "hi": ci.hi if ci else np.nan, "sd": float(np.nanstd(vals)), "n": int(np.isfinite(vals).sum())})
    return pd.DataFrame(rows)


def optimism(df: pd.DataFrame, *, n_boot: int = 2000, seed: int = 42) -> dict:
    """Test-set selection vs validation selection, per dataset and overall.

    Returns ``{"per_dataset": DataFrame[dataset, test_selected, val_selected, optimism, config_test,
    config_val], "mean_test_selected", "mean_val_selected", "optimism": CI of the mean difference}``.
    """

    bt = best_config(df, "test").set_index("dataset")
    bv = best_config(df, "val").set_index("dataset")
    per = pd.DataFrame({"test_selected": bt["test_f1"], "val_selected": bv["test_f1"],
                        "config_test": bt["config"], "C_test": bt["C"], "config_val": bv["config"], "C_val": bv["C"]})
    per["optimism"] = per["test_selected"] - per["val_selected"]
    per = per.reset_index()
    return {"per_dataset": per,
            "test_selected": bootstrap_ci(per["test_selected"], n_boot=n_boot, seed=seed),
            "val_selected": bootstrap_ci(per["val_selected"], n_boot=n_boot, seed=seed),
            "optimism": bootstrap_ci(per["optimism"], n_boot=n_boot, seed=seed)}


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
    names = list(names if names is not None else s["crosslingual"])
    rows = []
    for name in tqdm(names, desc="cross-lingual", disable=no_bar(progress)):
        name = data.resolve_name(name)
        ds = _load_texts(prof, name, False)
        ood = _load_texts(prof, name, True)
        # the hidden-state cache holds every (non-empty) row of the OOD file: map the subsample onto it
        full_pos = {int(p): i for i, p in enumerate(data.load_ood(name).row_index)}
        rows_o = np.array([full_pos[int(p)] for p in ood.row_index], dtype=np.int64)
        y, yo = ds.labels, ood.labels
        train, test, inner, val = split(y, test_size=s["test_size"], val_size=s["val_size"], seed=s["seed"])
        need = [c for c in configs if c.kind == "sae"]
        feats, feats_o = {}, {}
        if need:
            hooks = {prof.hook_name(c.layer) for c in need}
            sub = {h: g for h, g in (saes_by_hook or {}).items() if h in hooks}
            for which, store in ((False, feats), (True, feats_o)):
                got = sae_features(prof, name, sub, ood=which, model=model, progress=progress)
                for (h, k), mats in got.items():
                    store[(int(activations._HOOK_LAYER.match(h).group(1)), k)] = mats
        base = {"dataset": name, "language": CROSSLINGUAL.get(name, "?"), "n_train": int(len(train)),
                "n_ood": int(len(yo))}
        for c in configs:
            extra_info = {}
            if c.kind == "tfidf":
                vec = tfidf_vectorizer()
                texts = np.array(ds.texts, dtype=object)
                vec.fit(texts[train])
                X = vec.transform(texts).tocsr()
                Xo = vec.transform(ood.texts).tocsr()
                extra_info["ood_vocab_coverage"] = float((Xo.getnnz(axis=1) > 0).mean())
                extra_info["id_vocab_coverage"] = float((X[test].getnnz(axis=1) > 0).mean())
                res = c_path(X, y, train, val, inner, test, s["C_grid"], class_weight="balanced",
                             max_iter=s["max_iter"], extra={"ood": (Xo, yo)})
            elif c.kind == "hidden":
                h = prof.hook_name(c.layer)
                X = activations.dataset_activations(prof, name, hook=h, reducer=c.pooling, model=model,
                                                    progress=progress).numpy().astype(np.float64)
                Xo = activations.dataset_activations(prof, name, hook=h, reducer=c.pooling, ood=True, model=model,
                                                     progress=progress).numpy().astype(np.float64)[rows_o]
                Xs, (mu, sd) = _standardize(X, train)
                res = c_path(Xs, y, train, val, inner, test, s["C_grid"], max_iter=s["max_iter"],
                             extra={"ood": ((Xo - mu) / sd, yo)})
            else:
                X = binarize(feats[(c.layer, c.sae)][(c.pooling, c.top_n)], c.binarize)
                Xo = binarize(feats_o[(c.layer, c.sae)][(c.pooling, c.top_n)], c.binarize)
                res = c_path(X, y, train, val, inner, test, s["C_grid"], max_iter=s["max_iter"],
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
    ds = _load_texts(profile.replace(max_rows=max_rows), dataset, False)
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
    train, test, inner, val = split(yb, test_size=s["test_size"], val_size=s["val_size"], seed=s["seed"])
    Xs, _ = _standardize(X, train)
    res = pd.DataFrame(c_path(Xs, yb, train, val, inner, test, s["C_grid"], max_iter=s["max_iter"]))
    major = np.bincount(yb[train]).argmax()
    res["majority_f1"] = macro_f1(yb[test], np.full(len(test), major))
    res["agreement_with_labels"] = float((yb == ds.labels).mean())
    res["model_a"], res["model_b"], res["dataset"], res["layer_a"] = model_a, model_b, ds.name, layer_a
    return res


# ----------------------------------------------------------------------------- notebook set-up
@dataclass
class Setup:
    """What every P3 notebook starts from (see :func:`setup`)."""

    profile: Any
    settings: dict
    table: pd.DataFrame            # :func:`sae_table` rows used
    saes_by_hook: dict             # {hook: {name: sae}}
    model: Any = None
    notes: list = field(default_factory=list)

    @property
    def has_saes(self) -> bool:
        return not self.table.empty


def setup(profile, *, widths: str = "main", progress: bool = False) -> Setup:
    """Profile (with P3's row cap), settings, the profile's SAEs and the model, ready for the notebooks.

    ``widths="main"``: only the main-width SAE per layer (notebooks 40, 42, 43); ``"all"``: every width
    (notebook 41). Missing SAEs are trained (or loaded from the cache) by ``saeprobe.saes.get_sae``.
    ``notes`` says in words what is missing (no SAEs in the profile, a layer without SAEs, one width only).
    """

    prof = p3_profile(load_profile(profile))
    s = settings(prof)
    table = sae_table(prof)
    notes = []
    if table.empty:
        notes.append(f"Profile `{prof.name}` defines no SAEs at layers {s['layers']} (its `sae:` section), so only "
                     "the hidden-state and TF-IDF baselines run.")
    else:
        for layer in s["layers"]:
            w = sorted(table[table.layer == layer].width.unique())
            if not w:
                notes.append(f"No SAE is trained at layer {layer}.")
            elif len(w) < 2:
                notes.append(f"Layer {layer} has one SAE width only ({w[0]}).")
        if widths == "main":
            table = table[table["main"]]
    model = load_profile_model(prof)
    by_hook = load_saes(prof, table, model=model, progress=progress) if not table.empty else {}
    return Setup(prof, s, table.reset_index(drop=True), by_hook, model, notes)
