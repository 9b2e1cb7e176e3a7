"""P1's multi-token probing (Kantamneni et al. 2025, "multi-token probes"; protocol from P1's
``run_multi_token_acts.py``, our own code): probes that read every token of a text, with and without
an SAE, against the last-token probe.

Per dataset (rows as every P1 page: ``load_dataset(name, max_rows, seed)``; P1's standard split,
seed 42), from ONE cached forward pass (:func:`saeprobe.core.tokens.dataset_tokens`: every real
non-BOS token at the main layer, left-truncated to ``p1.multi_token.max_len``):

* ``attention`` -- :class:`saeprobe.p1.attention.AttentionProbe` on the raw tokens;
* ``lr`` / ``lr_z`` -- P1's last-token logistic regression and the z-scored one (the last token of
  the same pass);
* ``concat_pca`` -- :class:`ConcatPCA`: a 20-component PCA per token position (fitted on the
  training rows; positions a row lacks are zero, as P1's zeroed padding), concatenated, P1's L1 LR;
* ``sae_max`` / ``sae_mean`` (``_bin``: binarised ``> 1`` after pooling) ``:<SAE>`` -- SAE codes of
  every token, max- or mean-pooled over the text's tokens (1..last, BOS excluded), binarised before
  the ranking as P1's code does, then P1's top-``k`` ranking (k 128; P1's multi-token code ranks raw
  class-mean differences) and L1 LR (:class:`saeprobe.p1.sae_probe.SAETopKProbe`).

:func:`evaluate_dataset` caches one JSON of test/validation AUCs per dataset under
``results_dir(profile, "p1") / "multi_token"``; the comparisons live in
:mod:`saeprobe.p1.multitoken_report`.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from saeprobe import saes as saes_pkg
from saeprobe.core import data, models
from saeprobe.core.cache import atomic_write_json, digest_texts, key_for, results_dir
from saeprobe.core.config import no_bar
from saeprobe.core.settings import as_dict
from saeprobe.core.tokens import RaggedTokens, TokenStore, dataset_tokens
from saeprobe.p1.attention import AttentionProbe, fast_auc
from saeprobe.p1.base import BLAS_THREADS
from saeprobe.p1.features import main_sae_specs
from saeprobe.p1.lr import LRProbe
from saeprobe.p1.probes import make_probe
from saeprobe.p1.sae_probe import SAETopKProbe
from saeprobe.p1.splits import standard_split

__all__ = ["MULTI_TOKEN_VERSION", "ConcatPCA", "pooled_sae_codes", "multi_token_saes", "attention_probe",
           "evaluate_dataset", "evaluate_profile"]

log = logging.getLogger("saeprobe.p1.multitoken")
#: Bump when a change here changes the numbers (part of every results key).
MULTI_TOKEN_VERSION = "1"


class ConcatPCA:
    """P1's concat baseline's features: per token position ``p`` (0 = first non-BOS token) a PCA of
    the training rows' token ``p`` (zeros where a row is shorter), ``n_components`` each, concatenated.

    ``fit(rag)`` on the training rows (positions no training row reaches are skipped, as P1's);
    ``transform(rag) -> [n, n_positions * n_components]`` float64. Exact SVD (P1's default PCA
    solver is an unseeded randomized one on inputs this wide).
    """

    def __init__(self, n_components: int = 20, max_positions: int | None = None):
        self.n_components = n_components
        self.max_positions = max_positions

    def fit(self, rag: RaggedTokens) -> "ConcatPCA":
        from sklearn.decomposition import PCA

        T = int(rag.lengths.max())
        if self.max_positions:
            T = min(T, int(self.max_positions))
        self.pcas_ = []
        for p in range(T):
            X, has = rag.at_position(p)
            if not bool(has.any()):
                continue
            k = min(int(self.n_components), X.shape[0], X.shape[1])
            self.pcas_.append((p, PCA(n_components=k, svd_solver="full").fit(X.numpy().astype(np.float64))))
        return self

    def transform(self, rag: RaggedTokens) -> np.ndarray:
        cols = [pca.transform(rag.at_position(p)[0].numpy().astype(np.float64)) for p, pca in self.pcas_]
        return np.hstack(cols)


def pooled_sae_codes(store: TokenStore, sae: Any, poolings: Sequence[str] = ("max", "mean")) -> dict[str, sp.csr_matrix]:
    """Every row's SAE codes pooled over its tokens: ``{pooling: CSR [n_rows, d_sae]}`` (unbinarised),
    streamed shard by shard from ``store`` (``saeprobe.saes.encode`` / ``pool_token_codes``)."""
    n = store.n_rows
    out: dict[str, list] = {p: [None] * n for p in poolings}
    rows = np.arange(n)
    for where, rag in store.iter_rows(rows):
        codes = saes_pkg.encode(sae, rag.tokens.float())
        offs = rag.offsets.numpy()
        for j, i in enumerate(rows[where]):
            seg = codes[offs[j]:offs[j + 1]]
            for p in poolings:
                out[p][i] = saes_pkg.pool_token_codes(seg, p)
    return {p: sp.vstack(v, format="csr").astype(np.float32) for p, v in out.items()}


def multi_token_saes(profile) -> list:
    """The SAE specs the page pools: P1's main-layer SAEs (:func:`saeprobe.p1.features.main_sae_specs`)
    of the widths / architectures in ``p1.multi_token.sae_widths`` / ``sae_archs`` (None: all), widest first."""
    mt = profile.p1.multi_token
    specs = [s for s in main_sae_specs(profile) if (not mt.sae_widths or s.width in mt.sae_widths)
             and (not mt.sae_archs or s.arch in mt.sae_archs)]
    return sorted(specs, key=lambda s: -s.width)


def attention_probe(profile, progress: bool = True) -> AttentionProbe:
    """An unfitted :class:`AttentionProbe` with the profile's ``p1.multi_token`` settings."""
    mt = profile.p1.multi_token
    device = mt.device or profile.device or "cpu"
    return AttentionProbe(steps=mt.steps, lr=mt.lr, val_frac=mt.val_frac, init_scale=mt.init_scale,
                          mask_value=mt.mask_value, seed=profile.seed, device=device, progress=progress)


def _score(probe, X_tr, y_tr, X_te, y_te) -> dict:
    probe.fit(X_tr, y_tr)
    return {"test_auc": fast_auc(y_te, probe.predict_proba(X_te)[:, 1]), "val_auc": float(probe.val_auc_)}


def _results_path(profile, dataset: str, fields: dict):
    key = key_for(fields)
    return results_dir(profile, "p1") / "multi_token" / f"{dataset}.{key[:16]}.json", key


def evaluate_dataset(profile, dataset: str, saes: dict | None = None, *, model=None, progress: bool = True) -> dict:
    """P1's multi-token methods on one dataset (cached JSON).

    ``saes``: ``{name: sae}`` (default: :func:`multi_token_saes`, trained or loaded). Returns
    ``{"dataset", "n_train", "n_test", "n_tokens", "seconds", "methods": {method: {"test_auc",
    "val_auc"}}}`` with the method names of the module docstring.
    """
    mt = profile.p1.multi_token
    if saes is None:
        saes = {s.name: saes_pkg.get_sae(profile, s, progress=progress) for s in multi_token_saes(profile)}
    ds = data.load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    fields = {"what": "p1-multi-token", "dataset": ds.name, "texts_sha256": digest_texts(ds.texts),
              "labels_sha256": key_for({"y": [int(v) for v in ds.labels]}), "model": identity, "hook": profile.hook_name(),
              "max_len": int(mt.max_len or profile.max_len), "settings": as_dict(mt), "seed": profile.seed,
              "min_test": profile.p1.min_test, "saes": sorted(saes_pkg.sae_identity(s) for s in saes.values()),
              "version": MULTI_TOKEN_VERSION}
    path, key = _results_path(profile, ds.name, fields)
    if identity is not None and path.exists():
        try:
            hit = json.loads(path.read_text())
            if hit.get("key") == key:
                return hit
        except ValueError:
            pass
    t0 = time.perf_counter()
    store = dataset_tokens(profile, ds.name, max_len=mt.max_len, dtype=mt.token_dtype, model=model,
                           progress=progress, shard_mb=mt.shard_mb)
    split = standard_split(np.asarray(ds.labels), seed=profile.seed, min_test=profile.p1.min_test)
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):  # PCA/SVD too (shared 2-core machine)
        res = _methods(profile, store, split, saes, progress)
    out = {"key": key, "dataset": ds.name, "n_train": int(len(split.train_idx)), "n_test": int(len(split.test_idx)),
           "n_tokens": store.n_tokens, "seconds": time.perf_counter() - t0, "methods": res}
    if identity is None:
        path, key = _results_path(profile, ds.name, {**fields, "model": store.meta["model"]})
        out["key"] = key
    atomic_write_json(path, out, indent=1)
    if not mt.keep_tokens:
        store.remove()
    return out


