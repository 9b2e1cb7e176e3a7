"""Hungarian matching of two SAEs' latents (P2: Paulo & Belrose 2025, "Do SAEs trained with different
seeds learn the same latents?").

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

Memory and time (measured on this project's 2-core / 24 GB CPU machine; see
``benchmarks`` in the final report and :data:`MEASURED`):

* The cost matrix is computed in row blocks (float32 matmuls of ``block_rows`` rows at a time) and
  written, negated, straight into one ``float64`` buffer of ``n_a * n_b * 8`` bytes.
  scipy's solver works in double precision: handing it a float32 matrix with ``maximize=True``
  makes it allocate a float64 copy *and* a negated copy (20 bytes/entry peak instead of 8), so we
  negate ourselves and call it with ``maximize=False`` — the same assignment as
  ``maximize=True`` on the cosines. The same buffer is reused for the encoder matching.
* Peak memory ≈ ``8 * n²`` bytes (+ the SAEs' weights): 16k latents 2.1 GB, 32k 8.6 GB, 48k 18.4 GB;
  the largest square width that fits in 24 GB with room for the OS and weights is **about 50k
  latents** (8·50k² = 20 GB). 65k (34 GB) does not fit; 131k (137 GB) needs a big-memory machine.
* Time on 2 cores (decoder + encoder matching, d_in 640; :data:`MEASURED`, :func:`estimate_cost`):
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

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from saeprobe.core.cache import atomic_save, key_for, load_checked
from saeprobe.core.config import no_bar

__all__ = [
    "MEASURED",
    "P2_PAPER",
    "latent_frequency",
    "pair_summary",
    "paired_auc_diff",
    "probe_latent_overlap",
    "seed_groups",
    "top_examples",
    "MatchResult",
    "MultiSeedResult",
    "bootstrap_ci",
    "cosine_matrix",
    "decoder_directions",
    "encoder_directions",
    "estimate_cost",
    "match",
    "max_width",
    "multi_seed",
    "pair_table",
    "sharedness_by",
]

DEFAULT_THRESHOLD = 0.7
DEFAULT_BLOCK_ROWS = 2048

#: Wall-clock seconds of :func:`match` (decoder + encoder, both solves and cost matrices) measured
#: on this project's CPU machine (2 cores shared with other jobs, ``nice``), d_in = 640.
#: "related": B is a row-permuted, noise-perturbed copy of A (about half the latents shared — the
#: regime of real seed pairs); "unrelated": two independent random SAEs (the hard case).
#: Filled from ``python -m saeprobe.matching --bench``; ``None`` = not measured (over 2 minutes).
#: Peak RSS of the 16k run: 2.85 GB (buffer 2.15 GB) — consistent with 8 bytes/pair.
#: At 16k about 14 s of the "related" time is the two 16k x 16k x 640 matmuls, not the solver.
MEASURED: dict[str, dict[int, float | None]] = {
    "related": {1024: 0.04, 2048: 0.16, 4096: 0.61, 8192: 4.33, 16384: 21.8},
    "unrelated": {1024: 0.12, 2048: 0.53, 4096: 2.86, 8192: 53.0, 16384: None},
}


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


def _weights(sae: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
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
    return _unit_rows(_weights(sae, "sae")[0])


def encoder_directions(sae: Any) -> np.ndarray:
    """Unit-normalized encoder directions, float32 ``[d_sae, d_in]`` (columns of ``W_enc``)."""
    _, enc = _weights(sae, "sae")
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


# ----------------------------------------------------------------------------- results
def _gt(x: np.ndarray, t: float) -> np.ndarray:
    """``x > t`` with NaN (unmatched) -> False."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(x, nan=-np.inf) > t


