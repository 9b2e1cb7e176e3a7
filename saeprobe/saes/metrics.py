"""SAE quality: L0, fraction of variance explained, dead latents, and the CE-loss delta when spliced in.

All measured on **held-out** tokens of the SAE corpus (texts never used for training):

* ``l0`` — mean number of active latents per token;
* ``fve`` — fraction of variance explained, ``1 - sum||x - x_hat||^2 / sum||x - mean(x)||^2``;
* ``dead_frac`` — fraction of latents that never fire on the held-out tokens;
* ``ce_clean`` / ``ce_sae`` / ``ce_delta`` — next-token cross-entropy (nats/token) of the model on a
  few held-out texts, clean vs with the SAE reconstruction replacing the hook's activation at
  every non-BOS position (TransformerLens hooks); ``ce_mean_ablation`` replaces them by the mean
  activation instead, and ``ce_recovered = (ce_mean - ce_sae) / (ce_mean - ce_clean)``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from saeprobe.core.activations import tokenize
from saeprobe.core.settings import CorpusSettings

_CLEAN_CACHE: dict[tuple, dict] = {}


@torch.no_grad()
def reconstruction_metrics(sae: Any, acts: torch.Tensor, *, batch_rows: int = 2048) -> dict:
    """L0, FVE, MSE and dead-latent fraction of ``sae`` on ``acts [N, d_in]``.

    Also returns ``freq`` (list, per-latent firing frequency) for histograms.
    """
    acts = acts.float()
    n = acts.shape[0]
    d_sae = int(sae.cfg.d_sae)
    mean = acts.mean(0)
    sse = 0.0
    sst = float(((acts - mean) ** 2).sum())
    l0 = 0.0
    fired = torch.zeros(d_sae)
    for i in range(0, n, batch_rows):
        x = acts[i : i + batch_rows]
        z = sae.encode(x)
        xh = sae.decode(z)
        sse += float(((xh - x) ** 2).sum())
        nz = z != 0
        l0 += float(nz.sum())
        fired += nz.float().sum(0)
    freq = fired / max(n, 1)
    return {
        "l0": l0 / max(n, 1),
        "fve": 1.0 - sse / sst if sst > 0 else float("nan"),
        "mse": sse / max(n, 1),
        "dead_frac": float((fired == 0).float().mean()),
        "n_tokens": n,
        "freq": freq.tolist(),
    }


def loss_tokens(model: Any, texts: Sequence[str], max_len: int):
    """Right-padded token ids ``[n, T]`` (BOS first) and the mask ``[n, T-1]`` of positions whose next
    token is real."""
    ids = tokenize(model, list(texts), max_len)
    T = max(len(r) for r in ids)
    pad = model.tokenizer.pad_token_id or 0
    tok = torch.full((len(ids), T), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.bool)
    for r, row in enumerate(ids):
        tok[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = True
    # loss at position t predicts token t+1: valid where t+1 is a real token
    return tok, mask[:, 1:]


@torch.no_grad()
def per_text_ce(model: Any, tok: torch.Tensor, valid: torch.Tensor, hooks: list, batch_size: int) -> tuple:
    """Next-token cross-entropy summed per text: ``(loss_sum [n_texts], n_tokens [n_texts])`` numpy.

    ``tok [n, T]`` token ids, ``valid [n, T-1]`` which positions predict a real next token.
    """
    import numpy as np

    dev = next(model.parameters()).device
    sums, counts = [], []
    for i in range(0, tok.shape[0], batch_size):
        lp = model.run_with_hooks(tok[i : i + batch_size].to(dev), return_type="loss", loss_per_token=True,
                                  fwd_hooks=hooks)
        v = valid[i : i + batch_size].to(dev)
        sums.append((lp * v).sum(1).double().cpu().numpy())
        counts.append(v.sum(1).cpu().numpy())
    return np.concatenate(sums), np.concatenate(counts).astype(np.int64)


def splice_hook(sae: Any):
    """A TransformerLens hook replacing every non-BOS position's activation by ``sae``'s reconstruction."""
    def splice(act, hook):  # act [B, T, d]
        out = act.clone()
        out[:, 1:] = sae(act[:, 1:].to(sae.W_enc.dtype)).to(act.dtype)
        return out
    return splice


def mean_ablation_hook(mean_act: torch.Tensor):
    """A hook replacing every non-BOS position's activation by ``mean_act [d]``."""
    def ablate(act, hook):
        out = act.clone()
        out[:, 1:] = mean_act.to(act.device, act.dtype)
        return out
    return ablate


