"""Per-token residual-stream activations: every real non-BOS token of every text, cached in shards
and streamed back, so no page ever holds a whole profile's tokens in memory.

* :class:`RaggedTokens` -- variable-length token sequences without padding: ``tokens [N, d]`` (all
  rows' tokens back to back) and ``offsets [n + 1]`` (row ``i`` is ``tokens[offsets[i]:offsets[i+1]]``).
  It converts to and from the padded form (``X [n, T, d]`` + ``mask [n, T]``), gives the last token
  of each row and the token at a fixed position (zeros where a row is shorter).
* :class:`TokenStore` -- one text set's cache entry: a manifest plus shards of at most ``shard_mb``
  MB each (``saeprobe.core.cache.atomic_save`` files, checksummed, validated on every read). Shards
  are read one at a time: :meth:`TokenStore.iter_rows` streams any subset of rows,
  :meth:`TokenStore.gather` collects one subset (e.g. a training split) into memory.
* :func:`token_store` / :func:`dataset_tokens` -- the cached entry of a list of texts / a P1 dataset.
  On a miss the texts run through the model once (``saeprobe.core.activations.run_batches``: the
  same tokenization, left truncation keeping BOS, length-sorted batches and right padding as every
  other extractor) and the shards are written as the batches come out; the manifest goes last, so a
  killed pass leaves no entry that loads.

Everything that needs the tokens of a text (raw tokens for an attention probe, SAE codes of every
token, the last token) reads them from this one pass. Disk: ``N_tokens x d_model x bytes(dtype)``
(the cpu profile's 27 datasets at 128 tokens: ~0.5M tokens x 640 x 4 B ~ 1.3 GB; at paper scale
store ``bfloat16`` and drop a dataset's entry after use, see :meth:`TokenStore.remove`).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from saeprobe import __version__
from saeprobe.core import activations, data, models
from saeprobe.core.cache import atomic_save, digest_texts, key_for, load_checked

__all__ = ["TOKENS_VERSION", "RaggedTokens", "TokenStore", "write_store", "token_store", "dataset_tokens"]

#: Bump when a change here changes what a token entry holds (part of every key).
TOKENS_VERSION = "1"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class RaggedTokens:
    """Variable-length rows of token vectors: ``tokens [N, d]``, ``offsets`` int64 ``[n + 1]``."""

    tokens: torch.Tensor
    offsets: torch.Tensor

    def __post_init__(self):
        self.offsets = torch.as_tensor(self.offsets, dtype=torch.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or int(self.offsets[0]) != 0 \
                or int(self.offsets[-1]) != self.tokens.shape[0]:
            raise ValueError(f"RaggedTokens: offsets must run from 0 to the {self.tokens.shape[0]} tokens, "
                             f"got {self.offsets[:3].tolist()}...{self.offsets[-1:].tolist()}")

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def d(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row, int64 ``[n]``."""
        return (self.offsets[1:] - self.offsets[:-1]).numpy()

    def __len__(self) -> int:
        return self.n_rows

    def row(self, i: int) -> torch.Tensor:
        """Row ``i``'s tokens ``[T_i, d]``."""
        return self.tokens[int(self.offsets[i]):int(self.offsets[i + 1])]

    def last(self) -> torch.Tensor:
        """Each row's last token ``[n, d]`` (float32)."""
        return self.tokens[self.offsets[1:] - 1].float()

    def at_position(self, p: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ``p`` (0 = first non-BOS token) of every row: ``(X [n, d] float32, has [n] bool)``;
        rows with ``p`` or fewer tokens give zeros (P1's padded positions are zero)."""
        lens = torch.as_tensor(self.lengths)
        has = lens > p
        out = torch.zeros(self.n_rows, self.d, dtype=torch.float32)
        out[has] = self.tokens[self.offsets[:-1][has] + p].float()
        return out, has

    def select(self, rows: Sequence[int]) -> "RaggedTokens":
        """The given rows, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        lens = self.lengths[rows]
        offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        if len(rows) == 0:
            return RaggedTokens(self.tokens[:0], torch.zeros(1, dtype=torch.int64))
        starts = self.offsets[:-1].numpy()[rows]
        idx = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lens)])
        return RaggedTokens(self.tokens[torch.from_numpy(idx)], torch.from_numpy(offs))

    def padded(self, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ``(X [n, T_max, d], mask [n, T_max] bool)``; padding is zero."""
        lens = self.lengths
        T = int(lens.max()) if len(lens) else 0
        X = torch.zeros(self.n_rows, T, self.d, dtype=dtype)
        mask = torch.arange(T)[None, :] < torch.as_tensor(lens)[:, None]
        X[mask] = self.tokens.to(dtype)
        return X, mask

    @classmethod
    def from_padded(cls, X, mask) -> "RaggedTokens":
        """From ``X [n, T, d]`` and ``mask [n, T]`` (True on real tokens; any positions). Raises
        ``ValueError`` for a row without a real token or mismatched shapes."""
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
        mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).bool()
        if X.ndim != 3 or mask.shape != X.shape[:2]:
            raise ValueError(f"expected X [n, T, d] and mask [n, T], got {tuple(X.shape)} and {tuple(mask.shape)}")
        lens = mask.sum(1)
        if len(lens) and int(lens.min()) == 0:
            raise ValueError(f"row {int(torch.argmin(lens))} has no real token (mask all False)")
        offs = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lens, 0)])
        return cls(X[mask], offs)

    @classmethod
    def concat(cls, parts: Sequence["RaggedTokens"]) -> "RaggedTokens":
        """Rows of ``parts`` one after another."""
        lens = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int64)
        offs = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))
        return cls(torch.cat([p.tokens for p in parts]), offs)


