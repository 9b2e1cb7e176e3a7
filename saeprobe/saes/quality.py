"""SAE quality with confidence intervals: what every conclusion drawn from an SAE rests on.

Measured on the **held-out** part of the SAE corpus (texts no SAE trained on), per text, so every
number gets a percentile-bootstrap CI over texts (ratios of sums are resampled as ratios):

* ``fve`` -- fraction of variance explained, ``1 - sum ||x - x_hat||^2 / sum ||x - mean||^2`` over
  the held-out tokens (the mean is the held-out tokens' mean);
* ``l0`` -- mean number of active latents per token; ``dead_frac`` -- share of latents that never
  fire on the held-out tokens;
* ``ce_clean`` / ``ce_spliced`` / ``ce_mean_ablated`` -- next-token cross-entropy (nats/token) of the
  model on the first ``sae.corpus.ce_texts`` held-out texts (at ``ce_max_len`` tokens), clean, with
  the SAE's reconstruction replacing the hook's activation at every non-BOS position, and with the
  training mean there instead; ``ce_recovered = (ce_mean_ablated - ce_spliced) / (ce_mean_ablated -
  ce_clean)``; ``ce_delta = ce_spliced - ce_clean``.

:func:`quality_table` caches one JSON per SAE under ``results_dir(profile, "saes") / "quality"``,
keyed by the SAE's identity, the held-out texts and the settings, so a book rerun measures nothing.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import torch

from saeprobe.core.cache import atomic_write_json, digest_texts, key_for, results_dir
from saeprobe.core.config import no_bar
from saeprobe.core.models import load_profile_model
from saeprobe.saes.corpus import token_corpus
from saeprobe.saes.load import sae_identity
from saeprobe.saes.metrics import loss_tokens, mean_ablation_hook, per_text_ce, splice_hook

__all__ = ["QUALITY_VERSION", "per_text_reconstruction", "quality", "ratio_ci", "quality_table"]

#: Bump when a change here changes the numbers (part of every cache key).
QUALITY_VERSION = "1"
_BASE_CACHE: dict[tuple, tuple] = {}


def ratio_ci(num: np.ndarray, den: np.ndarray, *, n_boot: int = 2000, seed: int = 42,
             transform=None) -> tuple[float, float, float]:
    """``sum(num) / sum(den)`` over units (texts) and its percentile-bootstrap 95 % CI, resampling
    units; ``transform(r)`` maps each ratio (e.g. ``1 - r``). Fewer than two units: NaN interval."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    f = transform or (lambda r: r)
    point = float(f(num.sum() / den.sum())) if den.sum() else float("nan")
    if len(num) < 2:
        return point, float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(num), size=(n_boot, len(num)))
    d = den[idx].sum(1)
    r = f(np.divide(num[idx].sum(1), d, out=np.full(n_boot, np.nan), where=d != 0))
    lo, hi = np.nanquantile(r, [0.025, 0.975])
    return point, float(lo), float(hi)


@torch.no_grad()
def per_text_reconstruction(sae: Any, acts: torch.Tensor, text_index: torch.Tensor, *, batch_rows: int = 2048):
    """Per-text sums on held-out tokens ``acts [N, d]`` (``text_index [N]``): ``(sse, sst, active,
    n_tokens)`` arrays over texts in ascending text order, and ``fired [d_sae]`` (bool, latent ever active)."""
    acts = acts.float()
    mean = acts.mean(0)
    texts, inv = torch.unique(text_index, return_inverse=True)
    n_t = len(texts)
    sse, sst, active = torch.zeros(n_t, dtype=torch.float64), torch.zeros(n_t, dtype=torch.float64), torch.zeros(n_t, dtype=torch.float64)
    fired = torch.zeros(int(sae.cfg.d_sae), dtype=torch.bool)
    for i in range(0, acts.shape[0], batch_rows):
        x, g = acts[i : i + batch_rows], inv[i : i + batch_rows]
        z = sae.encode(x)
        xh = sae.decode(z)
        sse.index_add_(0, g, ((xh - x) ** 2).sum(1).double())
        sst.index_add_(0, g, ((x - mean) ** 2).sum(1).double())
        active.index_add_(0, g, (z != 0).sum(1).double())
        fired |= (z != 0).any(0)
    counts = torch.bincount(inv, minlength=n_t)
    return sse.numpy(), sst.numpy(), active.numpy(), counts.numpy(), fired.numpy()


def _base_losses(model, corpus, texts, max_len, batch_size):
    """Clean and mean-ablated per-text CE on ``texts`` (cached per model, hook and texts)."""
    key = (id(model), corpus.hook, max_len, digest_texts(texts))
    if key not in _BASE_CACHE:
        tok, valid = loss_tokens(model, texts, max_len)
        clean = per_text_ce(model, tok, valid, [], batch_size)
        ablated = per_text_ce(model, tok, valid, [(corpus.hook, mean_ablation_hook(corpus.train.mean(0)))], batch_size)
        _BASE_CACHE[key] = (tok, valid, clean, ablated)
    return _BASE_CACHE[key]


