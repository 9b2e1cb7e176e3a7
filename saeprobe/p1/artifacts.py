"""An artifact in AI-vs-human text (Kantamneni et al. 2025, "SAEs for dataset debugging"): does a
probe for ``110_aimade_humangpt3`` read the texts' final punctuation rather than who wrote them?

P1 found that the SAE latents its probe relies on fire on punctuation and sentence ends, and that
the dense probe direction projected onto every token of a corpus tops at the same kind of tokens.
This module holds the pieces of that test that are not plotting:

* :func:`strip_final_punctuation` / :func:`strip_texts` -- the intervention (trailing punctuation
  and whitespace removed; a text that is nothing but punctuation is kept as it is);
* :func:`ending_table` -- how often each class ends in punctuation (the artifact, counted);
* :func:`probe_latent_weights` -- which latents an SAE probe relies on (``|coef| x std``);
* :func:`is_punctuation_token` / :func:`punctuation_share` -- is a token punctuation, what share;
* :func:`paired_auc_diff` -- AUC(a) - AUC(b) on the same test rows with a paired bootstrap CI;
* :func:`punctuation_ablation` -- each probe's test AUC on the original texts, retrained and
  re-evaluated on the stripped texts, and the original probe scored on stripped texts; the drop with
  its CI and a computed verdict (:func:`drop_verdict`);
* :func:`top_token_punctuation` / :func:`share_verdict` -- is punctuation over-represented among the
  corpus tokens where a latent (or the dense direction) is largest, against the corpus base rate.
"""
from __future__ import annotations

import unicodedata
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from saeprobe.core.stats import bootstrap_ci

__all__ = ["P1_ARTIFACT", "is_punctuation_char", "strip_final_punctuation", "strip_texts", "ending_table",
           "is_punctuation_token", "punctuation_share", "probe_latent_weights", "paired_auc_diff",
           "drop_verdict", "punctuation_ablation", "top_token_punctuation", "share_verdict"]

#: What P1 reports for ``110_aimade_humangpt3`` (the paper's findings, Gemma-2-9B layer 20): the SAE
#: it inspected and the top tokens of the dense probe direction projected onto pile-10k tokens.
P1_ARTIFACT = {
    "sae": "gemma-scope-9b-pt-res layer_20/width_131k/average_l0_114",
    "finding": "the latents the probe relies on fire on punctuation / periods at the end of the text",
    "dense_top_tokens": ["<bos>", "!).", "Q", "”.", ".”", '."'],
}


def is_punctuation_char(c: str) -> bool:
    """True for a Unicode punctuation character (categories ``P*``: ``. , ! ? " ” ) …`` and so on)."""
    return unicodedata.category(c).startswith("P")


def strip_final_punctuation(text: str) -> str:
    """``text`` without its trailing punctuation and whitespace (``'Hi there!" '`` -> ``'Hi there'``).
    A text that does not end in punctuation (trailing whitespace aside) is returned unchanged, byte
    for byte, and so is one that is only punctuation/whitespace (it would become empty)."""
    t = text.rstrip()
    if not t or not is_punctuation_char(t[-1]):
        return text
    end = len(t)
    while end > 0 and (text[end - 1].isspace() or is_punctuation_char(text[end - 1])):
        end -= 1
    return text[:end] if end > 0 else text


def strip_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """``(stripped [n], changed bool [n])``: :func:`strip_final_punctuation` of every text and whether
    it changed (it ended in punctuation; unchanged texts keep their activations)."""
    stripped = [strip_final_punctuation(t) for t in texts]
    changed = np.array([s != t for s, t in zip(stripped, texts)], dtype=bool)
    return stripped, changed


def ending_table(texts: Sequence[str], labels: Any) -> pd.DataFrame:
    """Per class: rows, the share ending in punctuation, and the most common final character."""
    y = np.asarray(labels)
    rows = []
    for c in np.unique(y):
        tx = [t.rstrip() for t, l in zip(texts, y) if l == c]
        last = pd.Series([t[-1:] for t in tx])
        rows.append({"label": c, "n": len(tx),
                     "ends_in_punctuation": float(np.mean([bool(t) and is_punctuation_char(t[-1]) for t in tx])),
                     "most_common_end": ", ".join(f"{k!r} {v}" for k, v in last.value_counts().head(4).items())})
    return pd.DataFrame(rows)


