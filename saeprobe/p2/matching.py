"""Hungarian matching of two SAEs' latents (P2: Paulo & Belrose 2025, "Sparse Autoencoders Trained on
the Same Data Learn Different Features"). The result object is :class:`saeprobe.p2.result.MatchResult`.

Protocol (P2, ``SrGonao/sae_overlap``):

1. Unit-normalize the decoder directions (rows of ``W_dec``, shape ``[d_sae, d_in]``) of both SAEs,
   form the cosine matrix ``A @ B.T`` (``[d_sae_a, d_sae_b]``) and solve the linear assignment
   problem that maximizes the summed cosine (``scipy.optimize.linear_sum_assignment``).
2. Do the same, *separately*, for the encoder directions (columns of ``W_enc``, shape
   ``[d_in, d_sae]``).
3. A latent is **shared** when its decoder match has cosine > 0.7 AND its encoder match has cosine
   > 0.7. The paper's model/architecture comparisons use the **decoder-only** variant (decoder
   cosine > 0.7); both are reported here. Also: the fraction of latents whose encoder partner and
   decoder partner are the same latent, the mean matched cosine and a threshold sweep 0 → 1.

Inputs: sae-lens ``SAE`` objects (anything with ``W_dec`` / ``W_enc``), EleutherAI-sparsify style
objects (``W_dec`` and ``encoder.weight``), mappings ``{"W_dec": ..., "W_enc": ...}``, a
``(W_dec, W_enc)`` pair, or a bare ``W_dec`` (torch tensor or numpy array; decoder-only results).

Memory and time (measured on this project's 2-core / 24 GB CPU machine with
``benchmarks/matching.py``, whose docstring and ``MEASURED`` table hold the timings):

* The cost matrix is computed in row blocks (float32 matmuls of ``block_rows`` rows at a time) and
  written, negated, straight into one ``float64`` buffer of ``n_a * n_b * 8`` bytes.
  scipy's solver works in double precision: handing it a float32 matrix with ``maximize=True``
  makes it allocate a float64 copy *and* a negated copy (20 bytes/entry peak instead of 8), so we
  negate ourselves and call it with ``maximize=False`` — the same assignment as
  ``maximize=True`` on the cosines. The same buffer is reused for the encoder matching.
* Peak memory ≈ ``8 * n²`` bytes (+ the SAEs' weights): 16k latents 2.1 GB, 32k 8.6 GB, 48k 18.4 GB;
  the largest square width that fits in 24 GB with room for the OS and weights is **about 50k
  latents** (8·50k² = 20 GB). 65k (34 GB) does not fit; 131k (137 GB) needs a big-memory machine.
* Time on 2 cores (decoder + encoder matching, d_in 640; ``benchmarks/matching.py``):
  the shortest-augmenting-path solver is O(n³) in the worst case. For a seed-pair-like problem
  (half the latents with a clear partner) 1k 0.04 s, 4k 0.6 s, 8k 4.3 s, 16k 22 s measured
  (fitted exponent 2.3; 32k ≈ 1.6 min, 50k ≈ 4 min extrapolated). Two *unrelated* random SAEs are
  the hard case: 4k 2.9 s, 8k 53 s measured (exponent 2.9; 16k ≈ 4 min, 32k ≈ 32 min,
  50k ≈ 1.8 h extrapolated). Real seed pairs fall between the two.
* A Gemma Scope 262k pair would need 8·262k² = 550 GB for a dense buffer. ``match(...,
  candidates=32)`` keeps each latent's 32 nearest neighbours in the other SAE (both directions,
  blockwise on the GPU when there is one) and solves the sparse assignment exactly (LAPJVsp); it
  equals the dense result whenever the optimum uses only candidate edges, which the tests check.
  Measured on 2 CPU cores (decoder only, seed-pair-like synthetic SAEs, d_in 640): 16k 32 s
  (dense 25 s, identical partners), 32k 174 s at 2.9 GB peak RSS — the blockwise n² · d_in
  similarity dominates, so 262k needs ~3 h per direction on CPU; use a GPU (``device="cuda"``).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from saeprobe.core.cache import atomic_save, key_for, load_checked
from saeprobe.p2.result import DEFAULT_THRESHOLD, MatchResult

__all__ = ["DEFAULT_THRESHOLD", "MatchResult", "cosine_matrix", "decoder_directions", "encoder_directions", "match",
           "weights"]

DEFAULT_BLOCK_ROWS = 2048


# ----------------------------------------------------------------------------- input handling
def _to_numpy(x: Any, what: str) -> np.ndarray:
    """Tensor/array -> float32 numpy array (no copy when already float32 numpy)."""
    if hasattr(x, "detach"):  # torch tensor / parameter
        x = x.detach().to("cpu").float().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D matrix, got shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or inf values; check the SAE weights")
    return arr


def weights(sae: Any, name: str = "SAE") -> tuple[np.ndarray, np.ndarray | None]:
    """(W_dec [d_sae, d_in], W_enc [d_in, d_sae] or None) from any supported SAE representation."""
    w_dec = w_enc = None
    if isinstance(sae, Mapping):
        if "W_dec" not in sae:
            raise ValueError(f"{name}: mapping has no 'W_dec' key (keys: {sorted(sae)[:6]}); pass {{'W_dec': ..., 'W_enc': ...}}")
        w_dec, w_enc = sae["W_dec"], sae.get("W_enc")
    elif isinstance(sae, (tuple, list)):
        if len(sae) != 2:
            raise ValueError(f"{name}: a tuple must be (W_dec, W_enc), got {len(sae)} items")
        w_dec, w_enc = sae
    elif hasattr(sae, "W_dec"):
        w_dec = sae.W_dec
        if getattr(sae, "W_enc", None) is not None:
            w_enc = sae.W_enc
        elif hasattr(getattr(sae, "encoder", None), "weight"):  # EleutherAI sparsify: Linear(d_in, d_sae)
            w_enc = sae.encoder.weight.T
    elif hasattr(sae, "shape") or isinstance(sae, np.ndarray):
        w_dec = sae
    else:
        raise TypeError(
            f"{name}: cannot read SAE weights from a {type(sae).__name__}; pass a sae-lens SAE, "
            "a dict with 'W_dec'/'W_enc', a (W_dec, W_enc) pair or a W_dec matrix"
        )
    dec = _to_numpy(w_dec, f"{name} W_dec")
    enc = None
    if w_enc is not None:
        enc = _to_numpy(w_enc, f"{name} W_enc")
        if enc.shape != dec.shape[::-1]:
            raise ValueError(
                f"{name}: W_enc has shape {tuple(enc.shape)} but W_dec {tuple(dec.shape)} needs W_enc "
                f"[d_in, d_sae] = {tuple(dec.shape[::-1])}"
            )
    return dec, enc


def _unit_rows(m: np.ndarray) -> np.ndarray:
    """Row-normalize (float32); all-zero rows stay zero (cosine 0 with everything)."""
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def decoder_directions(sae: Any) -> np.ndarray:
    """Unit-normalized decoder directions, float32 ``[d_sae, d_in]`` (rows of ``W_dec``)."""
    return _unit_rows(weights(sae, "sae")[0])


def encoder_directions(sae: Any) -> np.ndarray:
    """Unit-normalized encoder directions, float32 ``[d_sae, d_in]`` (columns of ``W_enc``)."""
    _, enc = weights(sae, "sae")
    if enc is None:
        raise ValueError("sae has no encoder weights (W_enc); pass a full SAE or a (W_dec, W_enc) pair")
    return _unit_rows(enc.T)


# ----------------------------------------------------------------------------- cost matrix
def cosine_matrix(
    a: np.ndarray,
    b: np.ndarray,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    out: np.ndarray | None = None,
    negate: bool = False,
) -> np.ndarray:
    """Cosine matrix ``a @ b.T`` of two sets of unit vectors, computed ``block_rows`` rows at a time.

    Args:
        a: ``[n_a, d]`` unit rows (float32). b: ``[n_b, d]`` unit rows (float32).
        block_rows: rows of ``a`` per float32 matmul (bounds the temporary to ``block_rows * n_b``).
        out: optional preallocated ``[n_a, n_b]`` buffer (any float dtype) to fill in place.
        negate: store ``-cos`` (the cost for a minimizing solver).
    Returns:
        ``[n_a, n_b]`` array (``out`` if given, else float32).
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"cosine_matrix needs 2-D inputs, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"cannot compare directions of different sizes: d_in {a.shape[1]} vs {b.shape[1]}")
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if out is None:
        out = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    elif out.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f"out has shape {out.shape}, expected {(a.shape[0], b.shape[0])}")
    bt = np.ascontiguousarray(b.T)
    for start in range(0, a.shape[0], block_rows):
        block = a[start : start + block_rows] @ bt
        if negate:
            np.negative(block, out=block)
        out[start : start + block_rows] = block
    return out


