"""Sphinx extension: reference pages generated at build time (nothing on them is typed by hand).

* ``saeprobe-timings`` -- a table of every executed notebook, read from the runner's manifest
  (``book/_generated/manifest.json``, written by ``python -m saeprobe.book run``): the page, the
  profile it ran with, its wall time and when it ran. Option ``:only: 50_lab 10_standard`` keeps
  those notebooks. Notebooks whose executed ``.ipynb`` is missing are left out (they are not in the
  book either).
* ``saeprobe-api`` -- ``.. saeprobe-api:: saeprobe.p1`` writes, for every module of that package
  (found on disk, so a new module appears without editing the page), an autosummary line and the
  module's ``automodule`` with its members: the API reference comes from the docstrings
  (``:no-submodules:``: the package's own module only). A reference to a re-exported name
  (``saeprobe.saes.get_sae``) resolves to where it is documented (``saeprobe.saes.train.get_sae``).
* ``saeprobe-summary`` -- the front page's answer: the claims page's figure (every claim, ours with
  its CI against the paper's number; ``book/_generated/front_summary.png``, written by
  ``notebooks/99_claims.py``) with a caption counted from ``book/_generated/claims.csv``, and a link to
  every page behind it with its verdicts. Before the claims page has run it says so in one sentence.
* The download button of every executed notebook page gets the ``download`` attribute (a file, not
  a tab of JSON, when the book is served).
"""
from __future__ import annotations

import csv
import json
import os
import pkgutil
import re
from importlib import import_module
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

log = logging.getLogger(__name__)
GENERATED = Path("book") / "_generated"


def read_timings(srcdir: str | Path) -> list[dict]:
    """Rows ``{name, profile, seconds, executed_at}`` of the manifest, in notebook order, for the
    notebooks whose executed ``.ipynb`` exists."""
    path = Path(srcdir) / GENERATED / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    rows = []
    for name, entry in sorted((data.get("notebooks") or {}).items()):
        if not (Path(srcdir) / GENERATED / f"{name}.ipynb").exists():
            continue
        rows.append({"name": name, "profile": str(entry.get("profile", "?")),
                     "seconds": float(entry.get("seconds", float("nan"))),
                     "executed_at": str(entry.get("executed_at", "")).replace("T", " ").replace("+00:00", " UTC")})
    return rows


def _table(header: list[str], body: list[list[nodes.Node]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)
    head = nodes.thead()
    row = nodes.row()
    for h in header:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    group += head
    tbody = nodes.tbody()
    for cells in body:
        row = nodes.row()
        for c in cells:
            row += nodes.entry("", c if isinstance(c, nodes.paragraph) else nodes.paragraph("", "", c))
        tbody += row
    group += tbody
    return table


class TimingsDirective(SphinxDirective):
    """The runner's manifest as a table (see the module docstring)."""

    has_content = False
    option_spec = {"only": directives.unchanged}

    def run(self):
        manifest = Path(self.env.srcdir) / GENERATED / "manifest.json"
        self.env.note_dependency(str(manifest))
        rows = read_timings(self.env.srcdir)
        only = (self.options.get("only") or "").split()
        if only:
            rows = [r for r in rows if r["name"] in only]
        if not rows:
            para = nodes.paragraph(text="No executed notebook found in the runner's manifest "
                                        f"({GENERATED.as_posix()}/manifest.json): run `python -m saeprobe.book run`.")
            return [para]
        body = []
        for r in rows:
            ref = addnodes.pending_xref("", nodes.literal(text=r["name"]), refdomain="std", reftype="doc",
                                        reftarget=f"/{GENERATED.as_posix()}/{r['name']}", refexplicit=True,
                                        refwarn=True, refdoc=self.env.docname)
            body.append([ref, nodes.Text(r["profile"]), nodes.Text(f"{r['seconds']:,.1f}"),
                         nodes.Text(f"{r['seconds'] / 60:,.1f}"), nodes.Text(r["executed_at"])])
        out = [_table(["notebook", "profile", "seconds", "minutes", "executed at"], body, ["saeprobe-timings"])]
        if not only:
            total = sum(r["seconds"] for r in rows)
            profiles = sorted({r["profile"] for r in rows})
            out.append(nodes.paragraph(text=f"{len(rows)} executed notebook{'s' if len(rows) > 1 else ''}, {total:,.0f} s ({total / 60:,.1f} min) "
                                            f"in all; profile{'s' if len(profiles) > 1 else ''} "
                                            f"{', '.join(profiles)}."))
        return out


def read_claims(srcdir: str | Path) -> list[dict]:
    """Rows of ``book/_generated/claims.csv`` (the claims page's table); [] when absent."""
    path = Path(srcdir) / GENERATED / "claims.csv"
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


class SummaryDirective(SphinxDirective):
    """The claims figure, its counted caption and the pages behind it (see the module docstring)."""

    has_content = False

    def run(self):
        gen = Path(self.env.srcdir) / GENERATED
        png = gen / "front_summary.png"
        for dep in (png, gen / "claims.csv"):
            self.env.note_dependency(str(dep))
        rows = read_claims(self.env.srcdir)
        if not rows or not png.exists():
            return [nodes.paragraph(text="The summary of every claim appears here once the claims page has been "
                                         "executed (python -m saeprobe.book run).")]
        kinds = ["reproduces", "partly", "does not"]
        kind = [r["verdict"] if r["verdict"] in kinds else "not run here" for r in rows]
        n = {k: kind.count(k) for k in kinds + ["not run here"]}
        profiles = sorted({r["profile"] for r in rows})
        here = Path(self.env.doc2path(self.env.docname)).parent
        rel = Path(os.path.relpath(png, here)).as_posix()
        docrel = Path(os.path.relpath(gen, here)).as_posix()
        caption = (f"Every claim of the three papers that this build tests ({len(rows)} claims, profile "
                   f"{', '.join(profiles)}): ✕ the paper's number, ● ours with its 95 % CI, coloured by the computed "
                   f"verdict. {n['reproduces']} reproduce, {n['partly']} partly, {n['does not']} do not, "
                   f"{n['not run here']} are not run here.")
        md = [f":::{{figure}} {rel}", ":name: fig-front-summary",
              ":alt: One row per claim, grouped by paper: a black cross at the paper's value and a coloured dot with "
              "a bar at our value and its 95 % confidence interval; the colour is the verdict.", "", caption, ":::", "",
              "The pages behind it:", ""]
        pages = {}
        for r, k in zip(rows, kind):
            pages.setdefault((r["paper"], r["page"]), []).append(k)
        for (paper, page), ks in sorted(pages.items(), key=lambda x: x[0][1]):
            counts = ", ".join(f"{k}: {ks.count(k)}" for k in kinds + ["not run here"] if ks.count(k))
            md.append(f"- {paper}: {{doc}}`{docrel}/{page}` — {counts}")
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(md, source="<saeprobe-summary>"), node)
        return node.children