def _ce(model: Any, tok: torch.Tensor, valid: torch.Tensor, hooks: list, batch_size: int) -> float:
    sums, counts = per_text_ce(model, tok, valid, hooks, batch_size)
    return float(sums.sum() / max(int(counts.sum()), 1))


@torch.no_grad()
def ce_loss_delta(
    model: Any,
    sae: Any,
    texts: Sequence[str],
    hook: str,
    *,
    max_len: int = 64,
    batch_size: int = 8,
    mean_act: torch.Tensor | None = None,
) -> dict:
    """CE loss (nats/token) clean, with the SAE spliced in at ``hook`` (non-BOS positions), and the delta.

    Clean and mean-ablation losses are cached per (model, texts, hook) within the process.
    """
    tok, valid = loss_tokens(model, texts, max_len)
    key = (id(model), hook, max_len, tuple(texts))
    base = _CLEAN_CACHE.get(key)
    if base is None:
        base = {"ce_clean": _ce(model, tok, valid, [], batch_size)}
        if mean_act is not None:
            base["ce_mean_ablation"] = _ce(model, tok, valid, [(hook, mean_ablation_hook(mean_act))], batch_size)
        _CLEAN_CACHE[key] = base
    ce_sae = _ce(model, tok, valid, [(hook, splice_hook(sae))], batch_size)
    res = {**base, "ce_sae": ce_sae, "ce_delta": ce_sae - base["ce_clean"], "ce_tokens": int(valid.sum())}
    if "ce_mean_ablation" in base:
        gap = base["ce_mean_ablation"] - base["ce_clean"]
        res["ce_recovered"] = (base["ce_mean_ablation"] - ce_sae) / gap if gap > 0 else float("nan")
    return res


def sae_quality(sae: Any, corpus: Any, *, model: Any = None, profile: Any = None, progress: bool = False) -> dict:
    """Reconstruction metrics of ``sae`` on a :class:`~saeprobe.saes.corpus.TokenCorpus`'s held-out
    part, plus (with a ``model``) the CE delta on the first ``sae.corpus.ce_texts`` held-out texts at
    ``sae.corpus.ce_max_len`` tokens. Point estimates only: :func:`saeprobe.saes.quality.quality`
    gives every metric with a CI over texts."""
    res = reconstruction_metrics(sae, corpus.test)
    if model is not None:
        c = profile.sae.corpus if profile is not None else CorpusSettings()
        texts = corpus.heldout_texts[: int(c.ce_texts)]
        res.update(ce_loss_delta(model, sae, texts, corpus.hook, max_len=int(c.ce_max_len),
                                 mean_act=corpus.train.mean(0)))
    return res


def metrics_table(saes: dict[str, Any]):
    """``{name: sae}`` (with manifests) -> pandas DataFrame of the scalar metrics, one row per SAE."""
    import pandas as pd

    rows = []
    for name, sae in saes.items():
        man = getattr(sae, "saeprobe_manifest", None) or {}
        m = man.get("metrics", {})
        spec = man.get("spec", {})
        rows.append({
            "sae": name, "arch": spec.get("arch"), "width": spec.get("width"), "layer": man.get("layer"),
            "seed": man.get("seed"), "sparsity": spec.get("k") or spec.get("l1_coefficient") or spec.get("target_l0"),
            "tokens_seen": man.get("tokens_seen"), "train_s": man.get("train_seconds"),
            **{k: v for k, v in m.items() if not isinstance(v, (list, dict))},
        })
    return pd.DataFrame(rows)