def _methods(profile, store: TokenStore, split, saes: dict, progress: bool) -> dict[str, dict]:
    """Every method of the module docstring on one dataset's store and split."""
    mt = profile.p1.multi_token
    tr, te, y_tr, y_te = split.train_idx, split.test_idx, split.y_train, split.y_test
    res: dict[str, dict] = {}
    clock = [time.perf_counter()]

    def lap() -> float:  # seconds since the last lap
        now = time.perf_counter()
        dt, clock[0] = now - clock[0], now
        return dt

    # attention probe: training rows in memory, test rows streamed
    train = store.gather(tr)
    att = attention_probe(profile, progress).fit(train, None, y_tr)
    s_te = np.zeros(len(te))
    for where, rag in store.iter_rows(te):
        s_te[where] = att.decision_function(rag)
    res["attention"] = {"test_auc": fast_auc(y_te, s_te), "val_auc": att.val_auc_, "best_step": att.best_step_,
                        "seconds": lap()}
    # last token, same pass
    last = store.last().numpy()
    for m in ("lr", "lr_z"):
        res[m] = {**_score(make_probe(m), last[tr], y_tr, last[te], y_te), "seconds": lap()}
    # concat-PCA: fitted on the training rows; test rows streamed
    cp = ConcatPCA(mt.pca_components).fit(train)
    Z_tr = cp.transform(train)
    del train
    Z_te = np.zeros((len(te), Z_tr.shape[1]))
    for where, rag in store.iter_rows(te):
        Z_te[where] = cp.transform(rag)
    res["concat_pca"] = {**_score(LRProbe(penalty="l1"), Z_tr, y_tr, Z_te, y_te), "n_positions": len(cp.pcas_),
                         "seconds": lap()}
    # SAE pooled
    for name, sae in saes.items():
        pooled = pooled_sae_codes(store, sae)
        for pool, Z in pooled.items():
            for binar in (False, True):
                Zb = Z
                if binar:
                    Zb = sp.csr_matrix(Z, copy=True)
                    Zb.data = (Zb.data > mt.binarize_threshold).astype(np.float32)
                    Zb.eliminate_zeros()
                probe = SAETopKProbe(k=mt.sae_k, ranking=mt.sae_ranking)
                res[f"sae_{pool}{'_bin' if binar else ''}:{name}"] = {**_score(probe, Zb[tr], y_tr, Zb[te], y_te),
                                                                        "seconds": lap()}
    return res


def evaluate_profile(profile, datasets: Sequence[str] | None = None, *, progress: bool = True) -> list[dict]:
    """:func:`evaluate_dataset` for ``datasets`` (default: ``p1.multi_token.datasets``, else the
    profile's), the SAEs loaded once; a killed run resumes at the first dataset without results."""
    names = list(datasets or profile.p1.multi_token.datasets or profile.dataset_names())
    saes = {s.name: saes_pkg.get_sae(profile, s, progress=progress) for s in multi_token_saes(profile)}
    return [evaluate_dataset(profile, n, saes, progress=progress)
            for n in tqdm(names, desc="multi-token datasets", disable=no_bar(progress))]