def package_modules(package: str) -> list[str]:
    """``package`` and every module below it (sorted; ``__main__`` left out)."""
    pkg = import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


class ApiDirective(SphinxDirective):
    """An autosummary table of a package's modules, then each module's automodule (see the module docstring)."""

    required_arguments = 1
    has_content = False
    option_spec = {"no-submodules": directives.flag}

    def run(self):
        mods = [self.arguments[0]] if "no-submodules" in self.options else package_modules(self.arguments[0])
        for m in mods:  # rebuild the page when a module's source changes
            f = getattr(import_module(m), "__file__", None)
            if f:
                self.env.note_dependency(f)
        rst = [".. autosummary::", ""] + [f"   {m}" for m in mods] + [""]
        for m in mods:
            # a package's __all__ re-exports its submodules' members, documented there: only its own
            own = ["   :ignore-module-all:"] if hasattr(import_module(m), "__path__") else []
            rst += [f"``{m}``", "-" * (len(m) + 4), "", f".. automodule:: {m}", "   :members:", *own, ""]
        # the pages are MyST: nested content is parsed as Markdown, so hand the reST to eval-rst
        lines = ["```{eval-rst}", *rst, "```"] if str(self.env.doc2path(self.env.docname)).endswith(".md") else rst
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=f"<saeprobe-api {self.arguments[0]}>"), node)
        return node.children


def _skip_foreign(app, what, name, obj, skip, options):
    """Leave out members another library put on our classes (e.g. scikit-learn's generated
    ``set_fit_request``): their docstrings point into that library's own documentation."""
    mod = getattr(getattr(obj, "__func__", obj), "__module__", None)
    if what == "class" and isinstance(mod, str) and not mod.startswith("saeprobe"):
        return True
    return None


def _resolve_reexport(app, env, node, contnode):
    """A reference to a re-exported name (``saeprobe.saes.SAESpec``) resolves to where it is defined
    and documented (``saeprobe.saes.specs.SAESpec``)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("saeprobe."):
        return None
    mod, _, name = target.rpartition(".")
    try:
        obj = getattr(import_module(mod), name)
    except Exception:  # not a module attribute: let Sphinx report it
        return None
    real = getattr(obj, "__module__", None)
    if not isinstance(real, str) or real == mod or not real.startswith("saeprobe"):
        return None
    new = f"{real}.{getattr(obj, '__qualname__', name)}"
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"], new, node, contnode)


_DOWNLOAD = re.compile(r'(<a href="[^"]+\.ipynb")(\s+target="_blank"\s+class="[^"]*btn-download-source-button)')


def _download_attribute(app, exc):
    """Give every notebook page's download link (sphinx-book-theme's ``.ipynb`` button) the
    ``download`` attribute: served over http the executed notebook is saved as a file; opened from
    ``file://`` (where browsers ignore the attribute) it opens in a new tab, from which it can be saved."""
    if exc is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _DOWNLOAD.sub(r"\1 download\2", text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("build-finished", _download_attribute)
    app.connect("missing-reference", _resolve_reexport)
    app.add_directive("saeprobe-timings", TimingsDirective)
    app.add_directive("saeprobe-api", ApiDirective)
    app.add_directive("saeprobe-summary", SummaryDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
