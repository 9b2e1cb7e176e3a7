"""Sparse SAE encoding at any width, and the pooled feature forms the experiments use.

Nothing here builds a dense ``[n, d_sae]`` matrix for all rows at once: rows are encoded in
batches whose dense block stays under ``mem_mb``, and each batch is turned into scipy CSR
(or top-k indices/values) before the next one starts. A 1m-wide SAE on 5,000 prompts is fine.

For SAEs too large to hold in memory (a 1m-wide fp32 SAE on d_in 640 is 5 GB),
:class:`DiskEncoder` streams the encoder from its ``sae_weights.safetensors`` in column
blocks, keeping a running top-k (TopK SAEs) or the thresholded non-zeros (ReLU / JumpReLU).

Pooled forms (shapes: ``n`` texts/prompts, ``T_i`` tokens of text ``i``, ``d_sae`` latents):

* P1 — last token: ``encode(sae, last_token_acts)`` -> CSR ``[n, d_sae]``.
* P3 — per token, keep the top-``n`` latents (``top_n=None``: all active), then pool over the
  text's tokens: ``"sum"`` (summed activations), ``"count"`` (number of tokens in which the
  latent is among the kept ones), ``"max"``, ``"mean"``; optionally binarize (``X > threshold``,
  MOSAIC uses 1; ``0`` gives "ever active"). See :func:`pool_token_codes` (P3's pooling pass is
  :mod:`saeprobe.p3.features`).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from saeprobe.core.config import no_bar

POOL_METHODS = ("sum", "count", "max", "mean")


# ----------------------------------------------------------------------------- helpers
def _as_tensor(acts: Any) -> torch.Tensor:
    if isinstance(acts, np.ndarray):
        acts = torch.from_numpy(acts)
    if not isinstance(acts, torch.Tensor):
        raise TypeError(f"activations must be a torch.Tensor or numpy array, got {type(acts).__name__}")
    if acts.ndim != 2:
        raise ValueError(f"activations must be 2-D [n, d_in], got shape {tuple(acts.shape)}")
    return acts


def _d_in_d_sae(sae: Any) -> tuple[int, int]:
    return int(sae.cfg.d_in), int(sae.cfg.d_sae)


def _check_d_in(sae: Any, acts: torch.Tensor) -> None:
    d_in, _ = _d_in_d_sae(sae)
    if acts.shape[1] != d_in:
        raise ValueError(
            f"activation width {acts.shape[1]} does not match the SAE's d_in {d_in}: "
            "use an SAE trained on this model/hook (see saeprobe.saes.load_sae)"
        )


def _rows_per_batch(d_sae: int, mem_mb: float, batch_rows: int | None) -> int:
    if batch_rows:
        return int(batch_rows)
    # dense fp32 block of rows x d_sae, times ~3 for the pre-activations/mask temporaries
    return max(1, int(mem_mb * 2**20 / (4 * d_sae * 3)))


def _dense_to_csr(dense: torch.Tensor, top_k: int | None) -> sp.csr_matrix:
    """[b, d_sae] dense (mostly zero) -> CSR float32, optionally keeping only each row's top_k."""
    b, d = dense.shape
    if top_k is not None and top_k < d:
        vals, idx = dense.topk(top_k, dim=1)
        keep = vals != 0
        rows = torch.arange(b).unsqueeze(1).expand_as(idx)[keep]
        m = sp.csr_matrix(
            (vals[keep].float().numpy(), (rows.numpy(), idx[keep].numpy())), shape=(b, d), dtype=np.float32
        )
        m.sort_indices()
        return m
    nz = dense.nonzero(as_tuple=True)
    return sp.csr_matrix(
        (dense[nz].float().numpy(), (nz[0].numpy(), nz[1].numpy())), shape=(b, d), dtype=np.float32
    )


