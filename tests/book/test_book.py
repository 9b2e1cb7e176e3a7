"""The book, end to end: every notebook on the smoke profile, the strict build, then a headless browser.

One session-scoped fixture copies the book sources (``_config.yml``, ``_toc.yml``, ``book/*.md``,
``notebooks/``) into ``.cache/booktest/`` (so a developer's own ``book/_generated`` and ``_build`` from
``make book`` are left alone; the manifest there makes a second test run skip unchanged notebooks),
runs ``python -m saeprobe.book run --profile smoke`` and the strict ``build``, and serves the HTML
on a loopback ``http.server``. Pages are then opened in Debian's Chromium through Playwright (no
``playwright install``): no console errors, every image loads, math is rendered by the local MathJax,
glued numbers are present, internal links resolve, and no request leaves localhost.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

from saeprobe import book

pytestmark = pytest.mark.book

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".cache" / "booktest"
CHROMIUM = os.environ.get("SAEPROBE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIP_PAGES = {"genindex.html", "search.html", "index.html"}  # index.html is JB's redirect


def _sync_sources() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, WORK / name)
    # book/ (pages, extension, favicon) anew, keeping only the executed notebooks + manifest
    (WORK / "book").mkdir(exist_ok=True)
    for old in (WORK / "book").iterdir():
        if old.name != "_generated":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copytree(REPO / "book", WORK / "book", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    # the measured benchmark curves the SAE chapter plots (benchmarks/measured/*.csv: data, not code)
    shutil.rmtree(WORK / "benchmarks", ignore_errors=True)
    if (REPO / "benchmarks" / "measured").is_dir():
        shutil.copytree(REPO / "benchmarks" / "measured", WORK / "benchmarks" / "measured")
    shutil.rmtree(WORK / "notebooks", ignore_errors=True)
    shutil.copytree(REPO / "notebooks", WORK / "notebooks", ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    # developer knob: SAEPROBE_BOOKTEST_ONLY=00_datasets,01_activations checks a book of just those
    only = [n.strip() for n in os.environ.get("SAEPROBE_BOOKTEST_ONLY", "").split(",") if n.strip()]
    if only:
        keep = {e.name: e for e in book.list_entries(WORK) if e.name in only}
        sources = {e.source.name for e in keep.values()}
        for nb in (WORK / "notebooks").glob("*.py"):
            if nb.stem not in only and nb.name not in sources:
                nb.unlink()
        variants = WORK / book.VARIANTS
        if variants.exists():
            spec = yaml.safe_load(variants.read_text()) or {}
            variants.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k in keep}))
    # executed outputs of notebooks that no longer exist must not reach the book
    gen = WORK / "book" / "_generated"
    names = {e.name for e in book.list_entries(WORK)}
    if gen.exists():
        for nb in gen.glob("*.ipynb"):
            if nb.stem not in names:
                nb.unlink()
    # the locally installed MathJax (make mathjax) is reached through .cache/mathjax like in the repo
    link = WORK / ".cache" / "mathjax"
    link.parent.mkdir(exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO / ".cache" / "mathjax", target_is_directory=True)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Run every notebook on the smoke profile and build the book strictly; returns _build/html."""
    if not (REPO / ".cache" / "mathjax" / "site" / "mathjax" / "tex-svg.js").exists():
        pytest.fail("local MathJax missing: run `make mathjax` (make test does it)")
    _sync_sources()
    cmd = [sys.executable, "-m", "saeprobe.book", "--root", str(WORK)]
    run = subprocess.run(cmd + ["run", "--profile", "smoke"], capture_output=True, text=True)
    assert run.returncode == 0, f"notebooks failed on the smoke profile:\n{run.stdout}\n{run.stderr}"
    build = subprocess.run(cmd + ["build"], capture_output=True, text=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", build.stdout + build.stderr)
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln and "TCP without" not in ln]
    assert build.returncode == 0, "strict book build failed:\n" + "\n".join(warnings or log.splitlines()[-40:])
    return WORK / "_build" / "html"