def _invert(partner: np.ndarray, cos: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.full(n_b, -1, dtype=np.int64)
    c = np.full(n_b, np.nan, dtype=np.float32)
    ok = partner >= 0
    p[partner[ok]] = np.nonzero(ok)[0]
    c[partner[ok]] = cos[ok]
    return p, c


@dataclass(frozen=True)
class MatchResult:
    """Matching of SAE A's latents to SAE B's (per latent of A).

    Attributes:
        decoder_partner: ``[n_a]`` int64 index of the matched latent in B (decoder directions);
            -1 when A is wider than B and the latent is left unmatched.
        decoder_cos: ``[n_a]`` float32 cosine with that partner (NaN when unmatched).
        encoder_partner, encoder_cos: the same for encoder directions (``None`` when either input
            had no encoder weights).
        threshold: cosine a match must exceed to count as shared (default 0.7, P2).
        n_b: number of latents in B.
        seconds: wall time of the matching.
        approximate: True when the sparse candidate matching was used (``match(candidates=...)``).
    """

    decoder_partner: np.ndarray
    decoder_cos: np.ndarray
    encoder_partner: np.ndarray | None
    encoder_cos: np.ndarray | None
    threshold: float = DEFAULT_THRESHOLD
    n_b: int = 0
    seconds: float = 0.0
    approximate: bool = False

    @property
    def n_a(self) -> int:
        return int(self.decoder_partner.shape[0])

    @property
    def has_encoder(self) -> bool:
        return self.encoder_cos is not None

    def _need_encoder(self) -> None:
        if not self.has_encoder:
            raise ValueError("this matching has no encoder directions; pass SAEs with W_enc, or use the decoder-only numbers")

    # --- masks
    def shared(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: decoder cosine > t AND encoder cosine > t (P2's definition)."""
        self._need_encoder()
        t = self.threshold if threshold is None else threshold
        return _gt(self.decoder_cos, t) & _gt(self.encoder_cos, t)

    def shared_decoder(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: decoder cosine > t (P2's model/architecture comparisons)."""
        return _gt(self.decoder_cos, self.threshold if threshold is None else threshold)

    def shared_encoder(self, threshold: float | None = None) -> np.ndarray:
        """``[n_a]`` bool: encoder cosine > t."""
        self._need_encoder()
        return _gt(self.encoder_cos, self.threshold if threshold is None else threshold)

    # --- scalars
    @property
    def shared_fraction(self) -> float:
        """Fraction of A's latents shared under the decoder-AND-encoder definition."""
        return float(self.shared().mean())

    @property
    def decoder_shared_fraction(self) -> float:
        """Fraction of A's latents whose decoder match exceeds the threshold."""
        return float(self.shared_decoder().mean())

    @property
    def agreement(self) -> float:
        """Fraction of A's latents whose encoder partner is the same B latent as the decoder partner."""
        self._need_encoder()
        ok = self.decoder_partner >= 0
        return float((self.decoder_partner[ok] == self.encoder_partner[ok]).sum() / self.n_a)

    @property
    def mean_decoder_cos(self) -> float:
        return float(np.nanmean(self.decoder_cos))

    @property
    def mean_encoder_cos(self) -> float:
        self._need_encoder()
        return float(np.nanmean(self.encoder_cos))

    def summary(self) -> dict[str, float]:
        """Scalars in one dict (encoder-based entries are NaN when there is no encoder)."""
        nan = float("nan")
        enc = self.has_encoder
        return {
            "n_a": self.n_a,
            "n_b": self.n_b,
            "threshold": self.threshold,
            "shared": self.shared_fraction if enc else nan,
            "shared_decoder": self.decoder_shared_fraction,
            "shared_encoder": float(self.shared_encoder().mean()) if enc else nan,
            "agreement": self.agreement if enc else nan,
            "mean_decoder_cos": self.mean_decoder_cos,
            "mean_encoder_cos": self.mean_encoder_cos if enc else nan,
            "seconds": self.seconds,
        }

    def sweep(self, thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """Shared fractions as the threshold goes 0 → 1.

        Returns a DataFrame with columns ``threshold``, ``shared`` (decoder AND encoder; NaN without
        an encoder), ``shared_decoder``, ``shared_encoder``.
        """
        ts = np.round(np.linspace(0.0, 1.0, 21), 4) if thresholds is None else np.asarray(thresholds, float)
        rows = []
        for t in ts:
            rows.append(
                {
                    "threshold": float(t),
                    "shared": float(self.shared(t).mean()) if self.has_encoder else np.nan,
                    "shared_decoder": float(self.shared_decoder(t).mean()),
                    "shared_encoder": float(self.shared_encoder(t).mean()) if self.has_encoder else np.nan,
                }
            )
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per latent of A: partners, cosines and shared flags."""
        df = pd.DataFrame({"decoder_partner": self.decoder_partner, "decoder_cos": self.decoder_cos})
        if self.has_encoder:
            df["encoder_partner"] = self.encoder_partner
            df["encoder_cos"] = self.encoder_cos
            df["shared"] = self.shared()
        df["shared_decoder"] = self.shared_decoder()
        df.index.name = "latent"
        return df

    def reversed(self) -> "MatchResult":
        """The same matching seen from B's side (per latent of B). Exact: an optimal assignment of A
        to B is an optimal assignment of B to A."""
        dp, dc = _invert(self.decoder_partner, self.decoder_cos, self.n_b)
        ep = ec = None
        if self.has_encoder:
            ep, ec = _invert(self.encoder_partner, self.encoder_cos, self.n_b)
        return MatchResult(dp, dc, ep, ec, self.threshold, self.n_a, self.seconds, self.approximate)


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
    dec_a, enc_a = _weights(a, "SAE a")
    dec_b, enc_b = _weights(b, "SAE b")
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
    import hashlib

    h = hashlib.sha256()
    for m in mats:
        if m is None:
            h.update(b"none")
        else:
            h.update(str(m.shape).encode())
            h.update(np.ascontiguousarray(m).tobytes())
    return h.hexdigest()


def _match_cached(dec_a, enc_a, dec_b, enc_b, cache_dir, *, threshold, candidates, **kw) -> MatchResult:
    """:func:`match` through an on-disk cache (saeprobe.cache: safetensors + JSON, atomic, validated)."""
    from pathlib import Path

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


# ----------------------------------------------------------------------------- several SAEs
@dataclass(frozen=True)
class MultiSeedResult:
    """P2's multi-seed analysis: for each latent of each SAE, how many of the OTHER SAEs contain it.

    Attributes:
        counts: list (one per SAE) of ``[d_sae_i]`` int arrays with values in ``0 .. n_saes-1``.
        pairs: DataFrame, one row per unordered pair (``i``, ``j``) with :meth:`MatchResult.summary`.
        definition: ``"both"`` (decoder AND encoder) or ``"decoder"``.
        threshold: cosine threshold.
    """

    counts: list[np.ndarray]
    pairs: pd.DataFrame
    definition: str
    threshold: float
    labels: list[str] = field(default_factory=list)

    @property
    def n_saes(self) -> int:
        return len(self.counts)

    @property
    def orphan_fraction(self) -> float:
        """Mean over SAEs of the fraction of latents found in no other SAE (P2: 35% with 9 seeds)."""
        return float(np.mean([(c == 0).mean() for c in self.counts]))

    @property
    def everywhere_fraction(self) -> float:
        """Mean over SAEs of the fraction of latents found in every other SAE."""
        return float(np.mean([(c == self.n_saes - 1).mean() for c in self.counts]))

    def histogram(self) -> pd.DataFrame:
        """Rows ``k = 0 .. n_saes-1`` ("in k other SAEs"); one column per SAE (fraction of its
        latents) plus ``mean``."""
        ks = np.arange(self.n_saes)
        labels = self.labels or [str(i) for i in range(self.n_saes)]
        df = pd.DataFrame(
            {lab: np.bincount(c, minlength=self.n_saes)[: self.n_saes] / len(c) for lab, c in zip(labels, self.counts)},
            index=pd.Index(ks, name="in_k_others"),
        )
        df["mean"] = df.mean(axis=1)
        return df


def multi_seed(
    saes: Sequence[Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    definition: str = "both",
    labels: Sequence[str] | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    candidates: int | None = None,
    device: str | None = None,
    cache_dir: str | Any | None = None,
    progress: bool = True,
) -> MultiSeedResult:
    """For every latent of every SAE, count the other SAEs that contain it (one matching per
    unordered pair, ``n(n-1)/2`` in all; the reverse direction is read off the same assignment).

    Args:
        saes: two or more SAEs (anything :func:`match` accepts), same ``d_in``.
        definition: ``"both"`` = decoder AND encoder cosine > threshold, ``"decoder"`` = decoder only.
        labels: optional names (e.g. ``"seed0"``) used in ``pairs`` and :meth:`MultiSeedResult.histogram`.
        candidates, device, cache_dir: as in :func:`match`.
    """
    if definition not in ("both", "decoder"):
        raise ValueError(f"definition must be 'both' or 'decoder', got {definition!r}")
    if len(saes) < 2:
        raise ValueError(f"multi_seed needs at least 2 SAEs, got {len(saes)}")
    if labels is not None and len(labels) != len(saes):
        raise ValueError(f"got {len(labels)} labels for {len(saes)} SAEs")
    weights = [_weights(s, f"SAE {i}") for i, s in enumerate(saes)]
    counts = [np.zeros(w[0].shape[0], dtype=np.int64) for w in weights]
    pairs = [(i, j) for i in range(len(saes)) for j in range(i + 1, len(saes))]
    rows = []
    from tqdm.auto import tqdm

    for i, j in tqdm(pairs, desc="matching pairs", disable=no_bar(progress)):
        r = match(weights[i], weights[j], threshold=threshold, encoder=definition == "both", block_rows=block_rows,
                  candidates=candidates, device=device, cache_dir=cache_dir)
        fwd = r.shared() if definition == "both" else r.shared_decoder()
        rev = r.reversed()
        bwd = rev.shared() if definition == "both" else rev.shared_decoder()
        counts[i] += fwd
        counts[j] += bwd
        rows.append({"i": i, "j": j, **({"label_i": labels[i], "label_j": labels[j]} if labels else {}), **r.summary()})
    return MultiSeedResult(counts, pd.DataFrame(rows), definition, float(threshold), list(labels or []))


# ----------------------------------------------------------------------------- analysis helpers
def pair_table(results: Mapping[str, MatchResult]) -> pd.DataFrame:
    """One row per named matching with :meth:`MatchResult.summary` columns."""
    return pd.DataFrame([{"pair": k, **r.summary()} for k, r in results.items()]).set_index("pair")


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


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile bootstrap CI over independent units (e.g. seed pairs).

    Returns ``(mean, lo, hi)``; with one value the CI is ``(nan, nan)``. Note that seed pairs that
    share a seed are not independent: the CI is optimistic with few seeds; say so where quoted.
    """
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    if len(v) == 1:
        return (float(v[0]), np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return (float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


# ----------------------------------------------------------------------------- notebook helpers (P2 / P1xP2)
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


def _strip_seed(name: str) -> str:
    import re

    return re.sub(r"-s\d+(?=-|$)", "", name)


def seed_groups(specs: Sequence[Any], *, min_seeds: int = 2) -> dict[str, list[Any]]:
    """Group SAE specs (``saeprobe.saes.SAESpec``: ``name``, ``seed``, ``to_dict()``) that differ only
    in their seed -> ``{group label: [specs sorted by seed]}`` (groups with < ``min_seeds`` dropped).
    The label is the spec name without its ``-s<seed>`` part (e.g. ``topk-w4096-k32-L12``)."""
    groups: dict[tuple, list[Any]] = {}
    labels: dict[tuple, str] = {}
    for sp_ in specs:
        d = sp_.to_dict() if hasattr(sp_, "to_dict") else dict(sp_)
        key = tuple(sorted((k, repr(v)) for k, v in d.items() if k != "seed"))
        groups.setdefault(key, []).append(sp_)
        labels[key] = _strip_seed(getattr(sp_, "name", str(d)))
    return {labels[k]: sorted(v, key=lambda x: x.seed) for k, v in groups.items() if len(v) >= min_seeds}


def pair_summary(pairs: pd.DataFrame, *, columns: Sequence[str] = ("shared", "shared_decoder", "agreement",
                 "mean_decoder_cos", "mean_encoder_cos"), n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean and bootstrap CI (over seed pairs) of each column of a ``MultiSeedResult.pairs`` table ->
    ``{col: mean, col_lo: ..., col_hi: ..., "n_pairs": ...}``."""
    out: dict[str, float] = {"n_pairs": int(len(pairs))}
    for c in columns:
        if c in pairs:
            m, lo, hi = bootstrap_ci(pairs[c].to_numpy(float), n_boot=n_boot, seed=seed)
            out[c], out[f"{c}_lo"], out[f"{c}_hi"] = m, lo, hi
    return out


def latent_frequency(codes: Any) -> np.ndarray:
    """Firing frequency of each latent: ``[d_sae]`` fraction of rows (tokens) where it is non-zero.

    ``codes``: ``[n_tokens, d_sae]`` scipy sparse (``saeprobe.saes.encode``) or dense array."""
    import scipy.sparse as sp

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
    import scipy.sparse as sp

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


# ----------------------------------------------------------------------------- cost estimates
def max_width(mem_bytes: float = 24e9, *, reserve_bytes: float = 4e9) -> int:
    """Largest square width whose float64 cost buffer fits in ``mem_bytes - reserve_bytes``."""
    return int(math.sqrt(max(mem_bytes - reserve_bytes, 0) / 8))


def estimate_cost(n: int, *, case: str = "related") -> dict[str, float]:
    """Peak buffer bytes and extrapolated seconds for matching two width-``n`` SAEs.

    Seconds are a power-law fit ``t = c * n**p`` to :data:`MEASURED[case]` (needs ≥ 2 points).
    """
    pts = [(k, v) for k, v in MEASURED.get(case, {}).items() if v]
    sec = float("nan")
    exponent = float("nan")
    if len(pts) >= 2:
        x = np.log([p[0] for p in pts])
        y = np.log([p[1] for p in pts])
        exponent, logc = np.polyfit(x, y, 1)
        sec = float(np.exp(logc) * n**exponent)
    return {"n": n, "buffer_bytes": 8.0 * n * n, "seconds": sec, "exponent": float(exponent)}


def _bench(widths: Sequence[int], d_in: int = 640, noise: float = 2.0, limit_s: float = 120.0) -> pd.DataFrame:
    """Time :func:`match` on synthetic SAEs (run with ``nice``). Returns one row per (case, width)."""
    import resource

    rows = []
    for case in ("related", "unrelated"):
        last = 0.0
        for n in widths:
            if last and last * 8.5 > limit_s:  # O(n^3): doubling n ~ 8x time
                rows.append({"case": case, "n": n, "seconds": None, "note": f"skipped, projected > {limit_s:.0f}s"})
                continue
            rng = np.random.default_rng(n)
            dec = rng.standard_normal((n, d_in), dtype=np.float32)
            enc = dec.T + 0.1 * rng.standard_normal((d_in, n), dtype=np.float32)
            if case == "related":
                perm = rng.permutation(n)
                # half the latents barely moved (cos ~0.96), half far off (cos ~0.45): ~50% shared
                scale = np.where(rng.random(n) < 0.5, 0.3, noise).astype(np.float32)
                dec_b = dec[perm] + scale[perm, None] * rng.standard_normal((n, d_in), dtype=np.float32)
                enc_b = enc[:, perm] + scale[None, perm] * rng.standard_normal((d_in, n), dtype=np.float32)
            else:
                dec_b = rng.standard_normal((n, d_in), dtype=np.float32)
                enc_b = rng.standard_normal((d_in, n), dtype=np.float32)
            r = match((dec, enc), (dec_b, enc_b))
            last = r.seconds
            rows.append({"case": case, "n": n, "seconds": round(r.seconds, 2),
                         "shared": round(r.shared_fraction, 3), "shared_decoder": round(r.decoder_shared_fraction, 3),
                         "maxrss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser(description="Benchmark saeprobe.matching (use nice).")
    ap.add_argument("--bench", type=int, nargs="*", default=[1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--limit", type=float, default=120.0)
    args = ap.parse_args()
    print(_bench(args.bench, limit_s=args.limit).to_string())
