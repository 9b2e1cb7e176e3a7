"""The notebook runner (`python -m saeprobe.book run`): failures are loud, unchanged notebooks skipped.

Each test builds a throw-away repository (``_toc.yml`` + ``notebooks/``) in a temp folder and drives
the real command line, with real papermill and a real kernel (a few seconds per kernel start).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from saeprobe import book

OK = '''# %% [markdown]
# # A notebook that works

# %% tags=["parameters"]
profile = "cpu"
extra = 0

# %%
import sys
print("PROFILE", profile, "EXTRA", extra, "PYTHON", sys.executable)
'''

BROKEN = '''# %% [markdown]
# # A notebook with a deliberately failing cell

# %% tags=["parameters"]
profile = "cpu"

# %%
x = 1

# %%
y = x / 0  # deliberately fails
'''


def _repo(tmp_path: Path, **notebooks: str) -> Path:
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "notebooks").mkdir()
    for name, text in notebooks.items():
        (tmp_path / "notebooks" / f"{name}.py").write_text(text)
    return tmp_path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saeprobe.book", "--root", str(root), "run", "--profile", "smoke", *args],
        capture_output=True, text=True, timeout=600,
    )


def _outputs(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))


def test_failing_cell_fails_loudly(tmp_path):
    root = _repo(tmp_path, **{"00_ok": OK, "10_broken": BROKEN})
    res = _run(root)
    msg = res.stdout + res.stderr
    assert res.returncode != 0, msg
    assert "FAILED" in res.stderr and "10_broken.py" in res.stderr, msg
    # names the cell: the third code cell of the source, at its line in the .py, and the error
    assert "code cell 3" in res.stderr, msg
    assert "notebooks/10_broken.py:11" in res.stderr, msg
    assert "y = x / 0" in res.stderr and "ZeroDivisionError" in res.stderr, msg
    assert "Traceback" not in res.stderr, "a one-paragraph message, not a Python traceback"
    # the good notebook ran and is recorded; the broken one is not, and leaves only a FAILED copy
    gen = root / "book" / "_generated"
    manifest = json.loads((gen / "manifest.json").read_text())
    assert "00_ok" in manifest["notebooks"] and "10_broken" not in manifest["notebooks"]
    assert (gen / "00_ok.ipynb").exists() and not (gen / "10_broken.ipynb").exists()
    assert (gen / "10_broken.FAILED.ipynb").exists()
    assert not list(gen.glob(".*.ipynb")), "temp files left behind"


def test_unchanged_notebook_is_skipped(tmp_path):
    root = _repo(tmp_path, **{"00_ok": OK})
    out = root / "book" / "_generated" / "00_ok.ipynb"

    first = _run(root, "-p", "extra", "7")
    assert first.returncode == 0, first.stderr
    assert "executing" in first.stdout
    text = _outputs(out)
    assert "PROFILE smoke EXTRA 7" in text  # papermill injected both parameters
    assert f"PYTHON {sys.executable}" in text  # the kernel runs this venv's interpreter
    nb = json.loads(out.read_text())
    assert any("profile **`smoke`**" in "".join(c["source"]) for c in nb["cells"]), "profile note missing"
    # the parameters once: papermill's injected cell kept but not rendered; the source's shows what ran
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]
    params = [c for c in nb["cells"] if c["metadata"].get("tags", []) == ["parameters"]]
    assert len(params) == 1
    shown = "".join(params[0]["source"])
    assert shown.startswith(book.PARAMETERS_LABEL), shown
    assert "profile = \"smoke\"" in shown and "extra = 7" in shown and "cpu" not in shown, shown
    assert [c for c in nb["cells"] if "remove-cell" not in c["metadata"].get("tags", []) and "profile =" in "".join(c["source"])] == params
    manifest = json.loads((root / "book" / "_generated" / "manifest.json").read_text())
    entry = manifest["notebooks"]["00_ok"]
    assert entry["profile"] == "smoke" and entry["parameters"] == {"extra": 7}
    mtime = out.stat().st_mtime_ns

    second = _run(root, "-p", "extra", "7")
    assert second.returncode == 0, second.stderr
    assert "unchanged" in second.stdout and "executing" not in second.stdout
    assert out.stat().st_mtime_ns == mtime

    # a changed parameter re-executes
    third = _run(root, "-p", "extra", "8")
    assert "executing" in third.stdout and "EXTRA 8" in _outputs(out)

    # so does an edited source (and the manifest key changes)
    (root / "notebooks" / "00_ok.py").write_text(OK + "\nprint('edited')\n")
    fourth = _run(root, "-p", "extra", "8")
    assert "executing" in fourth.stdout and "edited" in _outputs(out)


def test_plan_key_depends_on_profile_and_parameters(tmp_path):
    root = _repo(tmp_path, **{"00_ok": OK})
    src = root / "notebooks" / "00_ok.py"
    a = book.plan_for(root, src, "smoke", {})
    assert a.key == book.plan_for(root, src, "smoke", {}).key
    assert a.key != book.plan_for(root, src, "cpu", {}).key
    assert a.key != book.plan_for(root, src, "smoke", {"x": 1}).key
    assert a.output == root / "book" / "_generated" / "00_ok.ipynb"  # profile-independent path
    assert a.inputs["packages"] == ""  # imports nothing of saeprobe: no package source counts


P1_NB = '''# %% [markdown]
# # Uses P1

# %% tags=["parameters"]
profile = "cpu"

# %%
from saeprobe.p1 import quiver
print("P1 page")
'''

P3_NB = P1_NB.replace("saeprobe.p1 import quiver", "saeprobe import p3").replace("P1 page", "P3 page")


def test_imported_packages_are_read_from_the_source():
    assert book.imported_packages("from saeprobe.p1 import quiver\nimport numpy") == {"p1"}
    assert book.imported_packages("from saeprobe import load_profile, saes") == {"", "saes"}
    assert book.imported_packages("    import saeprobe.core.stats as s\nfrom saeprobex import y") == {"core"}
    graph = book.package_graph()
    assert "p3" not in graph["p1"] and "p1" not in graph["p3"] and graph["saes"] <= {"", "core"}


def test_only_pages_whose_packages_changed_rerun(tmp_path):
    """Editing P3's code reruns the P3 page, not the P1 page; editing core reruns both. Runs the real
    command line against a copy of the saeprobe sources (PYTHONPATH), so the edits stay in tmp."""
    import os
    import shutil

    src = tmp_path / "src"
    shutil.copytree(book.PACKAGE_DIR, src / "saeprobe", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "repo").mkdir()
    root = _repo(tmp_path / "repo", **{"10_p1": P1_NB, "40_p3": P3_NB})
    env = {**os.environ, "PYTHONPATH": str(src)}

    def run():
        res = subprocess.run([sys.executable, "-m", "saeprobe.book", "--root", str(root), "run", "--profile", "smoke"],
                             capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)  # not the repo: -m puts cwd first
        assert res.returncode == 0, res.stdout + res.stderr
        return {ln.split("] ", 1)[1].split(":")[0] for ln in res.stdout.splitlines() if "executing" in ln}

    assert run() == {"10_p1", "40_p3"}
    manifest = json.loads((root / "book" / "_generated" / "manifest.json").read_text())
    assert "p3" not in manifest["notebooks"]["10_p1"]["inputs"]["packages"].split(",")
    assert {"core", "p1", "saes"} <= set(manifest["notebooks"]["10_p1"]["inputs"]["packages"].split(","))
    assert run() == set()
    p3_file = sorted((src / "saeprobe" / "p3").glob("*.py"))[-1]
    p3_file.write_text(p3_file.read_text() + "\n# an edit\n")
    assert run() == {"40_p3"}
    stats = src / "saeprobe" / "core" / "stats.py"
    stats.write_text(stats.read_text() + "\n# an edit\n")
    assert run() == {"10_p1", "40_p3"}


def test_bad_input_is_one_line(tmp_path):
    root = _repo(tmp_path, **{"00_ok": OK})
    res = subprocess.run([sys.executable, "-m", "saeprobe.book", "--root", str(root), "run",
                          "--profile", "nope"], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "unknown profile 'nope'" in res.stderr and "Traceback" not in res.stderr
    res = _run(root, "--only", "99_missing")
    assert res.returncode != 0 and "no notebook '99_missing'" in res.stderr
    with pytest.raises(SystemExit):
        book.select(book.list_notebooks(root), ["zz"])
    assert [p.stem for p in book.select(book.list_notebooks(root), ["00"])] == ["00_ok"]


def test_outputs_of_deleted_notebooks_are_pruned(tmp_path):
    root = _repo(tmp_path, **{"00_ok": OK, "01_gone": OK})
    assert _run(root).returncode == 0
    gen = root / "book" / "_generated"
    assert (gen / "01_gone.ipynb").exists()
    (root / "notebooks" / "01_gone.py").unlink()
    res = _run(root)
    assert res.returncode == 0 and "unchanged" in res.stdout, res.stderr
    assert not (gen / "01_gone.ipynb").exists(), "stale page would stay in the book"
    assert "01_gone" not in json.loads((gen / "manifest.json").read_text())["notebooks"]


def test_variants_run_one_source_with_fixed_parameters(tmp_path):
    """notebooks/variants.yaml: one source, executed again under another name with other parameters
    and its own page title; a bad variant is a one-line error."""
    root = _repo(tmp_path, **{"00_ok": OK})
    (root / "notebooks" / "variants.yaml").write_text(
        "01_seven:\n  source: 00_ok.py\n  parameters: {extra: 7}\n  title: Seven\n")
    assert [e.name for e in book.list_entries(root)] == ["00_ok", "01_seven"]
    res = _run(root)
    assert res.returncode == 0, res.stderr
    gen = root / "book" / "_generated"
    assert "EXTRA 0" in _outputs(gen / "00_ok.ipynb") and "EXTRA 7" in _outputs(gen / "01_seven.ipynb")
    cells = json.loads((gen / "01_seven.ipynb").read_text())["cells"]
    assert "".join(cells[0]["source"]).startswith("# Seven")
    assert "unchanged" in _run(root, "--only", "01_seven").stdout  # hashed like any notebook
    (root / "notebooks" / "variants.yaml").write_text("01_bad:\n  source: 00_missing.py\n")
    bad = _run(root)
    assert bad.returncode != 0 and "00_missing.py does not exist" in bad.stderr and "Traceback" not in bad.stderr
    (root / "notebooks" / "variants.yaml").write_text("00_ok:\n  source: 00_ok.py\n")
    assert "new NN_name" in _run(root).stderr


def test_progress_bars_off_in_rendered_pages(monkeypatch):
    """The runner sets TQDM_DISABLE=1 for its kernels; saeprobe's bars honour it even when a caller
    asks for progress (an explicit disable=False would override tqdm's own reading of it)."""
    from saeprobe.core.config import no_bar

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert no_bar(True) is False and no_bar(False) is True
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert no_bar(True) is True
