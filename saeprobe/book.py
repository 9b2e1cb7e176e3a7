"""The publishing pipeline: execute the notebooks with papermill, then build the Jupyter Book.

Command line (run from the repository root, or anywhere with ``--root``)::

    python -m saeprobe.book run   [--profile cpu] [--only NAME ...] [--force] [-p KEY VALUE ...]
    python -m saeprobe.book build [--strict/--no-strict]
    python -m saeprobe.book list  [--profile cpu]

``run`` converts every ``notebooks/NN_*.py`` (jupytext percent format, the source of truth) to a
notebook, injects the parameters (``profile`` plus any ``-p key value``) with papermill and writes the
executed notebook to ``book/_generated/NN_*.ipynb``: the path does not depend on the profile, so
``_toc.yml`` is stable and the book shows whichever profile ran last (each page says which, and the
manifest records it). A notebook is skipped when nothing it depends on changed: the manifest
``book/_generated/manifest.json`` (written atomically) stores, per notebook, the sha256 of its source,
of the profile file, of the saeprobe package source and of the parameters. A failing cell stops the run
with a message naming the notebook, the cell and the error, and exit status 1.

One source can be executed several times with different fixed parameters: ``notebooks/variants.yaml``
maps a notebook name to ``{source: NN_x.py, parameters: {...}, title: "..."}`` (e.g. the P1 regime
notebook run once per regime); each variant is planned, hashed and rendered as a notebook of its own.

``build`` runs ``jupyter-book build . -W -n --keep-going`` (strict: any warning, e.g. a missing glue
key, fails the build) and prints the page to open.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from saeprobe.core.config import load_profile

PACKAGE_DIR = Path(__file__).resolve().parent
GENERATED = Path("book") / "_generated"
MANIFEST = "manifest.json"
KERNEL_NAME = "python3"
NOTEBOOK_RE = re.compile(r"^\d\d_[A-Za-z0-9_\-]+\.py$")
VARIANTS = Path("notebooks") / "variants.yaml"
MATHJAX_JS = Path(".cache") / "mathjax" / "site" / "mathjax" / "tex-svg.js"


class NotebookFailed(RuntimeError):
    """A notebook cell raised; the message names the notebook, the cell and the error."""


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


def package_hash() -> str:
    """sha256 over every saeprobe source file (``*.py`` and profile YAML), path-sorted.

    This runner (``book.py``) is left out: it orchestrates, it does not change results.
    """
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path == Path(__file__).resolve():
            continue
        if path.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in path.parts:
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


def plan_for(root: Path, source: Path, profile: str, params: dict, pkg_hash: str,
             name: str | None = None, title: str | None = None) -> Plan:
    """What executing ``source`` (as notebook ``name``, default its stem) depends on, and the manifest
    key summarising it."""
    inputs = {
        "notebook": _sha(source.read_bytes()),
        "profile": profile,
        "profile_file": _sha(profile_file(profile).read_bytes()),
        "package": pkg_hash,
        "parameters": _sha(json.dumps(params, sort_keys=True).encode()),
    }
    if title:
        inputs["title"] = _sha(title.encode())
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
    folder = root / GENERATED
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".json")
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, folder / MANIFEST)


# ---------------------------------------------------------------------------------------- kernel
def ensure_kernel(root: Path) -> str:
    """Make kernel ``python3`` run THIS interpreter (the venv's), whatever else is installed.

    Writes a kernelspec whose argv names ``sys.executable`` into ``book/_generated/.jupyter`` and
    puts that folder first on ``JUPYTER_PATH`` for this process and the kernels it starts.
    """
    kdir = root / GENERATED / ".jupyter" / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--log-level=ERROR"],  # no "running over TCP without encryption" noise
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    jp = str(root / GENERATED / ".jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != jp]
    os.environ["JUPYTER_PATH"] = os.pathsep.join([jp, *paths])
    return KERNEL_NAME


# ------------------------------------------------------------------------------------- execution
def _profile_note(profile: str, params: dict) -> str:
    try:
        desc = load_profile(profile).description
    except Exception:  # the notebook itself will report a bad profile
        desc = ""
    extra = "".join(f" `-p {k} {v}`" for k, v in params.items())
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"```{{note}}\nThis page was executed with profile **`{Path(profile).stem}`**"
        + (f" ({desc})" if desc else "")
        + f"{extra} on {when} by `python -m saeprobe.book run --profile {profile}`. "
        "Numbers depend on the profile; see [How to reproduce](../reproduce.md).\n```"
    )


def _failure_message(source: Path, nb, err) -> str:
    """Name the notebook, the cell (index among the source's code cells and line in the .py)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"
                  and "injected-parameters" not in c.metadata.get("tags", [])]
    cell_no, line_no, first = None, None, ""
    for i, cell in enumerate(code_cells, 1):
        if cell.get("execution_count") == err.exec_count and err.exec_count is not None:
            cell_no = i
            break
    if cell_no is None and err.source:
        for i, cell in enumerate(code_cells, 1):
            if cell.source.strip() == str(err.source).strip():
                cell_no = i
                break
    src = str(err.source or "")
    lines = [ln for ln in src.splitlines() if ln.strip()]
    if lines:
        first = lines[0].strip()
        text = source.read_text().splitlines()
        for n, ln in enumerate(text, 1):
            if ln.strip() == first:
                line_no = n
                break
    where = f"code cell {cell_no}" if cell_no else f"cell In [{err.exec_count}]"
    loc = f"{source.as_posix()}:{line_no}" if line_no else source.as_posix()
    return (
        f"notebook {source.name} failed in {where} ({loc}, starts `{first[:80]}`): "
        f"{err.ename}: {err.evalue}"
    )


def execute(plan: Plan, profile: str, params: dict, *, root: Path, log_output: bool = False) -> float:
    """Convert ``plan.source`` with jupytext, execute it with papermill and write ``plan.output``
    atomically. Returns the wall time in seconds. Raises :class:`NotebookFailed`."""
    import jupytext
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    kernel = ensure_kernel(root)
    nb = jupytext.read(plan.source)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    if plan.title:  # a variant's own page title replaces the source's first heading
        md = next((c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), None)
        if md is not None:
            _, _, rest = md.source.lstrip().partition("\n")
            md.source = f"# {plan.title}" + (f"\n{rest}" if rest else "")
    # a note naming the profile goes right after the title cell
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_md + 1, nbformat.v4.new_markdown_cell(_profile_note(profile, params)))
    if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise NotebookFailed(
            f"notebook {plan.source.name} has no cell tagged `parameters`; add "
            '`# %% tags=["parameters"]` above `profile = "cpu"`'
        )
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_in = plan.output.with_name(f".{plan.output.stem}.in.ipynb")
    tmp_out = plan.output.with_name(f".{plan.output.stem}.out.ipynb")
    nbformat.write(nb, tmp_in)
    t0 = time.perf_counter()
    # environment of the kernel: figures inline always; no progress bars in the rendered pages
    # (papermill stores every tqdm refresh as text) unless the output is streamed to the terminal
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "PYTHONWARNINGS": "ignore:IProgress not found"}
    if not log_output:
        env["TQDM_DISABLE"] = "1"
    env_before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(
            str(tmp_in), str(tmp_out), parameters={"profile": profile, **params},
            kernel_name=kernel, language="python", progress_bar=False, log_output=log_output,
            cwd=str(plan.source.parent), request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as err:
        failed = plan.output.with_name(plan.output.stem + ".FAILED.ipynb")
        try:
            done = nbformat.read(tmp_out, as_version=4)
            os.replace(tmp_out, failed)
        except Exception:
            done = nb
        variant = "" if plan.output.stem == plan.source.stem else f"{plan.output.stem}: "
        raise NotebookFailed(variant + _failure_message(plan.source, done, err)
                             + (f"\n  partial output: {failed}" if failed.exists() else "")) from None
    finally:
        tmp_in.unlink(missing_ok=True)
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    os.replace(tmp_out, plan.output)
    plan.output.with_name(plan.output.stem + ".FAILED.ipynb").unlink(missing_ok=True)
    return time.perf_counter() - t0


def run(profile: str = "cpu", only: list[str] | None = None, force: bool = False,
        params: dict | None = None, root: str | os.PathLike | None = None,
        log_output: bool = False) -> dict:
    """Execute the (selected) notebooks; returns ``{notebook stem: "ran"|"skipped"}``.

    Raises :class:`NotebookFailed` at the first failing notebook (later ones are not run).
    """
    params = dict(params or {})
    rootp = find_root(root)
    profile_file(profile)  # validate early
    entries = list_entries(rootp)
    notebooks = select(entries, only)
    if not notebooks:
        raise SystemExit(f"saeprobe.book: no notebooks/NN_*.py under {rootp}")
    pkg = package_hash()
    manifest = read_manifest(rootp)
    # executed notebooks whose source is gone must not stay in the book
    sources = {e.name for e in entries}
    stale = [k for k in manifest["notebooks"] if k not in sources]
    for old in (rootp / GENERATED).glob("[0-9][0-9]_*.ipynb"):
        stem = old.name.removesuffix(".ipynb").removesuffix(".FAILED")
        if stem not in sources:
            old.unlink()
            manifest["notebooks"].pop(stem, None)
            print(f"removed {old.relative_to(rootp)} (no notebooks/{stem}.py nor variant)", flush=True)
    for k in stale:
        manifest["notebooks"].pop(k, None)
    if stale:
        write_manifest(rootp, manifest)
    status = {}
    for i, source in enumerate(notebooks, 1):
        nb_params = {**dict(source.fixed), **params}
        plan = plan_for(rootp, source.source, profile, nb_params, pkg, name=source.name, title=source.title)
        entry = manifest["notebooks"].get(source.stem, {})
        rel = plan.output.relative_to(rootp)
        if not force and entry.get("key") == plan.key and plan.output.exists():
            print(f"[{i}/{len(notebooks)}] {source.stem}: unchanged (profile {profile}), skipped", flush=True)
            status[source.stem] = "skipped"
            continue
        print(f"[{i}/{len(notebooks)}] {source.stem}: executing with profile {profile} ...", flush=True)
        manifest["notebooks"].pop(source.stem, None)
        write_manifest(rootp, manifest)
        secs = execute(plan, profile, nb_params, root=rootp, log_output=log_output)
        manifest["notebooks"][source.stem] = {
            "key": plan.key, "inputs": plan.inputs, "profile": profile, "parameters": nb_params,
            "output": rel.as_posix(), "seconds": round(secs, 1),
            "executed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": sys.executable,
        }
        manifest["last_profile"] = profile
        write_manifest(rootp, manifest)
        print(f"[{i}/{len(notebooks)}] {source.stem}: done in {secs:.1f} s -> {rel}", flush=True)
        status[source.stem] = "ran"
    return status


# ------------------------------------------------------------------------------------------ build
def build(root: str | os.PathLike | None = None, strict: bool = True) -> Path:
    """``jupyter-book build`` the repository (strict: ``-W -n --keep-going``); returns index.html."""
    rootp = find_root(root)
    if not (rootp / MATHJAX_JS).exists():
        raise SystemExit(
            f"saeprobe.book: local MathJax missing ({MATHJAX_JS}); run `make mathjax` "
            "(npm install mathjax@3) so pages render math without a CDN"
        )
    sources = list_entries(rootp)
    missing = [p.stem for p in sources if not (rootp / GENERATED / (p.stem + ".ipynb")).exists()]
    if missing:
        print(f"saeprobe.book: not executed yet, left out of the book: {missing} "
              "(run `python -m saeprobe.book run`)", file=sys.stderr)
    profiles = {e.get("profile") for e in read_manifest(rootp)["notebooks"].values()}
    if len(profiles) > 1:
        print(f"saeprobe.book: NOTE the executed notebooks come from different profiles {sorted(profiles)}; "
              "run `python -m saeprobe.book run --profile NAME` for one consistent book", file=sys.stderr)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(rootp), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going", "--all"]  # --all: a cached env would hide warnings
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=rootp)
    if proc.returncode != 0:
        raise SystemExit(f"saeprobe.book: jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    index = rootp / "_build" / "html" / "index.html"
    print(f"Book built: open file://{index}", flush=True)
    return index


# -------------------------------------------------------------------------------------------- cli
def _parse_params(pairs: list[list[str]] | None) -> dict:
    import yaml

    out = {}
    for key, value in pairs or []:
        if not key.isidentifier():
            raise SystemExit(f"saeprobe.book: parameter name {key!r} is not a Python identifier")
        out[key] = yaml.safe_load(value)  # "3" -> 3, "true" -> True, "[1,2]" -> list
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m saeprobe.book", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="repository root (default: found from the current folder)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute notebooks with papermill into book/_generated/")
    r.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"),
                   help="profile name (smoke, cpu, paper) or YAML path; default $PROFILE or cpu")
    r.add_argument("--only", action="append", metavar="NAME", help="run only this notebook (repeatable)")
    r.add_argument("--force", action="store_true", help="re-execute even if unchanged")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="extra papermill parameter (value parsed as YAML)")
    r.add_argument("--log-output", action="store_true", help="stream cell output to the terminal")
    b = sub.add_parser("build", help="jupyter-book build (strict) into _build/html")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    lst = sub.add_parser("list", help="list notebooks and whether they are up to date")
    lst.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"))
    args = ap.parse_args(argv)

    if args.cmd == "run":
        try:
            status = run(args.profile, args.only, args.force, _parse_params(args.parameter),
                         root=args.root, log_output=args.log_output)
        except NotebookFailed as err:
            print(f"\nFAILED: {err}", file=sys.stderr, flush=True)
            return 1
        ran = sum(v == "ran" for v in status.values())
        print(f"{ran} executed, {len(status) - ran} unchanged", flush=True)
        return 0
    if args.cmd == "build":
        build(args.root, strict=not args.no_strict)
        return 0
    rootp = find_root(args.root)
    manifest = read_manifest(rootp)
    pkg = package_hash()
    for source in list_entries(rootp):
        plan = plan_for(rootp, source.source, args.profile, dict(source.fixed), pkg, name=source.name,
                        title=source.title)
        entry = manifest["notebooks"].get(source.stem)
        state = ("not executed" if not entry or not plan.output.exists() else
                 "up to date" if entry["key"] == plan.key else f"stale (last run: profile {entry['profile']})")
        print(f"{source.stem:32s} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
