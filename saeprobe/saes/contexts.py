"""Top-activating contexts: where, in a token corpus, a per-token score is largest.

The score can be one SAE latent's activation (a column of ``encode(sae, corpus.test)``) or any
other per-token number, e.g. a dense probe direction projected onto every token (``acts @ w``), so
an SAE latent and its non-SAE counterpart are read the same way. Inputs follow
:class:`saeprobe.saes.corpus.TokenCorpus`: rows are tokens in corpus order, ``token_ids [n_tokens]``
and ``text_index [n_tokens]`` say which token and which text each row is.

* :func:`top_contexts` -- the top rows of a score with a window of surrounding tokens (same text
  only), the top token wrapped in ``«»``;
* :func:`latent_columns` -- dense ``[n_tokens, len(latents)]`` activations of some latents;
* :func:`token_means` -- the score averaged per token id (which *tokens*, not which occurrences).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from saeprobe.saes.encode import encode

__all__ = ["top_contexts", "latent_columns", "token_means"]


def _window(tix: np.ndarray, r: int, before: int, after: int) -> tuple[int, int]:
    lo, hi = r, r
    while lo > 0 and r - lo < before and tix[lo - 1] == tix[r]:
        lo -= 1
    while hi + 1 < len(tix) and hi - r < after and tix[hi + 1] == tix[r]:
        hi += 1
    return lo, hi


def top_contexts(scores: Any, token_ids: Any, text_index: Any, decode: Callable[[list[int]], str], *,
                 n: int = 4, before: int = 12, after: int = 2, per_text: int | None = 1,
                 exclude: Any = None, positive_only: bool = True) -> pd.DataFrame:
    """The ``n`` corpus rows where ``scores`` is largest, each with its context.

    Args:
        scores: ``[n_tokens]`` one score per corpus row (a latent's activation, a projection).
        token_ids, text_index: ``[n_tokens]`` token id and text of every row.
        decode: ``list[int] -> str`` (e.g. ``model.tokenizer.decode``).
        n: rows returned; before/after: context tokens around the top token (same text only).
        per_text: at most this many rows from one text (None: no cap), so one long text that
            repeats a token does not fill the table.
        exclude: optional ``[n_tokens]`` bool, True for rows never to show (e.g. texts that also
            occur in the dataset a probe was trained on).
        positive_only: skip rows whose score is <= 0 (an inactive latent has no context).
    Returns:
        DataFrame ``rank, row, text, score, token, context`` (``⏎`` for newlines), best first;
        fewer than ``n`` rows when fewer qualify.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    tok = np.asarray(token_ids).ravel()
    tix = np.asarray(text_index).ravel()
    if not (len(s) == len(tok) == len(tix)):
        raise ValueError(f"top_contexts: scores ({len(s)}), token_ids ({len(tok)}) and text_index ({len(tix)}) "
                         "must have one entry per corpus row")
    ok = np.isfinite(s)
    if exclude is not None:
        ex = np.asarray(exclude, dtype=bool).ravel()
        if len(ex) != len(s):
            raise ValueError(f"top_contexts: exclude has {len(ex)} entries for {len(s)} rows")
        ok &= ~ex
    if positive_only:
        ok &= s > 0
    cand = np.flatnonzero(ok)
    order = cand[np.argsort(-s[cand], kind="stable")]
    rows, used = [], {}
    for r in order:
        t = int(tix[r])
        if per_text is not None and used.get(t, 0) >= per_text:
            continue
        used[t] = used.get(t, 0) + 1
        lo, hi = _window(tix, int(r), before, after)
        ctx = decode(tok[lo:r].tolist()) + "«" + decode([int(tok[r])]) + "»" + decode(tok[r + 1: hi + 1].tolist())
        rows.append({"rank": len(rows), "row": int(r), "text": t, "score": float(s[r]),
                     "token": decode([int(tok[r])]).replace("\n", "⏎"), "context": ctx.replace("\n", "⏎")})
        if len(rows) >= n:
            break
    return pd.DataFrame(rows, columns=["rank", "row", "text", "score", "token", "context"])


def latent_columns(sae: Any, acts: Any, latents: Sequence[int]) -> np.ndarray:
    """Activations of ``latents`` on ``acts [n_tokens, d_in]``: dense float32 ``[n_tokens, len(latents)]``
    (the SAE is encoded sparsely in row batches; only the chosen columns are densified)."""
    codes = encode(sae, acts)
    cols = sp.csc_matrix(codes)[:, np.asarray(latents, dtype=np.int64)]
    return np.asarray(cols.toarray(), dtype=np.float32)


def token_means(scores: Any, token_ids: Any, decode: Callable[[list[int]], str], *, min_count: int = 3,
                exclude: Any = None) -> pd.DataFrame:
    """The score averaged per token id over the corpus rows: DataFrame ``token_id, token, count, mean``
    for ids seen at least ``min_count`` times, highest mean first (``exclude``: rows to skip)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    tok = np.asarray(token_ids).ravel().astype(np.int64)
    keep = np.isfinite(s)
    if exclude is not None:
        keep &= ~np.asarray(exclude, dtype=bool).ravel()
    s, tok = s[keep], tok[keep]
    ids, inv, cnt = np.unique(tok, return_inverse=True, return_counts=True)
    mean = np.bincount(inv, weights=s, minlength=len(ids)) / cnt
    sel = cnt >= int(min_count)
    df = pd.DataFrame({"token_id": ids[sel], "count": cnt[sel], "mean": mean[sel]})
    df.insert(1, "token", [decode([int(i)]).replace("\n", "⏎") for i in df.token_id])
    return df.sort_values(["mean", "token_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
