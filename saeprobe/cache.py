"""On-disk tensor cache: safetensors + JSON metadata, written atomically and validated on load.

A cache entry is two files: ``NAME.safetensors`` (tensors; the metadata and a SHA-256 of every
tensor are embedded in its header) and ``NAME.json`` (the same metadata, human-readable, written
last as the commit marker). Both are written to temporary files and renamed into place, so a
killed writer never leaves an entry that loads. :func:`load_checked` re-verifies shapes, dtypes,
checksums and the caller's expectations, and deletes (then reports a miss for) anything that does
not match — a corrupt entry is recomputed, never used. No pickle anywhere.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

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


def _atomic_write_bytes(path: Path, writer) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    _atomic_write_bytes(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: text}))
    _atomic_write_bytes(side, lambda tmp: Path(tmp).write_text(json.dumps(full, indent=1, sort_keys=True, default=str)))
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