def is_punctuation_token(token: str) -> bool:
    """A decoded token is punctuation when, whitespace removed, it is non-empty and every character is
    punctuation (``'.'``, ``'!).'``, ``'."'``, ``' ?'``; not ``'Q'``, ``'.com'`` or ``'⏎'``)."""
    s = "".join(ch for ch in token if not ch.isspace() and ch != "⏎")
    return bool(s) and all(is_punctuation_char(ch) for ch in s)


def punctuation_share(tokens: Sequence[str]) -> float:
    """Share of decoded ``tokens`` that are punctuation (:func:`is_punctuation_token`); NaN if empty."""
    return float(np.mean([is_punctuation_token(t) for t in tokens])) if len(tokens) else float("nan")


def probe_latent_weights(probe: Any, Z_train: Any) -> pd.DataFrame:
    """Which latents a fitted :class:`~saeprobe.p1.probes.SAETopKProbe` relies on.

    ``Z_train``: the ``[n, d_sae]`` codes it was trained on. Returns DataFrame ``latent, rank (P1's
    ranking), coef, std (on the training rows), weight = |coef| * std``, largest weight first; latents
    the L1 fit zeroed have weight 0 and come last.
    """
    lat = np.asarray(probe.latents_, dtype=np.int64)
    cols = Z_train[:, lat]
    cols = cols.toarray() if sp.issparse(cols) else np.asarray(cols, dtype=np.float64)
    coef = np.asarray(probe.estimator_.coef_, dtype=np.float64).ravel()
    std = cols.std(axis=0)
    df = pd.DataFrame({"latent": lat, "rank": np.arange(len(lat)), "coef": coef, "std": std,
                       "weight": np.abs(coef) * std})
    return df.sort_values(["weight", "rank"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _auc_from_counts(wins: np.ndarray, cp: np.ndarray, cn: np.ndarray) -> np.ndarray:
    """AUC of each resample: ``cp [B, n_pos] @ wins [n_pos, n_neg] @ cn [B, n_neg]`` / pair count."""
    return np.einsum("bi,ij,bj->b", cp, wins, cn) / (cp.sum(1) * cn.sum(1))


def paired_auc_diff(y: Any, score_a: Any, score_b: Any, *, n_boot: int = 2000, level: float = 0.95,
                    seed: int = 42) -> tuple[float, float, float]:
    """ROC-AUC(a) - ROC-AUC(b) on the same test rows ``y [n]``, with a paired percentile-bootstrap CI
    over rows (each resample draws rows with replacement and scores both on them; resamples lacking
    a class are dropped). Returns ``(diff, lo, hi)``."""
    y = np.asarray(y)
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    classes = np.unique(y)
    if len(classes) != 2 or not (len(a) == len(b) == len(y)):
        raise ValueError(f"paired_auc_diff: needs two classes and one score per row each "
                         f"(classes {classes.tolist()}, {len(y)} rows, {len(a)}/{len(b)} scores)")
    pos, neg = y == classes[1], y == classes[0]

    def wins(s):
        return (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])

    wa, wb = wins(a), wins(b)
    diff = float(wa.mean() - wb.mean())
    counts = np.random.default_rng(seed).multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=n_boot).astype(float)
    cp, cn = counts[:, pos], counts[:, neg]
    ok = (cp.sum(1) > 0) & (cn.sum(1) > 0)
    if not ok.any():
        return diff, float("nan"), float("nan")
    d = _auc_from_counts(wa, cp[ok], cn[ok]) - _auc_from_counts(wb, cp[ok], cn[ok])
    q = (1 - level) / 2
    return diff, float(np.quantile(d, q)), float(np.quantile(d, 1 - q))


