"""The SAE training corpus: which texts, and their token activations cached once per profile.

**Which texts.** SAEs must never have seen a text that any evaluation later tests on. The corpus is
every text of P1's *binary datasets outside the profile's evaluation subset*
(``data.list_datasets("binary")`` minus ``profile.dataset_names()``), after removing every text
that also occurs (exact string match) in

* any dataset of the profile's evaluation subset (all rows, not only the sampled ones),
* any OOD test file (``data.list_datasets("ood")``), and
* any multiclass dataset (``data.list_datasets("multiclass")`` — MOSAIC/P3 tests on those).

Several P1 datasets share prompts (e.g. the ``hist_fig_*`` family lists the same people), so the
exact-match filter matters. The remaining unique texts are shuffled with the profile seed and taken
until the token budget is met; the first ``heldout_tokens`` worth of texts is held out for the
quality metrics (FVE, L0, dead latents, CE-loss delta) and never used for training.
A profile that evaluates on every binary dataset (``paper``) has no such corpus: use hub SAEs there.

**Tokens.** Every real non-BOS token (BOS norms are ~10x the rest), contexts left-truncated to
``max_len`` tokens as in :mod:`saeprobe.core.activations`. One forward pass serves every hook the
profile's SAEs need; the result is cached with :func:`saeprobe.core.cache.atomic_save` per hook
(``acts [N, d_model]`` float32, ``token_ids [N]``, ``text_index [N]``, ``heldout [N]``) so all
SAEs and seeds reuse it without running the model again.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

from saeprobe.core import activations as A
from saeprobe.core import data
from saeprobe.core.activations import tokenize
from saeprobe.core.cache import atomic_save, key_for, load_checked
from saeprobe.core.models import load_profile_model, model_identity
from saeprobe.core.settings import CorpusSettings

log = logging.getLogger("saeprobe.saes")

CORPUS_VERSION = "1"


@dataclass
class TokenCorpus:
    """Cached token activations of the SAE corpus at one hook.

    ``acts [N, d]`` float32, ``token_ids [N]`` int64, ``text_index [N]`` int64 (into ``texts``),
    ``heldout [N]`` bool. ``train``/``test`` give the two parts' activations.
    """

    hook: str
    acts: torch.Tensor
    token_ids: torch.Tensor
    text_index: torch.Tensor
    heldout: torch.Tensor
    texts: list[str]
    meta: dict

    @property
    def train(self) -> torch.Tensor:
        return self.acts[~self.heldout]

    @property
    def test(self) -> torch.Tensor:
        return self.acts[self.heldout]

    @property
    def heldout_texts(self) -> list[str]:
        idx = sorted(set(self.text_index[self.heldout].tolist()))
        return [self.texts[i] for i in idx]


def corpus_settings(profile: Any) -> CorpusSettings:
    """The ``sae.corpus`` settings of a profile with ``max_len`` / ``batch_size`` resolved
    (``min(128, profile.max_len)`` / ``profile.batch_size`` when unset)."""
    c = profile.sae.corpus
    return replace(c, max_len=min(128, profile.max_len) if c.max_len is None else c.max_len,
                   batch_size=profile.batch_size if c.batch_size is None else c.batch_size)


def training_texts(profile: Any) -> tuple[list[str], dict]:
    """All candidate corpus texts (unique, shuffled with ``profile.seed``) and how they were chosen."""

    eval_sets = set(profile.dataset_names())
    candidates = [n for n in data.list_datasets("binary") if n not in eval_sets]
    if not candidates:
        raise ValueError(
            f"profile {profile.name!r} evaluates on every binary dataset, so no text is free for SAE training: "
            "use hub SAEs (sae.source: hub) or evaluate on a subset"
        )
    excluded: set[str] = set()
    for n in sorted(eval_sets):
        excluded.update(data.load_dataset(n).texts)
    for n in data.list_datasets("ood"):
        excluded.update(data.load_ood(n).texts)
    for n in data.list_datasets("multiclass"):
        excluded.update(data.load_dataset(n).texts)
    seen: set[str] = set()
    texts: list[str] = []
    n_dropped = 0
    for n in candidates:
        for t in data.load_dataset(n).texts:
            if t in excluded:
                n_dropped += 1
                continue
            if t in seen or not t.strip():
                continue
            seen.add(t)
            texts.append(t)
    texts.sort()
    random.Random(profile.seed).shuffle(texts)
    info = {
        "datasets": candidates,
        "n_datasets": len(candidates),
        "excluded_eval_datasets": sorted(eval_sets),
        "n_texts_available": len(texts),
        "n_dropped_overlap": n_dropped,
    }
    return texts, info


def _select(model: Any, texts: Sequence[str], total: int, heldout: int, max_len: int) -> tuple[list[str], int]:
    """Take texts in order until ``total + heldout`` non-BOS tokens; return them and the held-out count."""

    chosen: list[str] = []
    n_tok = 0
    n_held = 0
    step = 256
    for i in range(0, len(texts), step):
        chunk = list(texts[i : i + step])
        lens = [len(r) - 1 for r in tokenize(model, chunk, max_len)]
        for t, L in zip(chunk, lens):
            if L <= 0:
                continue
            chosen.append(t)
            n_tok += L
            if n_held == 0 and n_tok >= heldout:
                n_held = len(chosen)
            if n_tok >= total + heldout:
                return chosen, n_held
    log.warning("SAE corpus: only %d tokens available (wanted %d)", n_tok, total + heldout)
    return chosen, max(1, n_held)


def _token_pass(model: Any, texts: Sequence[str], hooks: Sequence[str], max_len: int, batch_size: int, progress: bool):
    """One forward pass -> per hook (acts [N, d], token_ids [N], text_index [N]), texts in input order."""

    per = {h: [None] * len(texts) for h in hooks}
    ids_per: list = [None] * len(texts)
    token_ids = A.tokenize(model, texts, max_len)
    for idx, acts, mask, _, ids in A.run_batches(model, token_ids, list(hooks), batch_size, "SAE corpus", progress):
        m = mask.cpu()
        for h in hooks:
            a = acts[h].cpu()
            for r, i in enumerate(idx):
                per[h][i] = a[r][m[r]].clone()
        for r, i in enumerate(idx):
            ids_per[i] = ids[r][m[r]].clone()
    tix = torch.cat([torch.full((len(r),), i, dtype=torch.long) for i, r in enumerate(ids_per)])
    tok = torch.cat([r.long() for r in ids_per])
    return {h: torch.cat(per[h]).float() for h in hooks}, tok, tix


def _entry_path(profile: Any, key: str, hook: str):
    return profile.home_dir / "saes" / "corpus" / f"{key[:20]}_{hook.replace('.', '_')}.safetensors"


def corpus_key(profile: Any, model: Any) -> tuple[str, dict]:
    """Cache key of the profile's SAE corpus -> (key, fields). ``model``: a loaded model, or the
    identity string :func:`saeprobe.core.models.model_identity` would give it (so a cached SAE can be
    found without loading the model)."""

    c = corpus_settings(profile)
    fields = {
        "version": CORPUS_VERSION,
        "model": model if isinstance(model, str) else model_identity(model),
        "datasets": sorted(profile.dataset_names()),
        "seed": profile.seed,
        "tokens": int(c.tokens),
        "heldout_tokens": int(c.heldout_tokens),
        "max_len": int(c.max_len),
    }
    return key_for(fields), fields


def token_corpus(profile: Any, hooks: str | Sequence[str], model: Any = None, *, progress: bool = True) -> dict[str, TokenCorpus]:
    """The profile's SAE corpus at ``hooks`` -> ``{hook: TokenCorpus}`` (computed once, then cached).

    ``model`` defaults to ``saeprobe.core.models.load_profile_model(profile)``. On a miss, every
    requested hook that is not cached yet is computed in one forward pass.
    """

    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    model = model if model is not None else load_profile_model(profile)
    key, fields = corpus_key(profile, model)
    out: dict[str, TokenCorpus] = {}
    missing = []
    for h in hooks:
        hit = load_checked(_entry_path(profile, key, h), {"key": key, "hook": h})
        if hit is None:
            missing.append(h)
        else:
            t, meta = hit
            out[h] = TokenCorpus(h, t["acts"], t["token_ids"], t["text_index"], t["heldout"].bool(), meta["texts"], meta)
    if missing:
        c = corpus_settings(profile)
        texts, info = training_texts(profile)
        chosen, n_held = _select(model, texts, int(c.tokens), int(c.heldout_tokens), int(c.max_len))
        acts, tok, tix = _token_pass(model, chosen, missing, int(c.max_len), int(c.batch_size), progress)
        held = tix < n_held
        for h in missing:
            meta = {**fields, **info, "key": key, "hook": h, "texts": chosen, "n_heldout_texts": n_held,
                    "n_tokens": int(acts[h].shape[0]), "n_heldout_tokens": int(held.sum())}
            atomic_save(_entry_path(profile, key, h),
                        {"acts": acts[h], "token_ids": tok, "text_index": tix, "heldout": held.to(torch.uint8)}, meta)
            out[h] = TokenCorpus(h, acts[h], tok, tix, held, chosen, meta)
    return out
