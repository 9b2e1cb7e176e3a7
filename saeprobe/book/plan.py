"""What the runner executes and when: notebook sources and variants, what each depends on (its
text, the profile, its parameters, the saeprobe subpackages it imports -- transitively), and the
manifest ``book/_generated/manifest.json`` that records it."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from saeprobe.core import claims
from saeprobe.core.cache import atomic_write_text

PACKAGE_DIR = Path(__file__).resolve().parent.parent
GENERATED = Path("book") / "_generated"
MANIFEST = "manifest.json"
NOTEBOOK_RE = re.compile(r"^\d\d_[A-Za-z0-9_\-]+\.py$")
VARIANTS = Path("notebooks") / "variants.yaml"
#: The claims page: executed after every other page (its number sorts last) and planned with the digest
#: of every claim fragment (book/_generated/claims/<page>/<id>.json) as one more input, so it reruns
#: exactly when a page's recorded claims change.
CLAIMS_PAGE = "99_claims"
CLAIMS = "claims"


# ----------------------------------------------------------------------------------------- paths
def find_root(start: str | os.PathLike | None = None) -> Path:
    """The repository root: the first folder upwards from ``start`` (default: cwd, then the package)
    holding both ``_toc.yml`` and ``notebooks/``."""
    candidates = [Path(start)] if start else [Path.cwd(), PACKAGE_DIR.parent]
    for cand in candidates:
        for folder in [cand.resolve(), *cand.resolve().parents]:
            if (folder / "_toc.yml").exists() and (folder / "notebooks").is_dir():
                return folder
    raise SystemExit(
        "saeprobe.book: cannot find the repository root (a folder with _toc.yml and notebooks/); "
        "run from the repository or pass --root PATH"
    )


def list_notebooks(root: Path) -> list[Path]:
    """Notebook sources ``notebooks/NN_name.py`` in execution order."""
    return sorted(p for p in (root / "notebooks").glob("*.py") if NOTEBOOK_RE.match(p.name))


@dataclass(frozen=True)
class Entry:
    """One executed notebook: ``book/_generated/<name>.ipynb`` from ``source`` with ``fixed`` parameters
    (empty for a plain ``notebooks/NN_*.py``) and, for a variant, its own page ``title``."""
    name: str
    source: Path
    fixed: tuple = ()
    title: str | None = None

    @property
    def stem(self) -> str:
        return self.name


def list_entries(root: Path) -> list[Entry]:
    """Every notebook to execute, in order: the sources plus the variants of ``notebooks/variants.yaml``."""
    entries = {p.stem: Entry(p.stem, p) for p in list_notebooks(root)}
    vfile = root / VARIANTS
    if vfile.exists():
        import yaml

        spec = yaml.safe_load(vfile.read_text()) or {}
        for name, v in spec.items():
            name = str(name)
            where = f"{VARIANTS.as_posix()}: {name}"
            if not NOTEBOOK_RE.match(name + ".py") or name in entries:
                raise SystemExit(f"saeprobe.book: {where}: a variant needs a new NN_name (not a source's name)")
            if not isinstance(v, dict) or "source" not in v:
                raise SystemExit(f"saeprobe.book: {where}: give `source: NN_x.py` and `parameters: {{...}}`")
            src = root / "notebooks" / str(v["source"])
            if not src.exists():
                raise SystemExit(f"saeprobe.book: {where}: source {src.name} does not exist in notebooks/")
            params = dict(v.get("parameters") or {})
            entries[name] = Entry(name, src, tuple(sorted(params.items())), v.get("title"))
    return [entries[k] for k in sorted(entries)]


def select(notebooks: list, only: list[str] | None) -> list:
    """Filter by ``--only`` (``00_datasets``, ``00_datasets.py``, ``00`` or ``datasets`` all work)."""
    if not only:
        return notebooks
    chosen = []
    for name in only:
        stem = Path(name).name.removesuffix(".py").removesuffix(".ipynb")
        hits = [p for p in notebooks if p.stem == stem or p.stem.startswith(stem + "_")
                or p.stem.split("_", 1)[-1] == stem]
        if not hits:
            raise SystemExit(
                f"saeprobe.book: no notebook {name!r}; choose from {[p.stem for p in notebooks]}"
            )
        chosen += [p for p in hits if p not in chosen]
    return [p for p in notebooks if p in chosen]


# ---------------------------------------------------------------------------------------- hashes
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: saeprobe's subpackages a notebook can depend on; the runner (``book``) itself is left out: it
#: orchestrates, it does not change results.
SUBPACKAGES = ("core", "saes", "show", "p1", "p2", "p3")
_IMPORT_RE = re.compile(r"^\s*(?:from\s+(saeprobe(?:\.\w+)*)\s+import\s+([\w\s,()*]+)|import\s+(saeprobe(?:\.\w+)*))",
                        re.MULTILINE)


def _subpackage(module: str) -> str | None:
    """``saeprobe.p1.runner`` -> ``p1``; ``saeprobe`` (top level) -> ``""``; others -> None."""
    parts = module.split(".")
    if parts[0] != "saeprobe":
        return None
    if len(parts) == 1:
        return ""
    return parts[1] if parts[1] in SUBPACKAGES else ""


def imported_packages(text: str) -> set[str]:
    """The saeprobe subpackages a Python source imports directly (``""`` = the top-level package).

    ``from saeprobe import saes, load_profile`` counts ``saes`` and the top level.
    """
    out = set()
    for m in _IMPORT_RE.finditer(text):
        module = m.group(1) or m.group(3)
        pkg = _subpackage(module)
        if pkg is None:
            continue
        out.add(pkg)
        if module == "saeprobe" and m.group(2):
            for name in re.split(r"[\s,()]+", m.group(2)):
                if name in SUBPACKAGES:
                    out.add(name)
    return out


def _package_files(pkg: str) -> list[Path]:
    if pkg == "":
        return [PACKAGE_DIR / "__init__.py"]
    return sorted(p for p in (PACKAGE_DIR / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def package_graph() -> dict[str, set[str]]:
    """``{subpackage: subpackages its modules import}`` read from the sources (``""`` = top level)."""
    graph = {}
    for pkg in ("",) + SUBPACKAGES:
        deps = set()
        for path in _package_files(pkg):
            deps |= imported_packages(path.read_text())
        graph[pkg] = deps - {pkg}
    return graph


def notebook_packages(source: Path) -> list[str]:
    """Every saeprobe subpackage ``source`` needs: what it imports, and what those import, and so on
    (with the top level, ``""``, as soon as it imports any: that runs saeprobe's ``__init__``)."""
    graph = package_graph()
    direct = imported_packages(Path(source).read_text())
    todo, seen = list(direct | {""} if direct else set()), set()
    while todo:
        pkg = todo.pop()
        if pkg not in seen:
            seen.add(pkg)
            todo += sorted(graph.get(pkg, ()))
    return sorted(seen)


def packages_hash(packages) -> str:
    """sha256 over the sources of ``packages`` (subpackage names; ``""`` = ``saeprobe/__init__.py``)."""
    h = hashlib.sha256()
    for pkg in sorted(packages):
        for path in _package_files(pkg):
            h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def profile_file(profile: str) -> Path:
    """The YAML file behind a profile name or path (one-line error if there is none)."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path.resolve()
    path = PACKAGE_DIR / "profiles" / f"{profile}.yaml"
    if not path.exists():
        names = sorted(p.stem for p in (PACKAGE_DIR / "profiles").glob("*.yaml"))
        raise SystemExit(f"saeprobe.book: unknown profile {profile!r}: choose one of {names} or a .yaml path")
    return path


@dataclass
class Plan:
    source: Path
    output: Path
    key: str
    inputs: dict
    title: str | None = None


def plan_for(root: Path, source: Path, profile: str, params: dict,
             name: str | None = None, title: str | None = None) -> Plan:
    """What executing ``source`` (as notebook ``name``, default its stem) depends on -- its text, the
    profile file, the parameters and the sources of the saeprobe subpackages it needs
    (:func:`notebook_packages`) -- and the manifest key summarising it."""
    packages = notebook_packages(source)
    inputs = {
        "notebook": _sha(source.read_bytes()),
        "profile": profile,
        "profile_file": _sha(profile_file(profile).read_bytes()),
        "packages": ",".join(p or "saeprobe" for p in packages),  # "saeprobe": its __init__
        "package": packages_hash(packages),
        "parameters": _sha(json.dumps(params, sort_keys=True).encode()),
    }
    if title:
        inputs["title"] = _sha(title.encode())
    if (name or source.stem) == CLAIMS_PAGE:
        inputs["claims"] = claims.fragments_digest(root / GENERATED / CLAIMS)
    key = _sha(json.dumps(inputs, sort_keys=True).encode())
    return Plan(source, root / GENERATED / ((name or source.stem) + ".ipynb"), key, inputs, title)


def read_manifest(root: Path) -> dict:
    path = root / GENERATED / MANIFEST
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) and isinstance(data.get("notebooks"), dict) else {"notebooks": {}}
    except (OSError, ValueError):
        return {"notebooks": {}}


def write_manifest(root: Path, manifest: dict) -> None:
    """Atomic write (temp file in the same folder + rename)."""
    atomic_write_text(root / GENERATED / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


