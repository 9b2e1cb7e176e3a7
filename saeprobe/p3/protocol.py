"""P3's protocol: feature configurations, the split, the C path, macro F1, and the per-dataset runs.

* **Configurations** (:class:`Config`, :func:`grid_configs`): pooled SAE features (layer, SAE,
  pooling, top-n, binarization), the hidden-state baselines (last token and mean-pooled residual,
  from ``saeprobe.core.activations.dataset_activations``; standardized as MOSAIC does) and TF-IDF
  with the paper's settings (:data:`TFIDF_SETTINGS` + logistic regression with
  ``class_weight="balanced"``).
* **Protocol** (:func:`evaluate`): 80/20 stratified train/test split (seed 42, :func:`split`); a
  stratified validation split (default 20 %) of the *training* part selects C of an L2 logistic
  regression by macro F1 (:func:`c_path`); the model is refit on the whole training part. Every C is
  also refit on the whole training part and scored on the test split, so the paper's test-set
  selection can be compared with validation selection (notebook 43; :mod:`saeprobe.p3.selection`).
  Metric: macro F1 (binary and multiclass alike, :func:`macro_f1`).
* **Results cache**: one JSON per dataset (a pure function of the dataset's texts, the model, the
  split and the C grid: its key) in the results store ``core.store.results_store(profile, "p3")``
  (``results_dir(profile, "p3")`` unless ``scale.results_root`` names a folder or fsspec URL), one
  entry per configuration, so notebooks that share configurations (40, 41, 43) fit each one once.
  Writes are atomic and merge with entries another writer stored meanwhile (none is lost).
* **Scale-out** (:func:`run`): with a Dask scheduler (``scale.scheduler``, ``$SAEPROBE_SCHEDULER``)
  each dataset is one task (:mod:`saeprobe.core.scale`); the table does not depend on it.

Shapes: ``n`` texts; features are scipy CSR ``[n, d_sae]`` float32 (SAE) or dense ``[n, d_model]``
(hidden states).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from saeprobe.core import activations, models, scale
from saeprobe.core.cache import digest_texts, key_for
from saeprobe.core.config import no_bar
from saeprobe.core.store import results_store
from saeprobe.p3.features import binarize, by_layer, sae_features, sae_identity
from saeprobe.p3.settings import MOSAIC_VERSION, datasets, feature_forms, load_texts, p3_profile, settings

#: MOSAIC's TF-IDF baseline.
TFIDF_SETTINGS = dict(ngram_range=(1, 2), max_features=20000, stop_words="english")


# ----------------------------------------------------------------------------- feature sets
@dataclass(frozen=True)
class Config:
    """One feature representation. ``kind``: ``"sae"`` | ``"hidden"`` | ``"tfidf"``. ``wide_c``: the
    hidden-state baseline at full strength -- fitted over ``p3.hidden_C_grid`` instead of MOSAIC's
    ``C_grid`` (the protocol's grid stays beside it)."""

    kind: str
    layer: int | None = None
    sae: str | None = None
    width: int | None = None
    pooling: str | None = None   # sae: count/sum/max/mean/last; hidden: last/mean
    top_n: int = 0
    binarize: float | None = None
    wide_c: bool = False

    @property
    def label(self) -> str:
        if self.kind == "tfidf":
            return "TF-IDF"
        if self.kind == "hidden":
            return f"hidden {self.pooling} L{self.layer}" + (" wide-C" if self.wide_c else "")
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
    (layer, width) of ``table``, plus the same baselines (notebook 41; notebook 42 with the
    main-width rows).
    """
    s = settings(profile)
    out: list[Config] = [Config("tfidf")]
    for layer in s.layers:
        out += [Config("hidden", layer=layer, pooling="last"), Config("hidden", layer=layer, pooling="mean")]
        if s.hidden_C_grid:
            out += [Config("hidden", layer=layer, pooling=p, wide_c=True) for p in ("last", "mean")]
    if table.empty:
        return out
    if which == "pooling":
        for _, r in table[table["main"]].iterrows():
            for p, n in feature_forms(s):
                for b in s.binarize:
                    out.append(Config("sae", int(r.layer), r["name"], int(r.width), p, n, b))
    elif which == "widths":
        for _, r in table.iterrows():
            out.append(Config("sae", int(r.layer), r["name"], int(r.width), "count", 0, 1.0))
            out.append(Config("sae", int(r.layer), r["name"], int(r.width), "sum", 0, None))
    else:
        raise ValueError(f"which must be 'pooling' or 'widths', got {which!r}")
    return out


def mosaic_config_label(configs: Sequence[Config], layer: int) -> str | None:
    """Label of MOSAIC's best configuration (binarized counts, all latents, ``> 1``) at ``layer`` among
    ``configs``; None when it is not there (no SAE)."""
    for c in configs:
        if c.kind == "sae" and c.layer == layer and c.pooling == "count" and c.top_n == 0 and c.binarize == 1.0:
            return c.label
    return None


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


def profile_split(s, y):
    """:func:`split` of labels ``y`` with the settings' ``test_size``, ``val_size`` and ``seed``."""
    return split(y, test_size=s.test_size, val_size=s.val_size, seed=s.seed)


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


def standardize(X, train):
    """``(X - mu) / sd`` with the training rows' mean and SD (SD 0 -> 1); returns it and ``(mu, sd)``."""
    mu = X[train].mean(0)
    sd = X[train].std(0)
    sd[sd == 0] = 1.0
    return (X - mu) / sd, (mu, sd)


def tfidf_features(texts, train, *others):
    """MOSAIC's TF-IDF fitted on the training rows of ``texts``: CSR of ``texts`` (and of each of
    ``others``, transformed with the same vocabulary)."""
    vec = tfidf_vectorizer()
    texts = np.array(texts, dtype=object)
    vec.fit(texts[train])
    return (vec.transform(texts).tocsr(), *(vec.transform(o).tocsr() for o in others))


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


def evaluate(profile, dataset: str, configs: Sequence[Config], *, saes_by_hook=None, model=None,
             progress: bool = True, kind: str | None = None) -> pd.DataFrame:
    """Macro F1 of every config on one dataset, one row per (config, C).

    Columns: ``dataset, kind, n_classes, n_rows`` + :meth:`Config.to_dict` + ``C, val_f1, test_f1,
    train_f1``. Results are cached per dataset as JSON under ``results_dir(profile, "p3")``, one
    entry per configuration (keyed by its label and, for SAE features, the SAE's identity), so
    notebooks that share configurations (40, 41, 43) fit each one once.
    """

    s = settings(profile)
    ds = load_texts(profile, dataset, False)
    y = ds.labels
    kind = kind or ds.meta.get("kind", "binary")
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    sae_ids = {(profile.hook_name(c.layer), c.sae): None for c in configs if c.kind == "sae"}
    for h, k in sae_ids:
        if h not in (saes_by_hook or {}) or k not in saes_by_hook[h]:
            raise ValueError(f"config needs SAE {k!r} at {h}, which is not in saes_by_hook; pass it (see p3.setup)")
        sae_ids[(h, k)] = sae_identity(saes_by_hook[h][k])
    key = key_for({"what": "p3-eval", "dataset": ds.name, "texts": digest_texts(ds.texts), "n": len(y),
                   "model": identity, "max_len": profile.max_len, "C": s.C_grid, "max_iter": s.max_iter,
                   **({"C_hidden": s.hidden_C_grid} if s.hidden_C_grid else {}),
                   "split": [s.test_size, s.val_size, s.seed], "version": MOSAIC_VERSION})

    def ckey(c: Config) -> str:
        return c.label + ("" if c.kind != "sae" else "|" + sae_ids[(profile.hook_name(c.layer), c.sae)])

    results, fname = results_store(profile, "p3"), f"{ds.name}.{key[:16]}.json"
    store: dict[str, list] = _stored_configs(results, fname, key) if identity is not None else {}
    todo = [c for c in configs if ckey(c) not in store]
    if todo:
        train, test, inner, val = profile_split(s, y)
        need_sae = [c for c in todo if c.kind == "sae"]
        sae_feats = {}
        if need_sae:
            hooks_needed = {profile.hook_name(c.layer) for c in need_sae}
            sub = {h: g for h, g in (saes_by_hook or {}).items() if h in hooks_needed}
            sae_feats = by_layer(sae_features(profile, dataset, sub, model=model, progress=progress))
        hidden = {}
        for c in todo:
            if c.kind == "hidden" and (c.layer, c.pooling) not in hidden:
                X = activations.dataset_activations(profile, dataset, hook=profile.hook_name(c.layer),
                                                    reducer=c.pooling, model=model,
                                                    progress=progress).numpy().astype(np.float64)
                hidden[(c.layer, c.pooling)] = standardize(X, train)[0]
        seen: dict[str, str] = {}
        for c in tqdm(todo, desc=f"probe {ds.name}", disable=no_bar(progress), leave=False):
            if c.kind == "tfidf":
                (X,) = tfidf_features(ds.texts, train)
                res = c_path(X, y, train, val, inner, test, s.C_grid, class_weight="balanced", max_iter=s.max_iter)
            else:
                X = _features_for(c, sae_feats=sae_feats, hidden=hidden)
                if sp.issparse(X):
                    X = prune_columns(X, train)
                fp = _fingerprint(X)
                if fp in seen:  # identical features (e.g. top-50 == all for a TopK SAE with k <= 50)
                    res = [dict(r, same_as=seen[fp].split("|")[0]) for r in store[seen[fp]]]
                else:
                    res = c_path(X, y, train, val, inner, test, s.hidden_C_grid if c.wide_c else s.C_grid,
                                 max_iter=s.max_iter)
                    seen[fp] = ckey(c)
            store[ckey(c)] = res
        if identity is not None:  # merged with what another writer stored meanwhile
            store = {**_stored_configs(results, fname, key), **store}
            results.write_text(fname, text=json.dumps({"key": key, "configs": store}, default=str))
    base = {"dataset": ds.name, "kind": kind, "n_classes": int(len(ds.classes)), "n_rows": int(len(y))}
    rows = [{**base, **c.to_dict(), **r} for c in configs for r in store[ckey(c)]]
    return pd.DataFrame(rows)


def _stored_configs(results, fname: str, key: str) -> dict:
    """The configurations stored for ``key`` in ``fname`` (empty when missing / unreadable / stale)."""
    text = results.read_text(fname)
    try:
        obj = json.loads(text) if text is not None else {}
        return dict(obj["configs"]) if obj.get("key") == key else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _evaluate_task(profile, dataset: str, configs, kind, saes_by_hook=None) -> tuple[str, pd.DataFrame]:
    """One dataset of :func:`run` on a Dask worker (the model, if a miss needs it, is loaded once
    per worker by ``models.load_profile_model``)."""
    return dataset, evaluate(profile, dataset, configs, saes_by_hook=saes_by_hook, progress=False, kind=kind)


def run(profile, configs: Sequence[Config], *, names: Sequence[tuple[str, str]] | None = None, saes_by_hook=None,
        model=None, progress: bool = True, scheduler: str | None = None) -> pd.DataFrame:
    """:func:`evaluate` over the P3 datasets (``names`` from ``settings.datasets`` by default); concatenated.

    ``scheduler``: a Dask scheduler (``"local:N"``, ``"tcp://host:8786"``) running one task per
    dataset; None: :func:`saeprobe.core.scale.scheduler_for` (``$SAEPROBE_SCHEDULER``, else the
    profile's ``scale.scheduler``, else here, one dataset after another). Same table either way.
    """
    prof = p3_profile(profile)
    names = datasets(prof) if names is None else names
    sched = scale.scheduler_for(scheduler, prof)
    if sched is not None and names:
        calls = [((prof, name, list(configs), kind), {}) for name, kind in names]
        got = {}
        bar = tqdm(total=len(calls), desc="P3 datasets", disable=no_bar(progress))
        for name, df in scale.run_tasks(_evaluate_task, calls, scheduler=sched, shared={"saes_by_hook": saes_by_hook}):
            got[name] = df
            bar.update(1)
        bar.close()
        frames = [got[name] for name, _ in names]
        return pd.concat(frames, ignore_index=True)
    frames = []
    for name, kind in tqdm(names, desc="P3 datasets", disable=no_bar(progress)):
        frames.append(evaluate(prof, name, configs, saes_by_hook=saes_by_hook, model=model, progress=progress,
                               kind=kind))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