# ----------------------------------------------------------------------------- the store
class TokenStore:
    """One cached entry of per-token activations (see the module docstring). ``lengths`` int64
    ``[n]`` in text order; ``meta`` the manifest's metadata (key, model, hook, max_len, dtype...)."""

    def __init__(self, folder: Path, meta: dict, lengths: np.ndarray, shard_of_row: np.ndarray):
        self.folder, self.meta = Path(folder), meta
        self.lengths, self.shard_of_row = lengths, shard_of_row

    @property
    def n_rows(self) -> int:
        return len(self.lengths)

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())

    def _shard(self, i: int) -> tuple[np.ndarray, RaggedTokens]:
        path = self.folder / f"shard-{i:05d}.safetensors"
        hit = load_checked(path, {"key": self.meta["key"], "shard": i})
        if hit is None:
            (self.folder / "manifest.safetensors").unlink(missing_ok=True)  # the next call recomputes
            raise RuntimeError(f"token cache shard {path} is missing or corrupt (removed): run again to recompute it")
        t = hit[0]
        return t["rows"].numpy(), RaggedTokens(t["tokens"], t["offsets"])

    def iter_rows(self, rows: Sequence[int] | None = None) -> Iterator[tuple[np.ndarray, RaggedTokens]]:
        """Stream ``rows`` (default: all) shard by shard: yields ``(where [r], RaggedTokens of r rows)``
        where ``where`` are positions in ``rows``; one shard in memory at a time."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        wanted = self.shard_of_row[rows]
        for i in np.unique(wanted):
            shard_rows, rag = self._shard(int(i))
            local = {int(r): j for j, r in enumerate(shard_rows)}
            where = np.flatnonzero(wanted == i)
            yield where, rag.select([local[int(r)] for r in rows[where]])

    def gather(self, rows: Sequence[int]) -> RaggedTokens:
        """``rows`` in that order, in memory (e.g. a training split)."""
        rows = np.asarray(rows, dtype=np.int64)
        parts, order = [], []
        for where, rag in self.iter_rows(rows):
            parts.append(rag)
            order.append(where)
        if not parts:
            return RaggedTokens(torch.zeros(0, int(self.meta["d_model"])), torch.zeros(1, dtype=torch.int64))
        cat = RaggedTokens.concat(parts)
        pos = np.concatenate(order)
        return cat.select(np.argsort(pos, kind="stable"))

    def last(self) -> torch.Tensor:
        """Every row's last token ``[n, d]`` float32 (streamed)."""
        out = torch.zeros(self.n_rows, int(self.meta["d_model"]))
        for where, rag in self.iter_rows():
            out[torch.from_numpy(where)] = rag.last()
        return out

    def remove(self) -> None:
        """Delete this entry's files (for runs that keep no token cache, e.g. paper scale on a small disk)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def write_store(folder: Path, key: str, meta: dict, batches: Iterator[tuple[Sequence[int], list[torch.Tensor]]],
                n_rows: int, *, dtype: str = "float32", shard_mb: float = 64) -> TokenStore:
    """Write a store from ``batches`` of ``(text indices [B], [tokens [T_i, d]] per text)``.

    A shard is flushed once it holds ``shard_mb`` MB; the manifest (``lengths``, ``shard_of_row``)
    is written last. Every row ``0..n_rows-1`` must come exactly once.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.safetensors").unlink(missing_ok=True)
    tdtype = _DTYPES[dtype]
    lengths = np.full(n_rows, -1, dtype=np.int64)
    shard_of = np.full(n_rows, -1, dtype=np.int64)
    buf_rows, buf_toks, nbytes, n_shards, d = [], [], 0, 0, None

    def flush():
        nonlocal buf_rows, buf_toks, nbytes, n_shards
        if not buf_rows:
            return
        offs = np.concatenate([[0], np.cumsum([len(t) for t in buf_toks])]).astype(np.int64)
        atomic_save(folder / f"shard-{n_shards:05d}.safetensors",
                    {"tokens": torch.cat(buf_toks), "offsets": torch.from_numpy(offs),
                     "rows": torch.tensor(buf_rows, dtype=torch.int64)},
                    {"key": key, "shard": n_shards})
        shard_of[buf_rows] = n_shards
        n_shards += 1
        buf_rows, buf_toks, nbytes = [], [], 0

    for idx, toks in batches:
        for i, t in zip(idx, toks):
            if lengths[i] >= 0:
                raise ValueError(f"write_store: row {i} came twice")
            if len(t) == 0:
                raise ValueError(f"write_store: row {i} has no token")
            d = t.shape[1]
            lengths[i] = len(t)
            buf_rows.append(int(i))
            buf_toks.append(t.to(tdtype).contiguous())
            nbytes += t.numel() * buf_toks[-1].element_size()
        if nbytes >= shard_mb * 2**20:
            flush()
    flush()
    if (lengths < 0).any():
        raise ValueError(f"write_store: rows {np.flatnonzero(lengths < 0)[:5].tolist()} never came")
    full = {**meta, "key": key, "n_rows": n_rows, "n_shards": n_shards, "d_model": int(d), "dtype": dtype,
            "n_tokens": int(lengths.sum())}
    atomic_save(folder / "manifest.safetensors",
                {"lengths": torch.from_numpy(lengths), "shard_of_row": torch.from_numpy(shard_of)}, full)
    return TokenStore(folder, full, lengths, shard_of)


