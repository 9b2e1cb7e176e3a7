"""Sphinx extension: keep every page of the book offline.

* Drops sphinx-thebe's scripts (Jupyter Book always loads sphinx_thebe; its inline config is injected
  twice, a console error, and it points at a CDN; we have no launch buttons, so it is never needed).
* Warns (so the strict build fails) if any other script or stylesheet on a page is remote.
"""
from __future__ import annotations

from sphinx.util import logging

log = logging.getLogger(__name__)


def _name(asset) -> str:
    return str(getattr(asset, "filename", asset) or "")


def _is_thebe(asset) -> bool:
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in _name(asset).lower() or "THEBE_JS_URL" in body


def _page_context(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        files = context.get(key)
        if not files:
            continue
        kept = [a for a in files if not _is_thebe(a)]
        for asset in kept:
            if "://" in _name(asset):
                log.warning(f"remote asset on page {pagename}: {_name(asset)} (the book must work offline)",
                            type="saeprobe", subtype="offline")
        files[:] = kept


def setup(app):
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