def drop_verdict(drop: float, lo: float, hi: float) -> str:
    """The verdict on "AUC falls when the final punctuation is removed" from the drop's CI."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "too few test rows to say"
    if lo > 0:
        return f"the AUC falls (by {drop:.3f}; the CI lies above 0): the final punctuation carries part of the signal"
    if hi < 0:
        return f"the AUC rises (by {-drop:.3f}; the CI lies below 0) without the final punctuation"
    return "no detectable drop (the CI contains 0): the probe does not need the final punctuation"


def _auc(y, s) -> float:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def punctuation_ablation(probes: dict, X: dict, split: Any, *, n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Does each probe's test AUC fall when the texts' final punctuation is removed?

    Args:
        probes: ``{name: (estimator, feature_kind)}``; ``estimator`` is cloned for every fit.
        X: ``{(feature_kind, "orig" | "stripped"): features [n_rows, ...]}`` (rows aligned with the
            dataset; e.g. ``("resid", "orig")`` last-token residuals, ``("sae", "stripped")`` codes).
        split: a :class:`~saeprobe.p1.splits.Split` (same rows for both text versions).
    Returns:
        one row per probe: ``auc_original`` (trained and tested on the original texts),
        ``auc_stripped`` (retrained and tested on stripped texts), ``auc_stripped_no_retrain`` (the
        original probe on stripped test texts), ``drop = auc_original - auc_stripped`` with its paired
        bootstrap CI over test rows (``drop_lo``, ``drop_hi``), the same for the no-retrain drop, and
        the ``verdict`` sentence.
    """
    tr, te, ytr, yte = split.train_idx, split.test_idx, split.y_train, split.y_test
    rows = []
    for name, (est, kind) in probes.items():
        fit_o = clone(est).fit(X[(kind, "orig")][tr], ytr)
        fit_s = clone(est).fit(X[(kind, "stripped")][tr], ytr)
        s_oo = fit_o.predict_proba(X[(kind, "orig")][te])[:, 1]
        s_ss = fit_s.predict_proba(X[(kind, "stripped")][te])[:, 1]
        s_os = fit_o.predict_proba(X[(kind, "stripped")][te])[:, 1]
        d, lo, hi = paired_auc_diff(yte, s_oo, s_ss, n_boot=n_boot, seed=seed)
        d2, lo2, hi2 = paired_auc_diff(yte, s_oo, s_os, n_boot=n_boot, seed=seed)
        rows.append({"probe": name, "auc_original": _auc(yte, s_oo), "auc_stripped": _auc(yte, s_ss),
                     "auc_stripped_no_retrain": _auc(yte, s_os), "drop": d, "drop_lo": lo, "drop_hi": hi,
                     "drop_no_retrain": d2, "drop_no_retrain_lo": lo2, "drop_no_retrain_hi": hi2,
                     "verdict": drop_verdict(d, lo, hi)})
    return pd.DataFrame(rows)


def top_token_punctuation(scores: dict, token_ids: Any, decode: Any, *, top_n: int = 50, exclude: Any = None,
                          positive_only: bool = False, pool: dict | None = None, n_boot: int = 2000,
                          seed: int = 42) -> tuple[pd.DataFrame, dict]:
    """Is punctuation over-represented among the corpus tokens where each score is largest?

    Args:
        scores: ``{name: [n_tokens] per-token score}`` (a latent's activations, a projection).
        token_ids: ``[n_tokens]`` ids of the corpus rows; ``decode``: ``list[int] -> str``.
        top_n: the top rows of each score that are classified; ``exclude``: rows to skip;
            ``positive_only``: only rows with a score > 0 (an SAE latent's active rows).
        pool: ``{pooled name: [names]}`` -- extra rows pooling those scores' top rows.
    Returns:
        ``(table, base)``: per score ``name, n, punct_share, lo, hi`` (a bootstrap CI over its top rows)
        and ``base`` = ``{"share": ..., "n": ...}``, the share of punctuation among all (kept) rows.
    """
    tok = np.asarray(token_ids).ravel()
    keep = np.ones(len(tok), bool) if exclude is None else ~np.asarray(exclude, bool).ravel()
    ids, inv = np.unique(tok, return_inverse=True)
    punct_id = np.array([is_punctuation_token(decode([int(i)])) for i in ids])
    is_p = punct_id[inv]
    rows, hits = [], {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=float).ravel()
        ok = keep & np.isfinite(s) & ((s > 0) if positive_only else True)
        cand = np.flatnonzero(ok)
        hits[name] = is_p[cand[np.argsort(-s[cand], kind="stable")[:int(top_n)]]].astype(float)
    for name, members in (pool or {}).items():
        hits[name] = np.concatenate([hits[m] for m in members]) if members else np.zeros(0)
    for name, h in hits.items():
        ci = bootstrap_ci(h, n_boot=n_boot, seed=seed, allow_empty=True)
        rows.append({"name": name, "n": int(len(h)), "punct_share": ci.mean, "lo": ci.lo, "hi": ci.hi})
    return pd.DataFrame(rows), {"share": float(is_p[keep].mean()) if keep.any() else float("nan"),
                                "n": int(keep.sum())}


def share_verdict(lo: float, hi: float, base: float) -> str:
    """Is a share with CI ``[lo, hi]`` above, below or indistinguishable from the ``base`` rate?"""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "too few tokens to say"
    if lo > base:
        return "punctuation is over-represented (the CI lies above the corpus base rate)"
    if hi < base:
        return "punctuation is under-represented (the CI lies below the corpus base rate)"
    return "not distinguishable from the corpus base rate (the CI contains it)"
