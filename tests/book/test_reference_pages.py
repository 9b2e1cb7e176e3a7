"""The reference pages' machinery without building the book: the timings table reads the runner's
manifest, the API directive finds every module, CITATION.cff and the bibliography name the papers,
and the pages cite them."""
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "book" / "_ext"))
import saeprobe_pages  # noqa: E402

KEYS = {"kantamneni2025sae": "book/p1.md", "paulo2025seeds": "book/p2.md", "gallifant2025mosaic": "book/p3.md"}


def test_timings_rows_are_the_executed_notebooks(tmp_path):
    gen = tmp_path / "book" / "_generated"
    gen.mkdir(parents=True)
    manifest = {"notebooks": {
        "00_datasets": {"profile": "smoke", "seconds": 5.25, "executed_at": "2026-12-02T01:00:00+00:00"},
        "50_lab": {"profile": "cpu", "seconds": 771.4, "executed_at": "2026-12-02T02:00:00+00:00"},
        "99_gone": {"profile": "cpu", "seconds": 1.0},  # no executed notebook: not in the book, not in the table
    }}
    (gen / "manifest.json").write_text(json.dumps(manifest))
    for name in ("00_datasets", "50_lab"):
        (gen / f"{name}.ipynb").write_text("{}")
    rows = saeprobe_pages.read_timings(tmp_path)
    assert [r["name"] for r in rows] == ["00_datasets", "50_lab"]
    assert rows[1] == {"name": "50_lab", "profile": "cpu", "seconds": 771.4, "executed_at": "2026-12-02 02:00:00 UTC"}
    assert saeprobe_pages.read_timings(tmp_path / "nowhere") == []


def test_api_directive_finds_every_module():
    mods = saeprobe_pages.package_modules("saeprobe")
    on_disk = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
               for p in (REPO / "saeprobe").rglob("*.py") if "__pycache__" not in p.parts and p.stem != "__main__"}
    assert set(mods) == on_disk
    assert "saeprobe.p1.texts" in mods and "saeprobe.core.activations" in mods
    pages = {p.stem for p in (REPO / "book" / "api").glob("*.md")}
    assert pages == {"core", "saes", "show", "p1", "p2", "p3", "book"}, "one API page per subpackage"


def test_citation_cff_and_bibliography_name_the_three_papers():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"] and cff["authors"] and cff["license"] == "Apache-2.0"
    ids = {i["value"] for r in cff["references"] for i in r["identifiers"]}
    assert ids == {"arXiv:2502.16681", "arXiv:2501.16615", "arXiv:2502.11367"}
    bib = (REPO / "book" / "references.bib").read_text()
    for key, page in KEYS.items():
        assert re.search(r"@\w+\{" + key + ",", bib), key
        assert f"{{cite:p}}`{key}`" in (REPO / page).read_text(), f"{page} does not cite {key}"
        assert f"`{key}`" in (REPO / "book" / "intro.md").read_text(), f"the intro does not cite {key}"
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]


def test_every_module_imports_without_loading_a_model():
    """autodoc imports every module for the API pages: none may load the model at import."""
    import importlib

    from saeprobe.core import models

    for m in saeprobe_pages.package_modules("saeprobe"):
        importlib.import_module(m)
    assert not models._MODEL_CACHE, "a module loaded the model at import time"
