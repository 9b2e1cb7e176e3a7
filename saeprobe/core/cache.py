"""On-disk caches: the one atomic writer (tensors, JSON, text, parquet), digests, results folders.

A tensor entry is two files: ``NAME.safetensors`` (tensors; the metadata and a SHA-256 of every
tensor are embedded in its header) and ``NAME.json`` (the same metadata, human-readable, written
last as the commit marker). Every file is written to a temporary file in the same folder and
renamed into place (:func:`atomic_write`), so a killed writer never leaves an entry that loads; an
orphaned temporary file (a writer killed before its rename) is swept the next time that folder is
written, once it is older than :data:`TEMP_MAX_AGE_S`. :func:`load_checked` re-verifies shapes,
dtypes, checksums and the caller's expectations, and deletes (then reports a miss for) anything that
does not match -- a corrupt entry is recomputed, never used. No pickle anywhere.

Results of the papers' grids live under :func:`results_dir` (``<home>/results/<paper>/<profile>``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import save_file

log = logging.getLogger("saeprobe.cache")
_META_KEY = "saeprobe"


def key_for(fields: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``fields`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()
                          if t.numel() else b"").hexdigest()


#: A temporary file older than this (seconds) belongs to a dead writer: no write takes this long.
TEMP_MAX_AGE_S = 6 * 3600
_TMP_SUFFIX = ".tmp"
_swept: set[str] = set()


def digest_texts(texts: Sequence[str]) -> str:
    """SHA-256 hex digest of a list of texts (order matters; NUL-separated, surrogates kept)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def sweep_orphans(folder: str | os.PathLike, max_age_s: float = TEMP_MAX_AGE_S) -> list[Path]:
    """Delete this module's temporary files in ``folder`` older than ``max_age_s``; returns them."""
    now, gone = time.time(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return gone
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(_TMP_SUFFIX) and e.is_file():
            try:
                if now - e.stat().st_mtime > max_age_s:
                    os.unlink(e.path)
                    gone.append(Path(e.path))
            except OSError:
                pass
    if gone:
        log.info("removed %d orphaned temporary file(s) in %s", len(gone), folder)
    return gone


def atomic_write(path: str | os.PathLike, writer: Callable[[str], Any], *, exclusive: bool = False) -> Path | None:
    """Create ``path`` atomically: ``writer(tmp_path)`` writes a temporary file in the same folder,
    which is then renamed onto ``path`` (removed if the writer fails). The first write into a
    folder in this process sweeps orphaned temporary files there (:func:`sweep_orphans`).

    ``exclusive``: write once -- the temporary file is hard-linked to ``path``, which fails if
    another writer got there first; then nothing is replaced and None is returned (on a file system
    without hard links it falls back to the rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = str(path.parent.resolve())
    if folder not in _swept:
        _swept.add(folder)
        sweep_orphans(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return None
            except OSError:  # no hard links here (some network / FUSE file systems)
                os.replace(tmp, path)
                return path
            Path(tmp).unlink(missing_ok=True)
            return path
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if exclusive:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, exclusive: bool = False) -> Path | None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``exclusive``: only if absent, see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), exclusive=exclusive)


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kw: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``dump_kw`` as for :func:`json.dumps`)."""
    dump_kw.setdefault("default", str)
    return atomic_write_text(path, json.dumps(obj, **dump_kw))


def atomic_write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to ``path`` (parquet, no index) atomically."""
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def results_dir(profile: Any, paper: str) -> Path:
    """Where a paper's grid results for ``profile`` live: ``<home>/results/<paper>/<profile name>``."""
    if paper not in ("p1", "p2", "p3", "saes"):
        raise ValueError(f"results_dir: paper must be p1, p2, p3 or saes, got {paper!r}")
    return profile.home_dir / "results" / paper / profile.name


def atomic_save(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` (CPU, contiguous) and JSON-able ``meta`` to ``path`` (.safetensors) atomically.

    Adds to the stored metadata: ``shapes``, ``dtypes`` and ``sha256`` per tensor.
    Returns the path of the tensor file.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    full = dict(meta)
    full["shapes"] = {k: list(v.shape) for k, v in tensors.items()}
    full["dtypes"] = {k: str(v.dtype).replace("torch.", "") for k, v in tensors.items()}
    full["sha256"] = {k: _digest(v) for k, v in tensors.items()}
    text = json.dumps(full, sort_keys=True, default=str)
    side = path.with_suffix(".json")
    side.unlink(missing_ok=True)  # the marker goes first, so a half-replaced entry never validates
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: text}))
    atomic_write_text(side, json.dumps(full, indent=1, sort_keys=True, default=str))
    return path


def _invalid(path: Path, why: str):
    log.warning("cache entry %s is invalid (%s): removing it; it will be recomputed", path.name, why)
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
    return None


def load_checked(path: str | os.PathLike, expect: dict[str, Any] | None = None):
    """Load a cache entry written by :func:`atomic_save`, or return ``None`` (missing or invalid).

    ``expect`` maps metadata keys to required values (e.g. ``{"key": ..., "n_rows": 500}``) and may
    hold ``"shapes": {name: shape}`` to check tensor shapes. Returns ``(tensors, meta)``.
    """
    path = Path(path)
    side = path.with_suffix(".json")
    if not path.exists() or not side.exists():
        if path.exists():  # tensor file without its commit marker: an interrupted write
            return _invalid(path, "no JSON marker")
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()[_META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        side_meta = json.loads(side.read_text())
    except Exception as exc:  # truncated, garbage, wrong format
        return _invalid(path, f"unreadable: {type(exc).__name__}")
    if side_meta != meta:
        return _invalid(path, "JSON marker disagrees with the tensor file")
    if set(tensors) != set(meta["shapes"]):
        return _invalid(path, "tensor names differ from metadata")
    for k, t in tensors.items():
        if list(t.shape) != meta["shapes"][k] or str(t.dtype).replace("torch.", "") != meta["dtypes"][k]:
            return _invalid(path, f"tensor {k} has shape/dtype {tuple(t.shape)}/{t.dtype}, metadata says otherwise")
        if _digest(t) != meta["sha256"][k]:
            return _invalid(path, f"checksum mismatch in {k}")
    for k, want in (expect or {}).items():
        if k == "shapes":
            for name, shape in want.items():
                if name not in tensors or list(tensors[name].shape) != list(shape):
                    return _invalid(path, f"expected {name} of shape {list(shape)}")
        elif meta.get(k) != want:
            return _invalid(path, f"{k}={meta.get(k)!r}, expected {want!r}")
    return tensors, meta