# ----------------------------------------------------------------------------- encode
@torch.no_grad()
def encode(
    sae: Any,
    acts: torch.Tensor | np.ndarray,
    *,
    top_k: int | None = None,
    batch_rows: int | None = None,
    mem_mb: float = 256,
    progress: bool = False,
) -> sp.csr_matrix:
    """Encode ``acts [n, d_in]`` with ``sae`` -> scipy CSR ``[n, d_sae]`` float32 of its latent activations.

    ``sae`` is a sae-lens ``SAE`` (any architecture; its own ``encode`` is used, so results equal
    ``sae.encode(acts)``) or a :class:`DiskEncoder`. Rows go in batches whose dense block stays
    under ``mem_mb`` (or exactly ``batch_rows`` rows). ``top_k`` keeps only each row's ``top_k``
    largest activations (P3's per-token top-n).
    """
    if isinstance(sae, DiskEncoder):
        return sae.encode(acts, top_k=top_k, mem_mb=mem_mb, batch_rows=batch_rows, progress=progress)
    acts = _as_tensor(acts)
    _check_d_in(sae, acts)
    _, d_sae = _d_in_d_sae(sae)
    step = _rows_per_batch(d_sae, mem_mb, batch_rows)
    dev, dt = sae.W_enc.device, sae.W_enc.dtype
    blocks = []
    for i in tqdm(range(0, acts.shape[0], step), desc="encode", disable=no_bar(progress), leave=False):
        dense = sae.encode(acts[i : i + step].to(dev, dt)).float().cpu()
        blocks.append(_dense_to_csr(dense, top_k))
        del dense
    if not blocks:
        return sp.csr_matrix((0, d_sae), dtype=np.float32)
    return sp.vstack(blocks, format="csr").astype(np.float32)