def _open(folder: Path, key: str) -> TokenStore | None:
    hit = load_checked(folder / "manifest.safetensors", {"key": key})
    if hit is None:
        return None
    t, meta = hit
    return TokenStore(folder, meta, t["lengths"].numpy(), t["shard_of_row"].numpy())


def token_store(profile, name: str, texts: Sequence[str], *, hook: str | None = None, max_len: int | None = None,
                dtype: str = "float32", ood: bool = False, model=None, progress: bool = True,
                shard_mb: float = 64) -> TokenStore:
    """The cached per-token activations of ``texts`` (every real non-BOS token, left-truncated to
    ``max_len`` tokens incl. BOS; default: the profile's) at ``hook`` (default: the main layer).

    On a miss the model (``model`` or the profile's, loaded once per process) runs once over the
    texts and the entry is written shard by shard; a hit loads only the manifest.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"token dtype {dtype!r}: use one of {', '.join(_DTYPES)}")
    hook = hook or profile.hook_name()
    max_len = int(max_len or profile.max_len)
    texts = list(texts)
    identity = models.expected_identity(profile.model) if model is None else models.model_identity(model)
    fields = {"what": "tokens", "model": identity, "hook": hook, "name": name, "ood": ood,
              "texts_sha256": digest_texts(texts), "n_rows": len(texts), "max_len": max_len, "dtype": dtype,
              "extractor": activations.EXTRACTOR_VERSION, "tokens": TOKENS_VERSION, "saeprobe": __version__}
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(identity))[:80]

    def where(fields):
        key = key_for(fields)
        return profile.home_dir / "tokens" / slug / (name + (".ood" if ood else "")) / f"{hook}.{key[:16]}", key

    if identity is not None:
        folder, key = where(fields)
        hit = _open(folder, key)
        if hit is not None:
            return hit
    model = model if model is not None else models.load_profile_model(profile)
    identity = models.model_identity(model)
    fields["model"] = identity
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:80]
    folder, key = where(fields)
    ids = activations.tokenize(model, texts, max_len)

    def batches():
        for idx, acts, mask, _, _ in activations.run_batches(model, ids, [hook], profile.batch_size,
                                                             f"tokens {name}", progress):
            a, m = acts[hook].cpu(), mask.cpu()
            yield idx, [a[r][m[r]] for r in range(len(idx))]

    return write_store(folder, key, fields, batches(), len(texts), dtype=dtype, shard_mb=shard_mb)


def dataset_tokens(profile, dataset: str, *, ood: bool = False, **kw) -> TokenStore:
    """:func:`token_store` of a P1 dataset's rows (``load_dataset(dataset, max_rows=profile.max_rows,
    seed=profile.seed)``, or its OOD file with ``ood=True``); ``kw`` as for :func:`token_store`."""
    ds = data.load_ood(dataset) if ood else data.load_dataset(dataset, max_rows=profile.max_rows, seed=profile.seed)
    return token_store(profile, ds.name, ds.texts, ood=ood, **kw)
