"""P3's visual classification (MOSAIC): a *text*-trained SAE read on a vision-language model's image tokens.

MOSAIC's protocol as its code runs it (:data:`saeprobe.p3.settings.MOSAIC_VISUAL`; our settings are
``p3.visual``, resolved by :func:`saeprobe.p3.settings.visual_settings`):

1. **Prompt** (:func:`vlm_prompt`): the tokenizer's chat template around the processor's image
   token and no text, with the generation prompt (MOSAIC's ``prepare_image_inputs``).
2. **Hidden states** (:func:`image_token_states`): one forward pass of the LLaVA-style model;
   ``hidden_states[hidden_states_index]`` of its language model at the image-token positions
   (:func:`image_positions`: the processor's image-token mask, checked against MOSAIC's slice
   ``[:, 4:580]`` when ``token_slice`` is set). Our default index is ``layer + 1``, the output of block
   ``layer`` that ``blocks.{layer}.hook_resid_post`` SAEs read; MOSAIC's code takes ``hidden_states[layer]``
   (one block earlier; PROTOCOLS.md's off-by-one) -- set ``hidden_states_index: 12`` to replay it.
3. **SAE codes** (:func:`visual_features`): every image token encoded with the text SAE
   (``saeprobe.saes.encode``), pooled over the image's tokens with P3's own
   :func:`~saeprobe.p3.features.pool_text` (count / sum / mean / max, per-token top-n), cached;
   the hidden-state baselines are the last prompt token's hidden state (PROTOCOLS.md's last-token
   baseline; it attends to every image token) and the image tokens' mean hidden state.
4. **Classifier** (:func:`evaluate_visual`): P3's split (80/20 stratified, seed 42, validation part
   of train), L2 logistic regression over ``p3.C_grid`` (:func:`~saeprobe.p3.protocol.c_path`),
   :func:`~saeprobe.p3.features.binarize` (``X > 1``, MOSAIC) on load; metric macro F1.

Everything real needs the hub (the VLM, its SAE and CIFAR-100): :func:`visual_available` says whether
this machine has it, and :func:`run_visual` refuses to load anything without it -- there is no stand-in
model. The code path is the same for any LLaVA-style ``transformers`` model, processor and sae-lens
SAE passed in (``tests/p3/test_visual.py`` runs it on a tiny random one: a test, not a result).

Shapes: ``n`` images, ``T`` image tokens per image (576 for LLaVA-Gemma-2B), ``d`` the language
model's hidden size, ``d_sae`` latents; pooled features are scipy CSR ``[n, d_sae]`` float32.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from saeprobe import saes
from saeprobe.core import models
from saeprobe.core.cache import atomic_save, key_for, load_checked
from saeprobe.core.config import no_bar
from saeprobe.p3.features import _csr_from, _csr_tensors, binarize, pool_text
from saeprobe.p3.protocol import Config, c_path, profile_split, prune_columns, standardize
from saeprobe.p3.selection import select
from saeprobe.p3.settings import MOSAIC_VERSION, feature_forms, settings, visual_settings
from saeprobe.p3.transfer import Availability

#: The hidden-state baselines: the prompt's last token (the text pages' baseline), the image tokens' mean.
HIDDEN_POOLINGS = ("last", "mean")


# ----------------------------------------------------------------------------- availability, loading
def visual_available(profile) -> Availability:
    """Can the profile's VLM, SAE and image dataset be loaded here? Only with hub access."""
    vs = profile.p3.visual
    if models.hub_offline():
        return Availability(vs.model, False,
                            f"hub access is off (HF_HUB_OFFLINE=1): {vs.model}, the SAE {vs.sae} and "
                            f"{vs.dataset} come from the Hugging Face hub. Set SAEPROBE_ONLINE=1 on a "
                            "machine with hub access.")
    try:
        import datasets  # noqa: F401
    except ImportError:
        return Availability(vs.model, False, "the `datasets` package is not installed (pip install datasets)")
    return Availability(vs.model, True, "hub access is on")


def _torch_dtype(name: str | None, device: str) -> torch.dtype:
    if name is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_vlm(profile, device: str | None = None):
    """``(model, processor)``: the profile's LLaVA-style VLM from the hub (eval mode). Needs hub access."""
    av = visual_available(profile)
    if not av.available:
        raise RuntimeError(f"the VLM {av.name!r} is not available: {av.reason}")
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    vs = profile.p3.visual
    device = device or profile.device or models.default_device()
    model = LlavaForConditionalGeneration.from_pretrained(vs.model, dtype=_torch_dtype(vs.dtype, device))
    return model.to(device).eval(), AutoProcessor.from_pretrained(vs.model)