def encode_topk(sae: Any, acts: torch.Tensor | np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest latent activations: ``(indices [n, k] int64, values [n, k] float32)``.

    Rows with fewer than ``k`` active latents are padded with index -1 / value 0.
    """
    m = encode(sae, acts, top_k=k, **kw)
    n = m.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    val = np.zeros((n, k), dtype=np.float32)
    for r in range(n):
        s, e = m.indptr[r], m.indptr[r + 1]
        order = np.argsort(-m.data[s:e], kind="stable")[:k]
        idx[r, : len(order)] = m.indices[s:e][order]
        val[r, : len(order)] = m.data[s:e][order]
    return idx, val


def dense_encode(sae: Any, acts: torch.Tensor | np.ndarray) -> np.ndarray:
    """Reference: the whole ``[n, d_sae]`` dense matrix at once (small SAEs / tests / benchmarks only)."""
    acts = _as_tensor(acts)
    _check_d_in(sae, acts)
    with torch.no_grad():
        return sae.encode(acts.to(sae.W_enc.device, sae.W_enc.dtype)).float().cpu().numpy()


# ----------------------------------------------------------------------------- pooling (P3)
def pool_token_codes(
    codes: sp.csr_matrix,
    method: str = "sum",
    *,
    top_n: int | None = None,
    binarize: float | None = None,
) -> sp.csr_matrix:
    """Pool one text's token codes ``[T, d_sae]`` (CSR, BOS already excluded) -> ``[1, d_sae]`` CSR.

    ``top_n``: per token keep only its ``top_n`` largest latents first (None/0: all active ones).
    ``method``: ``"sum"`` | ``"count"`` | ``"max"`` | ``"mean"`` over tokens (mean divides by T).
    ``binarize``: if not None, return ``(pooled > binarize)`` as 0/1 (MOSAIC: 1).
    """
    if method not in POOL_METHODS:
        raise ValueError(f"unknown pooling {method!r}: choose one of {POOL_METHODS}")
    codes = sp.csr_matrix(codes, dtype=np.float32)
    T, d = codes.shape
    if top_n:
        codes = _keep_top_n_rows(codes, int(top_n))
    if T == 0:
        out = sp.csr_matrix((1, d), dtype=np.float32)
    elif method == "sum":
        out = sp.csr_matrix(codes.sum(axis=0), dtype=np.float32)
    elif method == "count":
        out = sp.csr_matrix((codes != 0).sum(axis=0), dtype=np.float32)
    elif method == "mean":
        out = sp.csr_matrix(codes.sum(axis=0) / T, dtype=np.float32)
    else:  # max (activations are >= 0 for ReLU/TopK/JumpReLU; implicit zeros take part)
        out = sp.csr_matrix(codes.max(axis=0), dtype=np.float32)
    if binarize is not None:
        out = sp.csr_matrix((out > binarize).astype(np.float32))
    out.eliminate_zeros()
    return out


def _keep_top_n_rows(codes: sp.csr_matrix, n: int) -> sp.csr_matrix:
    data, indices, indptr = [], [], [0]
    for r in range(codes.shape[0]):
        s, e = codes.indptr[r], codes.indptr[r + 1]
        v, c = codes.data[s:e], codes.indices[s:e]
        if e - s > n:
            keep = np.argpartition(-v, n - 1)[:n]
            v, c = v[keep], c[keep]
        data.append(v)
        indices.append(c)
        indptr.append(indptr[-1] + len(v))
    m = sp.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0, np.float32),
         np.concatenate(indices) if indices else np.zeros(0, np.int32), np.array(indptr)),
        shape=codes.shape,
    )
    m.sort_indices()
    return m


# ----------------------------------------------------------------------------- disk-streamed encoder
class DiskEncoder:
    """Encoder of a saved SAE (sae-lens folder), streamed from disk in column blocks.

    Holds only ``b_dec`` / ``b_enc`` / ``threshold`` in memory; ``W_enc [d_in, d_sae]`` is read
    ``col_block`` columns at a time from ``sae_weights.safetensors`` (the file is reopened per
    block so its pages are unmapped again). Supports the ``topk``, ``standard`` and ``jumprelu``
    inference architectures without activation normalisation. Results equal ``SAE.encode``.
    """

    def __init__(self, path: str | Path, col_block: int = 65536):
        self.path = Path(path)
        cfg_file, w_file = self.path / "cfg.json", self.path / "sae_weights.safetensors"
        if not (cfg_file.exists() and w_file.exists()):
            raise FileNotFoundError(f"{self.path} is not an SAE folder (needs cfg.json and sae_weights.safetensors)")
        raw = json.loads(cfg_file.read_text())
        self.arch = raw.get("architecture", "standard")
        if self.arch not in ("topk", "standard", "jumprelu"):
            raise ValueError(f"DiskEncoder supports topk/standard/jumprelu, not {self.arch!r}; load it with load_sae")
        if raw.get("normalize_activations", "none") not in ("none", None):
            raise ValueError("DiskEncoder needs normalize_activations='none'; load it with load_sae instead")
        self.k = int(raw.get("k", 0))
        self.rescale = bool(raw.get("rescale_acts_by_decoder_norm", False))
        self.apply_b_dec = bool(raw.get("apply_b_dec_to_input", True))
        self.col_block = int(col_block)
        from safetensors import safe_open

        with safe_open(str(w_file), framework="pt") as f:
            keys = set(f.keys())
            self.b_dec = f.get_tensor("b_dec").float()
            self.b_enc = f.get_tensor("b_enc").float() if "b_enc" in keys else None
            self.threshold = f.get_tensor("threshold").float() if "threshold" in keys else None
            shape = f.get_slice("W_enc").get_shape()
        self._w_file = w_file
        self._w_layout = self._layout()

        class _Cfg:  # what encode()/_check_d_in need
            d_in, d_sae = int(shape[0]), int(shape[1])

        self.cfg = _Cfg()

    def _columns(self, fh, a: int, b: int) -> torch.Tensor:
        """``W_enc[:, a:b]`` read with positioned reads (no mmap, so no mapped file pages count
        towards RSS): one contiguous run of ``b - a`` values per input dimension. ``[d_in, b-a]``."""
        start, dtype, size = self._w_layout
        d_in, d = self.cfg.d_in, self.cfg.d_sae
        buf = bytearray(d_in * (b - a) * size)
        run = (b - a) * size
        for r in range(d_in):
            fh.seek(start + (r * d + a) * size)
            fh.readinto(memoryview(buf)[r * run:(r + 1) * run])
        return torch.frombuffer(buf, dtype=dtype).reshape(d_in, b - a).float()

    def _layout(self) -> tuple[int, torch.dtype, int]:
        """(byte offset of ``W_enc``'s data, torch dtype, bytes per value) from the safetensors header."""
        dtypes = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
        with open(self._w_file, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            meta = json.loads(fh.read(n))["W_enc"]
        if meta["dtype"] not in dtypes:
            raise ValueError(f"DiskEncoder: W_enc dtype {meta['dtype']} not supported (F32/F16/BF16)")
        return 8 + n + int(meta["data_offsets"][0]), *dtypes[meta["dtype"]]

    def _blocks(self) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
        from safetensors import safe_open

        d = self.cfg.d_sae
        with open(self._w_file, "rb", buffering=0) as fh:
            for a in range(0, d, self.col_block):
                b = min(d, a + self.col_block)
                w = self._columns(fh, a, b)
                dnorm = None
                if self.rescale:
                    with safe_open(str(self._w_file), framework="pt") as f:
                        dnorm = f.get_slice("W_dec")[a:b, :].float().norm(dim=-1)
                yield a, b, w, dnorm

    @torch.no_grad()
    def encode(self, acts, *, top_k=None, mem_mb=256, batch_rows=None, progress=False) -> sp.csr_matrix:
        """``acts [n, d_in]`` -> CSR ``[n, d_sae]``; see :func:`encode`."""
        acts = _as_tensor(acts).float()
        _check_d_in(self, acts)
        n, d = acts.shape[0], self.cfg.d_sae
        x = acts - self.b_dec if self.apply_b_dec else acts
        rows = batch_rows or max(1, int(mem_mb * 2**20 / (4 * self.col_block * 3)))
        keep_k = self.k if self.arch == "topk" else None
        if top_k is not None:
            keep_k = min(keep_k, top_k) if keep_k else top_k
        if keep_k:  # running top-k per row across column blocks
            best_v = torch.full((n, keep_k), -float("inf"))
            best_i = torch.full((n, keep_k), -1, dtype=torch.long)
        coo_r, coo_c, coo_v = [], [], []
        nblocks = (d + self.col_block - 1) // self.col_block
        for a, b, w, dnorm in tqdm(self._blocks(), total=nblocks, desc="encode (disk)", disable=no_bar(progress)):
            for i in range(0, n, rows):
                pre = x[i : i + rows] @ w
                if self.b_enc is not None:
                    pre += self.b_enc[a:b]
                if self.arch == "topk":
                    if dnorm is not None:
                        pre *= dnorm
                    pre = pre.relu()  # sae-lens TopK: relu of the top-k values
                elif self.arch == "jumprelu":
                    pre = pre.relu() * (pre > self.threshold[a:b])
                else:
                    pre = pre.relu()
                if keep_k:
                    kk = min(keep_k, b - a)
                    v, j = pre.topk(kk, dim=1)
                    cat_v = torch.cat([best_v[i : i + rows], v], 1)
                    cat_i = torch.cat([best_i[i : i + rows], j + a], 1)
                    top_v, pos = cat_v.topk(keep_k, dim=1)
                    best_v[i : i + rows] = top_v
                    best_i[i : i + rows] = cat_i.gather(1, pos)
                else:
                    r, c = pre.nonzero(as_tuple=True)
                    coo_r.append((r + i).numpy())
                    coo_c.append((c + a).numpy())
                    coo_v.append(pre[r, c].numpy())
                del pre
        if keep_k:
            ok = (best_v > 0) & (best_i >= 0)
            r = torch.arange(n).unsqueeze(1).expand_as(best_i)[ok].numpy()
            m = sp.csr_matrix((best_v[ok].numpy(), (r, best_i[ok].numpy())), shape=(n, d), dtype=np.float32)
        else:
            cat = (lambda L, dt: np.concatenate(L) if L else np.zeros(0, dt))
            m = sp.csr_matrix(
                (cat(coo_v, np.float32), (cat(coo_r, np.int64), cat(coo_c, np.int64))), shape=(n, d), dtype=np.float32
            )
        m.sort_indices()
        return m