def quality(sae: Any, corpus: Any, model: Any, *, ce_texts: int = 8, ce_max_len: int = 64, batch_size: int = 8,
            n_boot: int = 2000, seed: int = 42) -> dict:
    """Every quality metric of ``sae`` on ``corpus``'s held-out part, with 95 % bootstrap CIs over texts
    (keys ``<metric>``, ``<metric>_lo``, ``<metric>_hi``), plus ``n_ce_texts``, ``n_ce_tokens``,
    ``n_recon_texts``, ``n_recon_tokens``."""
    sse, sst, active, counts, fired = per_text_reconstruction(sae, corpus.test, corpus.text_index[corpus.heldout])
    res = {"n_recon_texts": int(len(counts)), "n_recon_tokens": int(counts.sum()),
           "dead_frac": float(1.0 - fired.mean())}
    res["fve"], res["fve_lo"], res["fve_hi"] = ratio_ci(sse, sst, n_boot=n_boot, seed=seed, transform=lambda r: 1 - r)
    res["l0"], res["l0_lo"], res["l0_hi"] = ratio_ci(active, counts, n_boot=n_boot, seed=seed)
    if model is not None:
        texts = corpus.heldout_texts[: int(ce_texts)]
        tok, valid, (c_sum, n), (a_sum, _) = _base_losses(model, corpus, texts, ce_max_len, batch_size)
        s_sum, _ = per_text_ce(model, tok, valid, [(corpus.hook, splice_hook(sae))], batch_size)
        for name, v in (("ce_clean", c_sum), ("ce_spliced", s_sum), ("ce_mean_ablated", a_sum)):
            res[name], res[f"{name}_lo"], res[f"{name}_hi"] = ratio_ci(v, n, n_boot=n_boot, seed=seed)
        res["ce_delta"], res["ce_delta_lo"], res["ce_delta_hi"] = ratio_ci(s_sum - c_sum, n, n_boot=n_boot, seed=seed)
        res["ce_recovered"], res["ce_recovered_lo"], res["ce_recovered_hi"] = ratio_ci(
            a_sum - s_sum, a_sum - c_sum, n_boot=n_boot, seed=seed)
        res["n_ce_texts"], res["n_ce_tokens"] = int(len(texts)), int(n.sum())
    return res


def _hook_of(sae) -> str:
    """The hook an SAE reads: its saeprobe manifest's (our SAEs) or its sae-lens metadata's."""
    return getattr(sae, "saeprobe_manifest", {}).get("hook") or sae.cfg.metadata.hook_name


def quality_table(profile, saes: dict[str, Any], corpora: dict[str, Any], model: Any, *,
                  n_boot: int = 2000, progress: bool = False) -> pd.DataFrame:
    """One row per SAE (``saes``: ``{name: sae}``; ``corpora``: ``{hook: TokenCorpus}`` holding each
    SAE's hook) with :func:`quality`'s metrics and CIs, cached per SAE. ``model`` None: no CE columns."""
    from tqdm.auto import tqdm

    c = profile.sae.corpus
    folder = results_dir(profile, "saes") / "quality"
    rows = []
    for name, sae in tqdm(saes.items(), desc="SAE quality", disable=no_bar(progress)):
        hook = _hook_of(sae)
        corpus = corpora[hook]
        texts = corpus.heldout_texts[: int(c.ce_texts)]
        key = key_for({"v": QUALITY_VERSION, "sae": sae_identity(sae), "hook": hook, "ce": model is not None,
                       "corpus": corpus.meta.get("key"), "texts": digest_texts(texts), "ce_texts": c.ce_texts,
                       "ce_max_len": c.ce_max_len, "n_boot": n_boot, "seed": profile.seed})
        path = folder / f"{name}-{key[:16]}.json"
        rec = None
        if path.exists():
            try:
                rec = json.loads(path.read_text())
                rec = rec if rec.get("key") == key else None
            except ValueError:
                rec = None
        if rec is None:
            m = quality(sae, corpus, model, ce_texts=c.ce_texts, ce_max_len=c.ce_max_len, n_boot=n_boot,
                        seed=profile.seed)
            rec = {"key": key, "sae": name, **m}
            atomic_write_json(path, rec, sort_keys=True)
        rows.append(rec)
    return pd.DataFrame(rows).drop(columns="key")


def quality_note(table: pd.DataFrame, *, target: float = 0.70, what: str = "this page's verdicts") -> str:
    """One markdown sentence on whether the SAEs of ``table`` (rows of :func:`quality_table`) reach
    ``target`` CE loss recovered: each one's value with its CI, and -- plainly -- which fall below,
    so a page never draws a conclusion from a weak SAE without saying so."""
    if not len(table):
        return f"No SAE quality was measured for {what}."
    parts = [f"{r['sae']} {r['ce_recovered']:.2f} [{r['ce_recovered_lo']:.2f}, {r['ce_recovered_hi']:.2f}]"
             for _, r in table.iterrows()]
    below = table[table.ce_recovered < target]
    head = f"**SAE quality behind {what}** (CE loss recovered on held-out text, 95 % CI over texts): " + "; ".join(parts) + ". "
    if not len(below):
        return head + f"Every one reaches the book's bar of {target:.2f}."
    return head + (f"**{len(below)} of {len(table)} fall below the bar of {target:.2f}** "
                   f"({', '.join(below.sae)}): the verdicts that rest on them are about SAEs weaker than the papers'.")


def page_quality(profile, saes: dict[str, Any], *, model: Any = None, target: float = 0.70,
                 what: str = "this page's verdicts") -> tuple[str, pd.DataFrame]:
    """What a page that draws a verdict from ``saes`` (``{name: sae}``) shows about them: the
    :func:`quality_note` sentence and the :func:`quality_table` rows (cached per SAE, so the SAE
    chapter and every page share one measurement). Loads the profile's model and the token corpus
    of the SAEs' hooks (both cached) when ``model`` is None."""
    if not saes:
        return quality_note(pd.DataFrame(), target=target, what=what), pd.DataFrame()
    model = load_profile_model(profile) if model is None else model
    hooks = sorted({_hook_of(sae) for sae in saes.values()})
    table = quality_table(profile, saes, token_corpus(profile, hooks, model, progress=False), model)
    return quality_note(table, target=target, what=what), table