def load_visual_sae(profile, model, device: str | None = None):
    """The profile's text SAE (sae-lens ``release/sae_id``), checked against the VLM's hidden size and
    against ``blocks.{layer}.hook_resid_post``."""
    vs = visual_settings(profile)
    device = device or str(next(model.parameters()).device)
    sae = saes.load_sae(vs.sae, profile=profile, device=device)
    saes.check_compat(sae, d_in=int(model.config.text_config.hidden_size), hook=f"blocks.{vs.layer}.hook_resid_post",
                      name=f"SAE {vs.sae!r}")
    return sae


def subsample(y: np.ndarray, max_n: int | None, seed: int) -> np.ndarray:
    """Sorted row indices of a class-proportional subsample of ``max_n`` rows (all rows if None / larger)."""
    n = len(y)
    if max_n is None or max_n >= n:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    counts = np.unique(y, return_counts=True)[1]
    strat = y if counts.min() >= 2 and max_n >= len(counts) else None
    keep, _ = train_test_split(np.arange(n), train_size=int(max_n), random_state=seed, stratify=strat)
    return np.sort(keep)


def load_images(profile) -> tuple[list, np.ndarray, list[str]]:
    """``(images, labels [n] int64, class names)``: the profile's image split from the hub (RGB PIL images;
    a class-proportional ``max_images`` subsample). Needs hub access."""
    av = visual_available(profile)
    if not av.available:
        raise RuntimeError(f"the image dataset is not available: {av.reason}")
    from datasets import load_dataset

    vs, s = profile.p3.visual, settings(profile)
    ds = load_dataset(vs.dataset, split=vs.split)
    for f in (vs.image_field, vs.label_field):
        if f not in ds.column_names:
            raise ValueError(f"{vs.dataset}[{vs.split}] has no column {f!r} (columns: {', '.join(ds.column_names)})")
    raw = [str(v) for v in ds[vs.label_field]]
    classes = sorted(set(raw))
    y = np.array([classes.index(v) for v in raw], dtype=np.int64)
    rows = subsample(y, vs.max_images, s.seed)
    images = [ds[int(i)][vs.image_field].convert("RGB") for i in rows]
    return images, y[rows], classes


# ----------------------------------------------------------------------------- hidden states
def vlm_prompt(processor) -> str:
    """MOSAIC's prompt: the chat template around the image token alone, with the generation prompt."""
    image_token = getattr(processor, "image_token", None) or "<image>"
    return processor.tokenizer.apply_chat_template([{"role": "user", "content": image_token}], tokenize=False,
                                                   add_generation_prompt=True)


def image_positions(input_ids: torch.Tensor, image_token_id: int, token_slice: Sequence[int] | None = None) -> torch.Tensor:
    """Positions ``[T]`` of the image tokens in ``input_ids [B, L]`` (the same in every row).

    With ``token_slice = (start, stop)`` (MOSAIC: ``(4, 580)``) the mask's positions must be exactly
    ``start..stop-1``: a processor or chat template that places the image elsewhere is a one-line error,
    not a silent slice of text tokens.
    """
    mask = input_ids == int(image_token_id)
    pos = torch.nonzero(mask[0]).flatten().cpu()
    if pos.numel() == 0:
        raise ValueError(f"no image token (id {image_token_id}) in the prompt: the processor did not insert the image")
    if not bool((mask == mask[0]).all()):
        raise ValueError("the image tokens sit at different positions in different rows (padding?)")
    if token_slice is not None:
        a, b = (int(t) for t in token_slice)
        if pos.numel() != b - a or not torch.equal(pos, torch.arange(a, b)):
            raise ValueError(f"the image tokens are at positions {int(pos[0])}..{int(pos[-1]) + 1} ({pos.numel()} tokens), "
                             f"not p3.visual.token_slice [{a}, {b}]: this model/processor is not MOSAIC's layout")
    return pos


