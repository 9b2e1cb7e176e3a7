"""The results store of the papers' grids: a folder, local or behind any fsspec URL.

A grid cell is a pure function of its inputs, so it is stored under a content key and written
once: :meth:`Store.write_text` with ``once=True`` never replaces a finished cell, and every write is
atomic (no reader ever sees half a file). Any number of workers -- joblib processes here, Dask
workers on other machines -- can run the same grid against one store without double work being
kept or a cell being lost.

* A plain path (or a ``file://`` URL) is a local folder: files are written by
  :mod:`saeprobe.core.cache`'s atomic writer (temporary file + rename; write-once by hard link),
  byte for byte the layout the runners always used, so results cached before stay valid.
* Any other URL (``s3://bucket/saeprobe``, ``gs://...``, ``memory://...``) goes through fsspec:
  a file is uploaded under a temporary name and moved into place (an object store's put is atomic
  by itself); "write once" there is check-then-write, which is enough for cells whose every
  writer writes the same result.

:func:`results_store` is where a profile's grid results live: ``profile.scale.results_root``
(``<root>/<paper>/<profile>``) or, by default, :func:`saeprobe.core.cache.results_dir`.
"""
from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

from saeprobe.core.cache import atomic_write_parquet, atomic_write_text, results_dir

__all__ = ["Store", "results_store", "is_url"]


def is_url(root: Any) -> bool:
    """True for ``proto://...`` other than ``file://`` (those go through fsspec)."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


class Store:
    """A results folder at ``root`` (path or fsspec URL); paths below it are ``/``-joined parts."""

    def __init__(self, root: str | os.PathLike | "Store"):
        if isinstance(root, Store):
            root = root.root
        text = str(root)
        self.local = not is_url(text)
        if self.local:
            self.root: Any = Path(text.removeprefix("file://")).expanduser()
            self.fs = None
        else:
            import fsspec

            self.fs, path = fsspec.core.url_to_fs(text)
            self.root = text.rstrip("/")
            self._base = path.rstrip("/")

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def __reduce__(self):  # pickles as its root (Dask / joblib workers reopen it)
        return (Store, (str(self.root),))

    # ---------------------------------------------------------------------------------- paths
    def path(self, *parts: str):
        """The local :class:`Path` (local store) or the fsspec path of ``parts`` under the root."""
        if self.local:
            return self.root.joinpath(*parts)
        return "/".join([self._base, *parts])

    def url(self, *parts: str) -> str:
        """``parts`` as a user-facing location (a path or a URL)."""
        return str(self.path(*parts)) if self.local else "/".join([self.root, *parts])

    # ---------------------------------------------------------------------------------- reads
    def read_text(self, *parts: str) -> str | None:
        """The file's text, or None when it is missing or unreadable."""
        try:
            if self.local:
                return self.path(*parts).read_text(encoding="utf-8")
            with self.fs.open(self.path(*parts), "rb") as f:
                return f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def exists(self, *parts: str) -> bool:
        return self.path(*parts).exists() if self.local else bool(self.fs.exists(self.path(*parts)))

    def read_parquet(self, *parts: str):
        import pandas as pd

        if self.local:
            return pd.read_parquet(self.path(*parts))
        with self.fs.open(self.path(*parts), "rb") as f:
            return pd.read_parquet(io.BytesIO(f.read()))

    # --------------------------------------------------------------------------------- writes
    def write_text(self, *parts: str, text: str, once: bool = False) -> bool:
        """Write ``text`` atomically; ``once``: only if the file is absent. True if this call wrote it."""
        if self.local:
            return atomic_write_text(self.path(*parts), text, exclusive=once) is not None
        return self._put(self.path(*parts), text.encode("utf-8"), once=once)

    def write_parquet(self, *parts: str, df) -> None:
        """Write a DataFrame (parquet, no index) atomically."""
        if self.local:
            atomic_write_parquet(df, self.path(*parts))
            return
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        self._put(self.path(*parts), buf.getvalue(), once=False)

    def _put(self, path: str, data: bytes, *, once: bool) -> bool:
        if once and self.fs.exists(path):
            return False
        folder, name = path.rsplit("/", 1) if "/" in path else ("", path)
        self.fs.makedirs(folder or "/", exist_ok=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
        self.fs.pipe_file(tmp, data)
        try:
            self.fs.mv(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        return True


def results_store(profile: Any, paper: str) -> Store:
    """The store of a paper's grid results for ``profile``: ``<scale.results_root>/<paper>/<profile
    name>`` when the profile sets a root (a folder or fsspec URL), else :func:`results_dir`."""
    local = results_dir(profile, paper)  # validates ``paper``
    root = getattr(getattr(profile, "scale", None), "results_root", None)
    if not root:
        return Store(local)
    return Store(f"{str(root).rstrip('/')}/{paper}/{profile.name}")