def _assign(a: np.ndarray, b: np.ndarray, buf: np.ndarray, block_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-cosine assignment of rows of ``a`` to rows of ``b`` -> (partner [n_a] int64 (-1 unmatched),
    cosine [n_a] float32 (NaN unmatched))."""
    cosine_matrix(a, b, block_rows=block_rows, out=buf, negate=True)
    rows, cols = linear_sum_assignment(buf)  # minimizing -cos == maximize=True on cos, without copies
    partner = np.full(a.shape[0], -1, dtype=np.int64)
    cos = np.full(a.shape[0], np.nan, dtype=np.float32)
    partner[rows] = cols
    cos[rows] = -buf[rows, cols]
    return partner, cos


def _assign_sparse(a: np.ndarray, b: np.ndarray, candidates: int, block_rows: int, device: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Approximate max-cosine assignment for SAEs too wide for a dense buffer.

    Keeps, for every row of ``a``, its ``candidates`` most similar rows of ``b`` and, for every row of
    ``b``, its ``candidates`` most similar rows of ``a`` (computed blockwise with torch on ``device``),
    adds "fallback" edges ``i <-> i`` with a prohibitive cost so a full matching always exists, and
    solves the sparse assignment exactly (``scipy.sparse.csgraph.min_weight_full_bipartite_matching``,
    LAPJVsp). Exact whenever the dense optimum only uses candidate edges — always the case for pairs
    above any sensible threshold. Memory: ``O((n_a + n_b) * candidates)`` plus one block.
    Returns (partner [n_a] int64, cosine [n_a] float32) with the TRUE cosine of every matched pair.
    """
    import scipy.sparse as sp
    import torch
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    n_a, n_b = a.shape[0], b.shape[0]
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
    ca, cb = min(candidates, n_b), min(candidates, n_a)
    rows, cols, vals = [], [], []
    col_val = torch.full((0, n_b), -2.0, device=dev)
    col_idx = torch.zeros((0, n_b), dtype=torch.long, device=dev)
    with torch.no_grad():
        for start in range(0, n_a, block_rows):
            blk = ta[start : start + block_rows] @ tb.T  # [r, n_b]
            v, i = blk.topk(ca, dim=1)
            rows.append((torch.arange(blk.shape[0], device=dev)[:, None] + start).expand_as(i).reshape(-1).cpu())
            cols.append(i.reshape(-1).cpu())
            vals.append(v.reshape(-1).cpu())
            cv, ci = blk.topk(min(cb, blk.shape[0]), dim=0)  # [c', n_b]
            col_val = torch.cat([col_val, cv])
            col_idx = torch.cat([col_idx, ci + start])
            if col_val.shape[0] > cb:
                col_val, keep = col_val.topk(cb, dim=0)
                col_idx = col_idx.gather(0, keep)
            del blk
    rows.append(col_idx.reshape(-1).cpu())
    cols.append(torch.arange(n_b)[None, :].expand(col_idx.shape[0], n_b).reshape(-1))
    vals.append(col_val.reshape(-1).cpu())
    r = torch.cat(rows).numpy().astype(np.int64)
    c = torch.cat(cols).numpy().astype(np.int64)
    w = 2.0 - torch.cat(vals).numpy().astype(np.float64)  # cost in [1, 3]: never an explicit zero
    m = min(n_a, n_b)
    diag = np.arange(m, dtype=np.int64)
    r, c, w = np.concatenate([r, diag]), np.concatenate([c, diag]), np.concatenate([w, np.full(m, 10.0)])
    order = np.lexsort((w, r * n_b + c))  # dedupe edges: the cheapest copy (a real edge beats its fallback)
    key_sorted = (r * n_b + c)[order]
    keep = order[np.r_[True, key_sorted[1:] != key_sorted[:-1]]]
    graph = sp.csr_matrix((w[keep], (r[keep], c[keep])), shape=(n_a, n_b))
    ri, cj = min_weight_full_bipartite_matching(graph)
    partner = np.full(n_a, -1, dtype=np.int64)
    cos = np.full(n_a, np.nan, dtype=np.float32)
    partner[ri] = cj
    cos[ri] = np.einsum("ij,ij->i", a[ri], b[cj])
    return partner, cos


def match(
    a: Any,
    b: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    encoder: bool = True,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    candidates: int | None = None,
    device: str | None = None,
    max_dense_gb: float = 20.0,
    cache_dir: str | Any | None = None,
) -> MatchResult:
    """Match SAE ``a``'s latents to SAE ``b``'s by Hungarian assignment on decoder and encoder directions.

    Args:
        a, b: sae-lens SAEs, ``{"W_dec", "W_enc"}`` mappings, ``(W_dec, W_enc)`` pairs or bare
            ``W_dec`` matrices (``[d_sae, d_in]``, torch or numpy). Widths may differ (the extra
            latents of the wider SAE stay unmatched); ``d_in`` must be equal.
        threshold: cosine a match must exceed to count as shared (P2: 0.7).
        encoder: also match encoder directions (skipped automatically when either input has none).
        block_rows: rows per float32 block of the cost matrix.
        candidates: ``None`` = exact dense Hungarian (P2's method). An integer switches to the
            sparse approximation of :func:`_assign_sparse` (top-``candidates`` neighbours each way;
            for widths whose dense buffer does not fit, e.g. Gemma Scope 262k: 550 GB dense).
        device: torch device for the sparse mode's blockwise similarities (default: CUDA if present).
        max_dense_gb: refuse a dense buffer larger than this (one-line error suggesting ``candidates``).
        cache_dir: optional folder; the partners and cosines are stored there (atomic, validated,
            keyed by a SHA-256 of both SAEs' weights and the settings) and reused on the next call.
    Returns:
        :class:`MatchResult` (per latent of ``a``; ``approximate`` is True in sparse mode).
    Memory: dense mode, one float64 ``[n_a, n_b]`` buffer (8 bytes per pair), reused for the encoder.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    t0 = time.perf_counter()
    dec_a, enc_a = weights(a, "SAE a")
    dec_b, enc_b = weights(b, "SAE b")
    if dec_a.shape[1] != dec_b.shape[1]:
        raise ValueError(
            f"cannot match SAEs with different input sizes: d_in {dec_a.shape[1]} vs {dec_b.shape[1]} "
            "(match SAEs trained on the same model and hook)"
        )
    n_a, n_b = dec_a.shape[0], dec_b.shape[0]
    do_enc = encoder and enc_a is not None and enc_b is not None
    if cache_dir is not None:
        return _match_cached(dec_a, enc_a if do_enc else None, dec_b, enc_b if do_enc else None, cache_dir,
                             threshold=threshold, block_rows=block_rows, candidates=candidates, device=device,
                             max_dense_gb=max_dense_gb)
    if candidates is not None:
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        dp, dc = _assign_sparse(_unit_rows(dec_a), _unit_rows(dec_b), candidates, block_rows, device)
        ep = ec = None
        if do_enc:
            ep, ec = _assign_sparse(_unit_rows(enc_a.T), _unit_rows(enc_b.T), candidates, block_rows, device)
        return MatchResult(dp, dc, ep, ec, float(threshold), int(n_b), time.perf_counter() - t0, approximate=True)
    need_gb = 8 * n_a * n_b / 1e9
    if need_gb > max_dense_gb:
        raise ValueError(
            f"a dense {n_a} x {n_b} cost buffer needs {need_gb:.0f} GB (> max_dense_gb={max_dense_gb:g}); "
            "pass candidates=32 for the sparse matching (or raise max_dense_gb)"
        )
    buf = np.empty((n_a, n_b), dtype=np.float64)
    dp, dc = _assign(_unit_rows(dec_a), _unit_rows(dec_b), buf, block_rows)
    ep = ec = None
    if do_enc:
        ep, ec = _assign(_unit_rows(enc_a.T), _unit_rows(enc_b.T), buf, block_rows)
    del buf
    return MatchResult(dp, dc, ep, ec, float(threshold), int(n_b), time.perf_counter() - t0)


CACHE_VERSION = "1"


def _fingerprint(*mats: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for m in mats:
        if m is None:
            h.update(b"none")
        else:
            h.update(str(m.shape).encode())
            h.update(np.ascontiguousarray(m).tobytes())
    return h.hexdigest()


def _match_cached(dec_a, enc_a, dec_b, enc_b, cache_dir, *, threshold, candidates, **kw) -> MatchResult:
    """:func:`match` through an on-disk cache (saeprobe.core.cache: safetensors + JSON, atomic, validated)."""
    import torch

    key = key_for({"version": CACHE_VERSION, "a": _fingerprint(dec_a, enc_a), "b": _fingerprint(dec_b, enc_b),
                   "candidates": candidates})
    path = Path(cache_dir).expanduser() / f"match-{key[:24]}.safetensors"
    hit = load_checked(path, {"key": key})
    if hit is not None:
        t, meta = hit
        enc = meta["encoder"]
        return MatchResult(t["decoder_partner"].numpy(), t["decoder_cos"].numpy(),
                           t["encoder_partner"].numpy() if enc else None, t["encoder_cos"].numpy() if enc else None,
                           float(threshold), int(meta["n_b"]), float(meta["seconds"]), bool(meta["approximate"]))
    a = (dec_a, enc_a) if enc_a is not None else dec_a
    b = (dec_b, enc_b) if enc_b is not None else dec_b
    r = match(a, b, threshold=threshold, candidates=candidates, **kw)
    tensors = {"decoder_partner": torch.from_numpy(r.decoder_partner), "decoder_cos": torch.from_numpy(r.decoder_cos)}
    if r.has_encoder:
        tensors.update(encoder_partner=torch.from_numpy(r.encoder_partner), encoder_cos=torch.from_numpy(r.encoder_cos))
    atomic_save(path, tensors, {"key": key, "encoder": r.has_encoder, "n_b": r.n_b, "seconds": r.seconds,
                                "approximate": r.approximate})
    return r
