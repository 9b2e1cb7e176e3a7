"""P3's pooled SAE features: pooling, binarization, the profile's SAEs and the feature cache.

* **Pooled SAE features** (:func:`sae_features`). One forward pass of the model per dataset serves
  every profile layer, every SAE at those layers and every pooled form. Per text, the non-BOS token
  activations are encoded with the SAE (``saeprobe.saes.encode``); each token keeps its top-``n``
  latents (``n`` in ``{all, 20, 50}``; *all* = every active latent) and the codes are pooled over the
  text's tokens with ``saeprobe.saes.pool_token_codes`` (:func:`pool_text`): ``count`` (tokens in
  which the latent is kept: MOSAIC's one-hot-and-sum), ``sum`` (summed activations), ``max``,
  ``mean``; ``last`` is the last token's code.
* **Binarization** (``X > threshold``, MOSAIC: 1; also ``> 0``) is applied on load by
  :func:`binarize` -- it is elementwise on the pooled matrix, so the cache stores the unbinarized
  forms once.
* **Cache**: per (model identity, hook, SAE identity, dataset rows, max_len, pooled forms), as
  sparse CSR (``indptr`` / ``indices`` / ``data`` tensors) with :mod:`saeprobe.core.cache`, under
  ``<home>/p3/features``.
* **The profile's SAEs** (:func:`sae_table`, :func:`load_saes`; ``sae_identity`` is saes').

Shapes: ``n`` texts, ``d_sae`` latents; features are scipy CSR ``[n, d_sae]`` float32.

Known deviation from MOSAIC's code: its top-``n`` uses ``argpartition`` on the dense code, so when
fewer than ``n`` latents are active it also "keeps" inactive ones (with activation 0); we keep only
active latents (``pool_token_codes``), which is what the paper describes.
"""
from __future__ import annotations

import re
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from saeprobe import saes
from saeprobe.core import activations, models
from saeprobe.core.cache import atomic_save, digest_texts, key_for, load_checked
from saeprobe.p3.settings import MOSAIC_VERSION, POOLINGS, feature_forms, load_texts, settings
from saeprobe.saes import encode, pool_token_codes, sae_identity


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


def layer_key(hook: str):
    """The block number of a ``blocks.L.*`` hook name (int), else the hook name itself."""
    m = activations._HOOK_LAYER.match(hook)
    return int(m.group(1)) if m else hook


def by_layer(feats: dict) -> dict:
    """``{(hook, sae): mats}`` of :func:`sae_features` re-keyed as ``{(layer, sae): mats}``."""
    return {(layer_key(h), name): mats for (h, name), mats in feats.items()}


# ----------------------------------------------------------------------------- SAEs of the profile
def sae_table(profile) -> pd.DataFrame:
    """The profile's SAEs usable for P3: one per (layer, width) — the lowest seed of the chosen arch.

    Columns: ``layer, width, arch, name, spec`` (a :class:`saeprobe.saes.SAESpec`), ``main`` (True for
    the width used by the pooling grid: ``p3.main_width``, else the width of the first SAE of that
    architecture in the ``sae:`` section). Empty when the profile's ``sae:`` section defines no SAEs.
    Raises ``ValueError`` when ``p3.main_width`` is not a trained width.
    """

    s = settings(profile)
    specs = [sp_ for sp_ in saes.sae_specs(profile) if sp_.layer in s.layers]
    if not specs:
        return pd.DataFrame(columns=["layer", "width", "arch", "name", "spec", "main"])
    arch = s.arch or specs[0].arch
    specs = [x for x in specs if x.arch == arch and (s.sae_k is None or x.k == s.sae_k)]
    if s.widths:
        specs = [x for x in specs if x.width in set(s.widths)]
    best: dict[tuple, Any] = {}
    for x in specs:
        k = (x.layer, x.width)
        if k not in best or x.seed < best[k].seed:
            best[k] = x
    rows = [{"layer": k[0], "width": k[1], "arch": v.arch, "name": v.name, "spec": v} for k, v in sorted(best.items())]
    df = pd.DataFrame(rows)
    main_w = s.main_width
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


def _feature_entry(profile, ds, hook, sae_id, forms, identity, ood):
    fields = {"what": "p3-pooled-sae", "model": identity, "hook": hook, "sae": sae_id, "dataset": ds.name,
              "ood": ood, "texts_sha256": digest_texts(ds.texts), "n_rows": len(ds.texts), "max_len": profile.max_len,
              "forms": sorted(forms), "version": MOSAIC_VERSION}
    key = key_for(fields)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:60]
    sae_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", sae_id.split("@")[0])[:60]
    path = profile.home_dir / "p3" / "features" / slug / ds.name / f"{hook}.{sae_slug}.{key[:16]}.safetensors"
    return path, {**fields, "key": key}


def sae_features(profile, dataset: str, saes_by_hook: dict[str, dict[str, Any]], *, ood: bool = False,
                 model=None, progress: bool = True) -> dict[tuple[str, str], dict[tuple[str, int], sp.csr_matrix]]:
    """Pooled SAE features of one dataset for every (hook, SAE) in ``saes_by_hook``.

    Returns ``{(hook, sae name): {(pooling, top_n): CSR [n_rows, d_sae]}}`` (unbinarized; apply
    :func:`binarize`). Rows follow ``load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)``
    (``load_ood`` with ``ood=True``; see ``settings.load_texts``). Cached; on a miss, ONE forward pass
    (all missing hooks at once) feeds every SAE and pooled form. The model is loaded only on a miss.
    """

    s = settings(profile)
    forms = feature_forms(s)
    form_names = [_form_name(*f) for f in forms]
    ds = load_texts(profile, dataset, ood)
    n = len(ds.texts)
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    out: dict[tuple[str, str], dict] = {}
    missing: list[tuple[str, str]] = []
    for hook, group in saes_by_hook.items():
        for name, sae in group.items():
            d_sae = int(sae.cfg.d_sae)
            if identity is None:
                missing.append((hook, name))
                continue
            path, fields = _feature_entry(profile, ds, hook, sae_identity(sae), form_names, identity, ood)
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
                        forms, s.top_n_poolings, profile, progress)
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


def _pool_pass(model, texts, saes_by_hook, forms, top_n_poolings, profile, progress):
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
                    pooled = pool_text(codes[starts[r]:starts[r + 1]], poolings, top_ns, top_n_poolings)
                    for f in forms:
                        rows[(h, name)][f][i] = pooled[f]
    out = {}
    for key, per_form in rows.items():
        out[key] = {f: sp.vstack(lst, format="csr").astype(np.float32) for f, lst in per_form.items()}
    return out