@pytest.fixture(scope="session")
def server(built_book):
    """Serve _build/html on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (make test installs Debian chromium when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:  # Playwright gives the browser a fresh temporary profile itself
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def _pages(html: Path) -> list[str]:
    pages = []
    for p in sorted(html.rglob("*.html")):
        rel = p.relative_to(html).as_posix()
        if rel.split("/")[0] in ("_static", "_sources", "mathjax", "_images") or rel in SKIP_PAGES:
            continue
        pages.append(rel)
    return pages


# JS run in the page after load: raw TeX left outside code, MathJax output, images, glue, links.
_INSPECT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight, textarea').forEach(e => e.remove());
  const text = clone.textContent;
  const imgs = Array.from(document.images).map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}));
  return {
    rawTex: (text.match(/\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\s][^$]*\$/g) || []).slice(0, 5),
    mathNodes: document.querySelectorAll('.math, span.math, div.math').length,
    mjx: document.querySelectorAll('mjx-container').length,
    mathjaxLoaded: !!(window.MathJax && MathJax.version),
    imgs: imgs,
    pasted: Array.from(document.querySelectorAll('.pasted-text, .pasted-inline')).map(e => e.textContent.trim()),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
    text: main.innerText,
  };
}
"""


# JS run in the page after load: the layout checks of the reading issue (issue 20). The content
# column is the article; an element may be wider than the column only inside a scroll container
# (overflow-x auto/scroll/hidden), which then must fit. Figures: caption + alt text; images outside a
# <figure> are uncaptioned figures. The verdict box and its figure: their tops in page pixels.
_LAYOUT = r"""
() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main');
  const cr = col.getBoundingClientRect();
  const scrolls = el => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX);
  const inside = el => { for (let q = el.parentElement; q && q !== col; q = q.parentElement) { if (scrolls(q)) return true; } return false; };
  const wide = [];
  for (const el of col.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || inside(el)) continue;
    if (r.right > cr.right + 2 || r.left < cr.left - 2) {
      const name = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
      wide.push(name + ' +' + Math.round(Math.max(r.right - cr.right, cr.left - r.left)) + 'px: ' + (el.textContent || '').trim().slice(0, 60));
    }
  }
  const figs = Array.from(col.querySelectorAll('figure')).map(f => {
    const img = f.querySelector('img');
    const cap = f.querySelector('figcaption');
    return {caption: cap ? cap.textContent.trim() : '', alt: img ? (img.getAttribute('alt') || '') : '(no img)',
            src: img ? img.getAttribute('src') : ''};
  });
  const loose = Array.from(col.querySelectorAll('img')).filter(i => !i.closest('figure')).map(i => i.getAttribute('src'));
  const box = col.querySelector('div.admonition.sp-verdict');
  const top = el => el ? el.getBoundingClientRect().top + window.scrollY : null;
  const codes = Array.from(col.querySelectorAll('div.cell_input pre')).map(e => e.textContent);
  return {wide: wide.slice(0, 8), nWide: wide.length, figs: figs, looseImgs: loose,
          boxTop: top(box), boxFigTop: top(box ? box.querySelector('figure') : null),
          boxText: box ? box.innerText : '', injected: col.querySelectorAll('.tag_injected-parameters').length,
          paramCells: codes.filter(c => /^# Parameters/.test(c)).map(c => c.split('\n')[0]),
          height: document.documentElement.scrollHeight};
}
"""