def image_token_states(model, processor, images: Sequence, *, hidden_states_index: int,
                       token_slice: Sequence[int] | None = None, batch_size: int = 8, progress: bool = True):
    """Yield ``(start, states [B, T, d], last [B, d])`` (float32, CPU): the language model's
    ``hidden_states[hidden_states_index]`` at the image tokens and at the prompt's last token, one
    forward pass per batch of ``images``."""
    n_layers = int(model.config.text_config.num_hidden_layers)
    if not 1 <= hidden_states_index < n_layers:
        raise ValueError(f"hidden_states_index {hidden_states_index} is outside 1..{n_layers - 1} (0 is the "
                         f"embeddings, {n_layers} is after the final norm) for this {n_layers}-layer model")
    prompt = vlm_prompt(processor)
    image_id = getattr(model.config, "image_token_id", None)
    image_id = getattr(model.config, "image_token_index", None) if image_id is None else image_id
    p = next(model.parameters())
    for start in tqdm(range(0, len(images), batch_size), desc="VLM image tokens", disable=no_bar(progress)):
        batch = list(images[start:start + batch_size])
        inputs = processor(text=[prompt] * len(batch), images=batch, return_tensors="pt", padding=True)
        inputs = {k: v.to(p.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(p.dtype)
        pos = image_positions(inputs["input_ids"], image_id, token_slice)
        if "attention_mask" in inputs and not bool(inputs["attention_mask"].all()):
            raise ValueError("padding in a batch of identical prompts: the images gave prompts of different lengths")
        with torch.inference_mode():
            out = model(**inputs, output_hidden_states=True, return_dict=True)
        hs = out.hidden_states[hidden_states_index]
        yield start, hs[:, pos.to(p.device)].float().cpu(), hs[:, -1].float().cpu()


# ----------------------------------------------------------------------------- pooled features (cached)
@dataclass
class VisualFeatures:
    """Pooled SAE features of ``n`` images: ``forms`` ``{(pooling, top_n): CSR [n, d_sae]}`` (unbinarized),
    ``hidden`` ``{"last": [n, d], "mean": [n, d]}`` (the prompt's last token; the mean over the image
    tokens), ``labels [n]``, ``n_tokens`` (T)."""

    forms: dict
    hidden: dict
    labels: np.ndarray
    n_tokens: int
    d_sae: int
    meta: dict


def vlm_identity(model) -> str:
    """A string naming a VLM's weights: its hub name and commit, else a hash of a strided sample of
    every parameter (a model built from a config)."""
    cfg = model.config
    name = getattr(cfg, "_name_or_path", "") or type(model).__name__
    commit = getattr(cfg, "_commit_hash", None)
    if commit:
        return f"{name}@{commit}"
    h = hashlib.sha256()
    for pname, prm in model.named_parameters():
        flat = prm.detach().flatten()
        h.update(pname.encode())
        h.update(flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy().tobytes())
    return f"{name}@params-{h.hexdigest()[:24]}"


def digest_images(images: Sequence, labels) -> str:
    """SHA-256 of the images' modes, sizes and pixels, and of the labels (order matters)."""
    h = hashlib.sha256()
    for im in images:
        h.update(f"{im.mode}{im.size}".encode())
        h.update(im.tobytes())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def visual_features(profile, model, processor, sae, images: Sequence, labels, *, dataset: str,
                    progress: bool = True) -> VisualFeatures:
    """Pooled SAE features (every form of ``p3.visual``) and the hidden-state baselines of ``images``.

    Cached under ``<home>/p3/visual`` by (VLM identity, SAE identity, images and labels digest, hidden
    state index, token slice, forms); on a miss one forward pass per batch feeds every form.
    """
    vs = visual_settings(profile)
    forms = feature_forms(vs)
    names = [f"{p}.top{n}" for p, n in forms]
    y = np.asarray(labels, dtype=np.int64)
    n, d_sae = len(images), int(sae.cfg.d_sae)
    fields = {"what": "p3-visual", "model": vlm_identity(model), "sae": saes.sae_identity(sae), "dataset": dataset,
              "images_sha256": digest_images(images, y), "n": n, "hidden_states_index": vs.hidden_states_index,
              "token_slice": list(vs.token_slice) if vs.token_slice else None, "forms": sorted(names),
              "version": MOSAIC_VERSION}
    key = key_for(fields)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{fields['model'].split('@')[0]}.{dataset}")[:80]
    path = profile.home_dir / "p3" / "visual" / f"{slug}.{key[:16]}.safetensors"
    hit = load_checked(path, {"key": key})
    if hit is not None:
        t, meta = hit
        return VisualFeatures({f: _csr_from(t, nm, (n, d_sae)) for f, nm in zip(forms, names)},
                              {k: t[f"hidden_{k}"].numpy() for k in HIDDEN_POOLINGS}, t["labels"].numpy(),
                              int(meta["n_tokens"]), d_sae, meta)
    t0 = time.perf_counter()
    rows: dict[tuple, list] = {f: [None] * n for f in forms}
    hidden, n_tokens = None, 0
    poolings, top_ns = sorted({p for p, _ in forms}), sorted({k for _, k in forms})
    for start, states, last in image_token_states(model, processor, images, hidden_states_index=vs.hidden_states_index,
                                            token_slice=vs.token_slice, batch_size=vs.batch_size, progress=progress):
        B, T, d = states.shape
        n_tokens = T
        if hidden is None:
            hidden = {k: np.zeros((n, d), dtype=np.float32) for k in HIDDEN_POOLINGS}
        hidden["mean"][start:start + B] = states.mean(1).numpy()
        hidden["last"][start:start + B] = last.numpy()
        codes = saes.encode(sae, states.reshape(B * T, d))  # CSR [B*T, d_sae]
        for b in range(B):
            pooled = pool_text(codes[b * T:(b + 1) * T], poolings, top_ns, vs.top_n_poolings)
            for f in forms:
                rows[f][start + b] = pooled[f]
    mats = {f: sp.vstack(lst, format="csr").astype(np.float32) for f, lst in rows.items()}
    tensors = {**{f"hidden_{k}": torch.from_numpy(v) for k, v in hidden.items()}, "labels": torch.from_numpy(y)}
    for f, nm in zip(forms, names):
        tensors.update(_csr_tensors(nm, mats[f]))
    meta = {**fields, "key": key, "n_tokens": n_tokens, "d_sae": d_sae, "seconds": time.perf_counter() - t0}
    atomic_save(path, tensors, meta)
    return VisualFeatures(mats, hidden, y, n_tokens, d_sae, meta)


# ----------------------------------------------------------------------------- classification
def visual_configs(profile, d_sae: int) -> list[Config]:
    """Every pooled form x binarization of ``p3.visual`` (SAE ``p3.visual.sae``) and the hidden-state
    baselines (``last`` first: the protocol's)."""
    vs = visual_settings(profile)
    out = [Config("sae", layer=vs.layer, sae=vs.sae, width=int(d_sae), pooling=p, top_n=int(k), binarize=b)
           for p, k in feature_forms(vs) for b in vs.binarize]
    return out + [Config("hidden", layer=vs.layer, pooling=k) for k in HIDDEN_POOLINGS]


def evaluate_visual(profile, feats: VisualFeatures, *, dataset: str, configs: Sequence[Config] | None = None,
                    progress: bool = True) -> pd.DataFrame:
    """One row per (configuration, C): ``val_f1`` / ``test_f1`` / ``train_f1`` (macro F1) under P3's
    split and C path; SAE features binarized on load, the hidden-state baseline standardized."""
    s = settings(profile)
    y = feats.labels
    train, test, inner, val = profile_split(s, y)
    configs = list(configs) if configs is not None else visual_configs(profile, feats.d_sae)
    base = {"dataset": dataset, "n_train": int(len(train)), "n_test": int(len(test)), "n_classes": int(len(np.unique(y))),
            "n_image_tokens": int(feats.n_tokens)}
    rows = []
    for c in tqdm(configs, desc="visual configs", disable=no_bar(progress)):
        res = c_path(_features(profile, feats, c, train), y, train, val, inner, test, s.C_grid, max_iter=s.max_iter)
        rows += [{**base, **c.to_dict(), **r} for r in res]
    return pd.DataFrame(rows)


def run_visual(profile, *, model=None, processor=None, sae=None, images: Sequence | None = None, labels=None,
               dataset: str | None = None, progress: bool = True) -> tuple[pd.DataFrame, VisualFeatures]:
    """MOSAIC's visual classification end to end: ``(results of evaluate_visual, features)``.

    Without arguments everything comes from the hub (:func:`load_vlm`, :func:`load_visual_sae`,
    :func:`load_images`; ``RuntimeError`` offline). A model, processor, SAE and images passed in are used
    as they are (the test's tiny random model): the numbers then describe that model, nothing else.
    """
    vs = visual_settings(profile)
    if model is None or processor is None:
        model, processor = load_vlm(profile)
    if sae is None:
        sae = load_visual_sae(profile, model)
    if images is None:
        images, labels, _ = load_images(profile)
        dataset = dataset or f"{vs.dataset}[{vs.split}]"
    if labels is None or len(labels) != len(images):
        raise ValueError("run_visual: pass one label per image")
    dataset = dataset or "images"
    feats = visual_features(profile, model, processor, sae, images, labels, dataset=dataset, progress=progress)
    return evaluate_visual(profile, feats, dataset=dataset, progress=progress), feats


def _features(profile, feats: VisualFeatures, c: Config, train):
    if c.kind == "sae":
        return prune_columns(binarize(feats.forms[(c.pooling, c.top_n)], c.binarize), train)
    return standardize(feats.hidden[c.pooling].astype(np.float64), train)[0]


def heldout_predictions(profile, feats: VisualFeatures, c: Config, C: float) -> tuple[np.ndarray, np.ndarray]:
    """``(y_test, predictions)`` of configuration ``c`` refit on the whole training part at ``C``
    (the same fit as ``c_path``'s ``test_f1``)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    s = settings(profile)
    y = feats.labels
    train, test, _, _ = profile_split(s, y)
    X = _features(profile, feats, c, train)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = LogisticRegression(C=float(C), max_iter=s.max_iter).fit(X[train], y[train])
    return y[test], m.predict(X[test])


def _macro_f1_counts(y: np.ndarray, p: np.ndarray, k: int) -> float:
    """Macro F1 of integer labels ``y`` / predictions ``p`` in ``0..k-1`` over the classes present in
    either (sklearn's ``f1_score(average="macro", zero_division=0)``), from counts."""
    tp = np.bincount(y[y == p], minlength=k)
    support = np.bincount(y, minlength=k) + np.bincount(p, minlength=k)
    present = support > 0
    return float((2 * tp[present] / support[present]).mean())


def paired_bootstrap_f1(y_true, pred_a, pred_b, *, n_boot: int = 2000, seed: int = 42) -> dict[str, Any]:
    """Macro F1 of two classifiers' test predictions and a percentile-bootstrap 95 % CI (resampling
    test images, seed ``seed``) of ``F1(a) - F1(b)``: ``{"f1_a", "f1_b", "diff", "lo", "hi"}``. (Macro F1
    is not a mean over images, so this is not ``core.stats.paired_test``'s mean difference.)"""
    _, codes = np.unique(np.concatenate([np.asarray(v) for v in (y_true, pred_a, pred_b)]), return_inverse=True)
    y, a, b = np.split(codes, 3)
    k = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        ix = rng.integers(0, len(y), len(y))
        diffs[i] = _macro_f1_counts(y[ix], a[ix], k) - _macro_f1_counts(y[ix], b[ix], k)
    fa, fb = _macro_f1_counts(y, a, k), _macro_f1_counts(y, b, k)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"f1_a": fa, "f1_b": fb, "diff": fa - fb, "lo": float(lo), "hi": float(hi)}


def summarize_visual(profile, res: pd.DataFrame, feats: VisualFeatures) -> dict[str, Any]:
    """What page 45 reports from :func:`run_visual`'s results.

    ``table``: one row per configuration, C chosen on validation (``test_f1``) with the test-selected
    score beside it (``test_selected_f1``, MOSAIC's way), sorted by validation F1; ``best``: the SAE
    configuration with the best validation F1; ``hidden``: the last-token hidden-state baseline's row; ``compare``:
    :func:`paired_bootstrap_f1` of the two on the test images (``p3.n_boot``, ``p3.seed``); ``verdict``:
    ``"beat"`` / ``"trail"`` / ``"cannot be told apart from"`` (the CI of the difference above 0 / below 0
    / covering 0).
    """
    s = settings(profile)
    sel = select(res, "val")
    by_test = select(res, "test").set_index("config").test_f1
    sel = sel.assign(test_selected_f1=sel.config.map(by_test)).sort_values("val_f1", ascending=False, kind="stable")
    configs = {c.label: c for c in visual_configs(profile, feats.d_sae)}
    best = sel[sel.features == "sae"].iloc[0]
    hid = sel[(sel.features == "hidden") & (sel.pooling == "last")].iloc[0]
    yt, p_sae = heldout_predictions(profile, feats, configs[best.config], best.C)
    _, p_hid = heldout_predictions(profile, feats, configs[hid.config], hid.C)
    cmp = paired_bootstrap_f1(yt, p_sae, p_hid, n_boot=s.n_boot, seed=s.seed)
    verdict = "beat" if cmp["lo"] > 0 else "trail" if cmp["hi"] < 0 else "cannot be told apart from"
    return {"table": sel.reset_index(drop=True), "best": best, "hidden": hid, "compare": cmp, "verdict": verdict}
