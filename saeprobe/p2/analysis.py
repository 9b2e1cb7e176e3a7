"""P2's analyses beyond the matching itself (Paulo & Belrose 2025), and the rules of its verdicts.

* the paper's numbers (:data:`P2_PAPER`, labelled as the paper's wherever shown);
* sharedness against a per-latent quantity (:func:`sharedness_by`, :func:`latent_frequency`) and
  top-activating contexts (:func:`top_examples`);
* P1 x P2: whether probes trained on two seeds' SAEs pick matched latents
  (:func:`probe_latent_overlap`) and differ in AUC beyond test noise (:func:`paired_auc_diff`);
* the verdict rules, as code (:func:`trend_verdict`, :func:`stability_verdict`), and the numbers
  they read from an SAE's training manifest (:func:`manifest_metric`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from saeprobe.p2.result import MatchResult

__all__ = ["P2_PAPER", "sharedness_by", "latent_frequency", "top_examples", "probe_latent_overlap",
           "paired_auc_diff", "manifest_metric", "format_ci", "trend_verdict", "describe_trend",
           "stability_verdict", "glue_defaults"]


def sharedness_by(values: np.ndarray, shared: np.ndarray, *, bins: int | Sequence[float] = 10, log: bool = True) -> pd.DataFrame:
    """Shared fraction as a function of a per-latent quantity (e.g. activation frequency).

    Args:
        values: ``[d_sae]`` per-latent values (e.g. firing frequency in [0, 1]).
        shared: ``[d_sae]`` bool mask from :meth:`MatchResult.shared` / ``shared_decoder``.
        bins: number of quantile bins, or explicit bin edges.
        log: with explicit edges ignored; with a count, bins are quantiles of ``values``
            (log only affects the reported ``center``: geometric instead of arithmetic mean).
    Returns:
        DataFrame with ``lo``, ``hi``, ``center``, ``n``, ``shared_fraction`` per bin.
    """
    values = np.asarray(values, dtype=float)
    shared = np.asarray(shared, dtype=bool)
    if values.shape != shared.shape:
        raise ValueError(f"values {values.shape} and shared {shared.shape} must have the same shape")
    if isinstance(bins, int):
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    else:
        edges = np.asarray(bins, dtype=float)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for k in range(len(edges) - 1):
        sel = idx == k
        v = values[sel]
        if log and len(v) and (v > 0).all():
            center = float(np.exp(np.log(v).mean()))
        else:
            center = float(v.mean()) if len(v) else np.nan
        rows.append({"lo": edges[k], "hi": edges[k + 1], "center": center, "n": int(sel.sum()),
                     "shared_fraction": float(shared[sel].mean()) if sel.any() else np.nan})
    return pd.DataFrame(rows)


#: P2's published numbers (PROTOCOLS.md; Paulo & Belrose 2025, Pythia-160m layer-6 MLP, TopK k=32
#: unless said otherwise). Labelled as the paper's; never mixed with our measurements.
P2_PAPER: dict[str, dict[str, float]] = {
    "shared_by_width": {32: 0.81, 768: 0.79, 4096: 0.70, 32768: 0.42, 131072: 0.28},
    "shared_by_tokens": {0.8e9: 0.07, 8e9: 0.42, 80e9: 0.61},
    "shared_by_k": {32: 0.42, 64: 0.31, 128: 0.23, 256: 0.18},
    "decoder_shared_by_arch": {"gated": 0.86, "standard": 0.82, "topk": 0.74},
    "orphan_fraction_9_seeds": {9: 0.35},
    "llama3_8b_131k_shared": {131072: 0.30},
}


def latent_frequency(codes: Any) -> np.ndarray:
    """Firing frequency of each latent: ``[d_sae]`` fraction of rows (tokens) where it is non-zero.

    ``codes``: ``[n_tokens, d_sae]`` scipy sparse (``saeprobe.saes.encode``) or dense array."""
    n = codes.shape[0]
    if sp.issparse(codes):
        nnz = np.bincount(sp.csr_matrix(codes).indices, minlength=codes.shape[1])
    else:
        nnz = (np.asarray(codes) != 0).sum(axis=0)
    return nnz / max(n, 1)


def top_examples(codes: Any, latents: Sequence[int], token_ids: Any, text_index: Any, decode: Any, *,
                 n: int = 5, before: int = 10, after: int = 2) -> pd.DataFrame:
    """Top-activating token contexts of some latents.

    Args:
        codes: ``[n_tokens, d_sae]`` sparse codes of a token corpus (rows in corpus order).
        latents: latent indices to show.
        token_ids, text_index: ``[n_tokens]`` token id and text of every row (``TokenCorpus``).
        decode: ``list[int] -> str`` (e.g. ``model.tokenizer.decode``).
        n: examples per latent; before/after: context tokens around the max token (same text only).
    Returns:
        DataFrame ``latent, rank, activation, context`` with the max token wrapped in ``«»``.
    """
    csc = sp.csc_matrix(codes)
    tok = np.asarray(token_ids)
    tix = np.asarray(text_index)
    rows = []
    for lat in latents:
        s, e = csc.indptr[lat], csc.indptr[lat + 1]
        r_idx, vals = csc.indices[s:e], csc.data[s:e]
        order = np.argsort(-vals, kind="stable")[:n]
        for rank, o in enumerate(order):
            r = int(r_idx[o])
            lo, hi = r, r
            while lo > 0 and r - lo < before and tix[lo - 1] == tix[r]:
                lo -= 1
            while hi + 1 < len(tix) and hi - r < after and tix[hi + 1] == tix[r]:
                hi += 1
            ctx = decode(tok[lo:r].tolist()) + "«" + decode([int(tok[r])]) + "»" + decode(tok[r + 1 : hi + 1].tolist())
            rows.append({"latent": int(lat), "rank": rank, "activation": float(vals[o]),
                         "context": ctx.replace("\n", "⏎")})
    return pd.DataFrame(rows, columns=["latent", "rank", "activation", "context"])


def probe_latent_overlap(latents_a: Sequence[int], latents_b: Sequence[int], result: MatchResult) -> dict[str, float]:
    """Do two probes (trained with SAE A and SAE B) pick the same latents, up to the A->B matching?

    Args:
        latents_a: latents of A chosen by the probe (best first); latents_b: the same for B.
        result: :func:`match` of A to B (per latent of A).
    Returns:
        ``overlap`` — fraction of A's chosen latents whose decoder partner is among B's chosen;
        ``overlap_shared`` — the same, counting only partners that are shared (both cosines > t);
        ``chance`` — expected overlap of a random choice (``k_b / n_b``);
        ``top1_same`` — A's best latent's partner is B's best latent;
        ``chosen_shared`` — fraction of A's chosen latents that are shared latents
        (compare with ``result.shared_fraction``, the base rate); ``chosen_mean_cos`` — their mean
        matched decoder cosine.
    """
    la = np.asarray(latents_a, dtype=np.int64)
    lb = set(np.asarray(latents_b, dtype=np.int64).tolist())
    partner = result.decoder_partner[la]
    hit = np.array([p in lb for p in partner.tolist()])
    shared = result.shared()[la] if result.has_encoder else result.shared_decoder()[la]
    return {
        "k": int(len(la)),
        "overlap": float(hit.mean()) if len(la) else np.nan,
        "overlap_shared": float((hit & shared).mean()) if len(la) else np.nan,
        "chance": len(lb) / result.n_b,
        "top1_same": float(len(la) > 0 and len(lb) > 0 and partner[0] == np.asarray(latents_b)[0]),
        "chosen_shared": float(shared.mean()) if len(la) else np.nan,
        "chosen_mean_cos": float(np.nanmean(result.decoder_cos[la])) if len(la) else np.nan,
    }


def _pairwise_wins(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """``[n_pos, n_neg]`` 1 where the positive row scores higher, 0.5 on ties, else 0."""
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def paired_auc_diff(y: Sequence[int], score_a: Sequence[float], score_b: Sequence[float], *, n_boot: int = 1000,
                    level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """ROC-AUC(a) - ROC-AUC(b) on the same test rows, with a paired percentile bootstrap CI over rows.

    Returns ``(diff, lo, hi)``. Vectorised: a resample's AUC is ``w_pos · W · w_neg / (Σw_pos Σw_neg)``
    with ``W`` the pairwise win matrix and ``w`` the resample's row multiplicities (resamples that
    lack a class are dropped). Used to ask whether two probes (e.g. trained with SAEs of different
    seeds) differ by more than test-set noise.
    """
    y = np.asarray(y)
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"paired_auc_diff needs two classes in y, got {classes.tolist()}")
    pos, neg = y == classes[1], y == classes[0]
    wa = _pairwise_wins(a[pos], a[neg])
    wb = _pairwise_wins(b[pos], b[neg])
    diff = float(wa.mean() - wb.mean())
    rng = np.random.default_rng(seed)
    n = len(y)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)  # [B, n]
    cp, cn = counts[:, pos], counts[:, neg]
    denom = cp.sum(1) * cn.sum(1)
    ok = denom > 0
    if not ok.any():
        return (diff, np.nan, np.nan)
    cp, cn, denom = cp[ok], cn[ok], denom[ok]
    d = (np.einsum("bi,ij,bj->b", cp, wa, cn) - np.einsum("bi,ij,bj->b", cp, wb, cn)) / denom
    q = (1 - level) / 2
    return (diff, float(np.quantile(d, q)), float(np.quantile(d, 1 - q)))


# ----------------------------------------------------------------------------- notebook 30's rules
def manifest_metric(sae: Any, key: str) -> float:
    """A scalar quality metric (``l0``, ``fve``, ``dead_frac``) from an SAE's training manifest; NaN
    when the SAE has none (e.g. a hub SAE)."""
    m = ((getattr(sae, "saeprobe_manifest", None) or {}).get("metrics") or {})
    v = m.get(key)
    return float(v) if isinstance(v, (int, float)) else np.nan


def format_ci(lo: float, hi: float) -> str:
    """``'[lo, hi]'``, or a note when there is a single seed pair (no CI)."""
    return "n/a (one seed pair)" if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{lo:.3f}, {hi:.3f}]"


def trend_verdict(trend: dict[str, pd.DataFrame]) -> tuple[str | None, bool | None]:
    """Verdict on P2's 'the shared fraction falls as x grows' for series ``{name: DataFrame}`` with
    columns ``x, shared, shared_lo, shared_hi`` sorted by ``x``.

    *reproduces*: every series falls step by step AND the first and last points' CIs are disjoint;
    *same direction, not significant*: every series falls but the CIs overlap (or one seed pair: no
    CI); *does not reproduce*: otherwise. Returns ``(verdict, falls)`` or ``(None, None)`` without data.
    """
    if not trend:
        return None, None
    falls = all((np.diff(d.shared.to_numpy()) <= 0).all() for d in trend.values())
    separated = all(d.shared_hi.iloc[-1] < d.shared_lo.iloc[0] for d in trend.values())
    if falls and separated:
        return "**reproduces**", True
    if falls:
        return "same direction, not significant (CIs overlap or a single seed pair)", True
    rises_sep = all(d.shared_lo.iloc[-1] > d.shared_hi.iloc[0] for d in trend.values())
    return ("**does not reproduce** (it rises)" if rises_sep else "**does not reproduce** (no consistent fall)"), False


def describe_trend(trend: dict[str, pd.DataFrame], prefix: str = "") -> str:
    """``'name: w1024→0.512, w4096→0.433; ...'`` for the series of :func:`trend_verdict`."""
    return "; ".join(f"{name}: " + ", ".join(f"{prefix}{int(x)}→{y:.3f}" for x, y in zip(d.x, d.shared))
                     for name, d in trend.items())


def stability_verdict(topk: dict, l1: dict) -> tuple[str, bool]:
    """Verdict on P2's 'TopK SAEs are less stable than ReLU + L1' from the decoder-only shared fraction
    and its CI of each main group (``shared_decoder``, ``_lo``, ``_hi``). Returns ``(verdict, less)``."""
    less = topk["shared_decoder"] < l1["shared_decoder"]
    sep = topk["shared_decoder_hi"] < l1["shared_decoder_lo"]
    opposite_sep = l1["shared_decoder_hi"] < topk["shared_decoder_lo"]
    verdict = ("**reproduces**" if less and sep else
               "same direction, not significant (CIs overlap or a single seed pair)" if less else
               "**does not reproduce** (TopK is the more stable one)" if opposite_sep else
               "**does not reproduce** (no significant difference; TopK not lower)")
    return verdict, bool(less)


def glue_defaults(archs: Sequence[str] = ("topk", "standard", "jumprelu")) -> dict[str, Any]:
    """The values notebook 30 glues when a profile cannot measure something (NaN / "not measured"),
    so that every key other pages may quote exists on every profile."""
    out: dict[str, Any] = {"p2_orphan_fraction": float("nan"), "p2_orphan_n_seeds": 0, "p2_hub_shared": float("nan"),
                           "p2_hub_shared_decoder": float("nan"), "p2_topk_vs_l1_verdict": "not measured",
                           "p2_width_verdict": "not measured", "p2_k_verdict": "not measured",
                           "p2_topk_less_stable": False}
    for arch in archs:
        out.update({f"p2_{arch}_{col}{suf}": float("nan") for col in ("shared", "shared_decoder", "agreement",
                    "mean_decoder_cos") for suf in ("", "_lo", "_hi")})
        out.update({f"p2_{arch}_group": "none", f"p2_{arch}_L0": float("nan"),
                    f"p2_{arch}_shared_rare": float("nan"), f"p2_{arch}_shared_frequent": float("nan")})
    return out