@pytest.fixture(scope="session")
def visited(built_book, server, browser):
    """Open every page once; returns {page: report} with console errors and off-host requests."""
    html = built_book
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the reading issue's screen
    host = urlparse(server).netloc
    report = {}

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob", "about") or (u.scheme == "http" and u.netloc == host):
            r.continue_()
        else:
            current["offhost"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    shots = html.parent / "screenshots"
    (shots / "first_screen").mkdir(parents=True, exist_ok=True)
    for rel in _pages(html):
        current = {"console": [], "offhost": [], "bad": []}
        page = context.new_page()
        page.on("console", lambda m, c=current: c["console"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, c=current: c["console"].append(f"pageerror: {e}"))
        page.on("response", lambda r, c=current: c["bad"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r, c=current: c["bad"].append(f"failed {r.url}")
                if urlparse(r.url).netloc == host else None)
        page.goto(urljoin(server, rel), wait_until="load")
        page.wait_for_load_state("networkidle")
        info = page.evaluate(_INSPECT)
        layout = page.evaluate(_LAYOUT)
        page.screenshot(path=str(shots / "first_screen" / (Path(rel).stem + ".png")))  # what a reader sees first
        page.screenshot(path=str(shots / (Path(rel).stem + ".png")), full_page=True)  # every page, to look at
        report[rel] = {**current, **info, "layout": layout}
        page.close()
    context.close()
    heights = "page,height_px\n" + "".join(f"{p},{r['layout']['height']}\n" for p, r in sorted(report.items()))
    (shots / "heights.csv").write_text(heights)  # page heights at 1280 px, kept with the screenshots
    return report


def test_book_builds_all_notebooks(built_book):
    pages = _pages(built_book)
    entries = book.list_entries(WORK)  # the copy that was built: sources and their variants
    assert len(entries) >= len(list((WORK / "notebooks").glob("[0-9][0-9]_*.py")))
    for e in entries:
        assert f"book/_generated/{e.name}.html" in pages, f"{e.name} ({e.source.name}) is not in the book"
    assert "book/intro.html" in pages and "book/reproduce.html" in pages
    assert (built_book / "mathjax" / "tex-svg.js").exists(), "MathJax not copied into the build"


def test_pages_load_without_errors(visited):
    assert len(visited) >= 7
    problems = {p: r["console"] + r["bad"] for p, r in visited.items() if r["console"] or r["bad"]}
    assert not problems, problems


def test_no_request_leaves_localhost(visited):
    offhost = {p: r["offhost"] for p, r in visited.items() if r["offhost"]}
    assert not offhost, offhost


def test_images_load(visited):
    broken = {p: [i["src"] for i in r["imgs"] if not i["ok"]] for p, r in visited.items()}
    broken = {p: b for p, b in broken.items() if b}
    assert not broken, broken
    for nb in ("00_datasets", "01_activations"):
        figures = [i for i in visited[f"book/_generated/{nb}.html"]["imgs"] if "_images/" in i["src"]]
        assert len(figures) >= 2, f"{nb}: expected figures, got {figures}"


def test_math_renders(visited):
    with_math = {p: r for p, r in visited.items() if r["mathNodes"]}
    assert "book/intro.html" in with_math and "book/p3.html" in with_math
    for page, r in with_math.items():
        assert r["mathjaxLoaded"], f"{page}: MathJax did not load"
        assert r["mjx"] >= r["mathNodes"], f"{page}: {r['mjx']} rendered of {r['mathNodes']} math nodes"
    raw = {p: r["rawTex"] for p, r in visited.items() if r["rawTex"]}
    assert not raw, f"raw TeX left on pages: {raw}"


def test_glued_numbers_present(visited):
    intro = visited["book/intro.html"]
    assert intro["pasted"][:1] == ["smoke"], f"the intro names the profile: {intro['pasted']}"
    numbers = intro["pasted"][1:]
    assert len(numbers) >= 3 and all(re.fullmatch(r"[\d,.]+", t) for t in numbers), numbers
    assert int(numbers[0]) == 113, "P1 ships 113 binary datasets"
    for nb in ("book/_generated/00_datasets.html", "book/_generated/01_activations.html"):
        pasted = visited[nb]["pasted"]
        assert pasted and all(t for t in pasted), f"{nb}: glue missing {pasted}"
        assert "executed with profile smoke" in visited[nb]["text"].replace("`", "").replace("\n", " ") \
            or "profile smoke" in visited[nb]["text"], f"{nb}: profile note missing"


def test_internal_links_resolve(visited, built_book):
    missing = set()
    for page, r in visited.items():
        base = built_book / page
        for href in r["links"]:
            u = urlparse(href)
            if u.scheme or href.startswith(("#", "mailto:", "javascript:")):
                continue
            target = (base.parent / unquote(u.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                missing.add(f"{page} -> {href}")
    assert not missing, sorted(missing)


def test_no_progress_bar_text_in_pages(visited):
    """tqdm output (e.g. ``13/13 [00:00<00:00, 23.4it/s]``) must not be rendered into the pages."""
    bar = re.compile(r"\d+/\d+ \[\d\d:\d\d<|\d+(\.\d+)?(it|s)/(s|it)\]")
    for rel, info in visited.items():
        assert not bar.search(info["text"]), f"{rel}: progress-bar text rendered: {bar.search(info['text'])[0]!r}"


# ------------------------------------------------------------------ course track and reference pages
def test_lab_page_has_checkpoints_and_exercises(visited, built_book):
    lab = visited["book/_generated/50_lab.html"]
    assert lab["text"].count("Checkpoint") >= 4, "the lab's checkpoint boxes are missing"
    assert lab["pasted"] and all(lab["pasted"]), f"lab glue missing: {lab['pasted']}"
    html = (built_book / "book" / "_generated" / "50_lab.html").read_text()
    n_ex = html.count('class="exercise admonition"')
    assert n_ex >= 5, f"sphinx-exercise boxes missing on the lab page ({n_ex})"
    assert html.count('class="solution dropdown admonition"') == n_ex, "every exercise has a folded solution"


def test_api_page_lists_known_functions(visited, built_book):
    page = visited["book/api/p1.html"]
    assert "fit_probe" in page["text"] and "TextProbe" in page["text"]
    html = (built_book / "book" / "api" / "p1.html").read_text()
    assert 'id="saeprobe.p1.texts.fit_probe"' in html, "autodoc did not document saeprobe.p1.texts.fit_probe"
    core = (built_book / "book" / "api" / "core.html").read_text()
    assert 'id="saeprobe.core.activations.text_activations"' in core


def test_timings_page_has_one_row_per_executed_notebook(built_book):
    html = (built_book / "book" / "timings.html").read_text()
    table = re.search(r'<table[^>]*saeprobe-timings.*?</table>', html, re.S)
    assert table, "the timings table is missing"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0).split("<tbody>")[1], re.S)
    executed = [e.name for e in book.list_entries(WORK) if (WORK / "book" / "_generated" / f"{e.name}.ipynb").exists()]
    assert len(rows) == len(executed), (len(rows), executed)
    for name, row in zip(executed, rows):
        assert name in row and "smoke" in row, row


def test_bibliography_resolves(visited, built_book):
    bib = visited["book/bibliography.html"]
    for title in ("Are Sparse Autoencoders Useful?", "Sparse Autoencoders Trained on the Same Data",
                  "Sparse Autoencoder Features for Classifications"):
        assert title.lower() in bib["text"].replace("\n", " ").lower(), title  # the style sentence-cases titles
    for page in ("book/intro.html", "book/p1.html", "book/p2.html", "book/p3.html"):
        cites = [h for h in visited[page]["links"] if "bibliography.html#" in h]
        assert cites, f"{page} cites nothing"
        ids = set(re.findall(r'id="([^"]+)"', (built_book / "book" / "bibliography.html").read_text()))
        assert all(h.split("#", 1)[1] in ids for h in cites), cites


def test_download_button_for_every_executed_notebook(built_book, server, browser):
    """Every notebook page links its executed .ipynb (in _sources/); served, the button downloads it;
    from file:// the browser opens it in a new tab (file pages ignore the download attribute)."""
    import json

    for e in book.list_entries(WORK):
        html = (built_book / "book" / "_generated" / f"{e.name}.html").read_text()
        m = re.search(r'<a href="([^"]+\.ipynb)" download\s+target="_blank"\s+class="[^"]*btn-download-source-button', html)
        assert m, f"{e.name}: no download link"
        target = (built_book / "book" / "_generated" / m.group(1)).resolve()
        assert json.loads(target.read_text())["cells"], f"{e.name}: {target} is not an executed notebook"
    page_rel = "book/_generated/50_lab.html"
    for url in (urljoin(server, page_rel), (built_book / page_rel).resolve().as_uri()):
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=120_000)
        page.click("button[aria-label='Download this page']")
        got = {}
        page.on("download", lambda d: got.setdefault("download", d))
        context.on("page", lambda p: got.setdefault("tab", p))
        page.click("a.btn-download-source-button")
        page.wait_for_timeout(3000)
        if url.startswith("http"):
            assert "download" in got and got["download"].suggested_filename == "50_lab.ipynb", got
            assert json.loads(Path(got["download"].path()).read_text())["cells"]
        else:
            assert "tab" in got, got
            got["tab"].wait_for_load_state()
            assert json.loads(got["tab"].evaluate("document.body.innerText"))["cells"]
        context.close()

def test_claims_csv_has_a_row_per_claim_of_the_pages_that_ran(built_book):
    """claims.csv (assembled by 99_claims): one row per fragment the smoke pages recorded, from pages
    that are in this book; every page that calls record_claim contributed."""
    import pandas as pd

    from saeprobe.core import claims

    gen = WORK / "book" / "_generated"
    table = pd.read_csv(gen / "claims.csv")
    assert list(table.columns) == list(claims.COLUMNS)
    frags = [f for f in claims.read_fragments(gen / "claims") if f["profile"] == "smoke"]
    assert sorted(table["id"]) == sorted(f["id"] for f in frags) and len(table) == len(set(table["id"]))
    entries = {e.name: e for e in book.list_entries(WORK)}
    assert set(table["page"]) <= set(entries)
    recording = {n for n, e in entries.items() if "record_claim(" in e.source.read_text() and n != book.plan.CLAIMS_PAGE}
    assert recording and recording <= set(table["page"]), recording - set(table["page"])
    ok = table["verdict"].isin(claims.VERDICTS[:3]) | table["verdict"].str.startswith(claims.NOT_RUN)
    assert ok.all(), table.loc[~ok, ["id", "verdict"]]


def test_code_solutions_ran(built_book):
    """Cells tagged `solution` were executed with their page, without an error output."""
    import nbformat

    n = 0
    for e in book.list_entries(WORK):
        nb = nbformat.read(WORK / "book" / "_generated" / f"{e.name}.ipynb", as_version=4)
        for c in nb.cells:
            if c.cell_type == "code" and "solution" in c.metadata.get("tags", []):
                n += 1
                assert c.execution_count is not None, f"{e.name}: solution cell not executed: {c.source[:60]!r}"
                assert not [o for o in c.outputs if o.output_type == "error"], f"{e.name}: solution failed"
    assert n >= 10


def test_claims_page_and_exercises_render(visited):
    claims_page = visited.get("book/_generated/99_claims.html")
    assert claims_page, "the claims page is not in the book"
    assert any("_images/" in i["src"] for i in claims_page["imgs"]), "the claims figure is missing"
    assert "reproduces" in claims_page["text"] or "does not" in claims_page["text"] or "partly" in claims_page["text"]
    ex = visited["book/_generated/10_standard.html"]["text"]
    assert "Exercise" in ex and "Solution" in ex


# ------------------------------------------------------------------ reading: the page-layout checks
EXPERIMENT = re.compile(r"book/_generated/[1-4]\d_[^/]+\.html$")  # P1 (1x), our SAEs (2x), P2 (3x), P3 (4x)


def test_nothing_runs_past_the_content_column(visited):
    """Tables, code and figures fit the column or sit in a scroll box (issue 20)."""
    wide = {p: r["layout"]["wide"] for p, r in visited.items() if r["layout"]["nWide"]}
    assert not wide, wide


def test_parameters_shown_once_and_injected_cell_absent(visited):
    for page, r in visited.items():
        lay = r["layout"]
        assert lay["injected"] == 0, f"{page}: papermill's injected-parameters cell is rendered"
        assert all(c == "# Parameters of this run" for c in lay["paramCells"]), (page, lay["paramCells"])
        if page.startswith("book/_generated/"):
            assert len(lay["paramCells"]) == 1, f"{page}: parameters shown {len(lay['paramCells'])} times"


def test_every_figure_has_a_caption_and_alt_text(visited):
    bad = {}
    for page, r in visited.items():
        lay = r["layout"]
        probs = [f"uncaptioned image {src}" for src in lay["looseImgs"] if not src.startswith(("_static/", "../_static/", "../../_static/"))]  # theme icons
        for f in lay["figs"]:
            if not f["caption"]:
                probs.append(f"no caption: {f['src']}")
            alt = f["alt"].strip()
            if not alt or alt == "(no img)" or alt.endswith((".png", ".svg", ".jpg")) or "/" in alt:
                probs.append(f"no alt text: {f['src']} (alt {alt!r})")
        if probs:
            bad[page] = probs
    assert not bad, bad


def test_experiment_pages_open_with_the_verdict_box(visited):
    """The box (paper's claim, our number with CI, computed verdict) within the first 900 px, and its key
    figure beside it when the page has one."""
    pages = [p for p in visited if EXPERIMENT.search(p)]
    assert len(pages) >= 10, pages
    late = {}
    for page in pages:
        lay = visited[page]["layout"]
        if lay["boxTop"] is None:
            late[page] = "no verdict box"
        elif lay["boxTop"] > 900 - 150:
            late[page] = f"box starts at {lay['boxTop']:.0f} px"
        elif lay["boxFigTop"] is not None and lay["boxFigTop"] > 900 - 200:
            late[page] = f"key figure starts at {lay['boxFigTop']:.0f} px"
        elif not lay["boxText"].strip():
            late[page] = "empty box"
    assert not late, late
