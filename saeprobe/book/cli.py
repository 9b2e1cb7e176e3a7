"""The runner's command line and its jobs: ``run`` (execute what changed), ``build`` (the strict
Jupyter Book build), ``list`` and ``plan`` (a profile's checked plan, :mod:`saeprobe.book.budget`)."""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

from saeprobe.book.budget import PlanError, format_plan, profile_plan
from saeprobe.book.execute import NotebookFailed, execute
from saeprobe.core.scale import ENV_VAR as SCHEDULER_ENV
from saeprobe.book.plan import (
    CLAIMS,
    GENERATED,
    find_root,
    list_entries,
    plan_for,
    profile_file,
    read_manifest,
    select,
    write_manifest,
)

MATHJAX_JS = Path(".cache") / "mathjax" / "site" / "mathjax" / "tex-svg.js"


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
    manifest = read_manifest(rootp)
    # executed notebooks whose source is gone must not stay in the book
    sources = {e.name for e in entries}
    stale = [k for k in manifest["notebooks"] if k not in sources]
    for old in (rootp / GENERATED).glob("[0-9][0-9]_*.ipynb"):
        stem = old.name.removesuffix(".ipynb").removesuffix(".FAILED")
        if stem not in sources:
            old.unlink()
            shutil.rmtree(rootp / GENERATED / CLAIMS / stem, ignore_errors=True)  # its claims too
            manifest["notebooks"].pop(stem, None)
            print(f"removed {old.relative_to(rootp)} (no notebooks/{stem}.py nor variant)", flush=True)
    for folder in sorted((rootp / GENERATED / CLAIMS).glob("*/")):
        if folder.name not in sources:  # claims of a page that no longer exists
            shutil.rmtree(folder, ignore_errors=True)
    for k in stale:
        manifest["notebooks"].pop(k, None)
    if stale:
        write_manifest(rootp, manifest)
    status = {}
    for i, source in enumerate(notebooks, 1):
        nb_params = {**dict(source.fixed), **params}
        plan = plan_for(rootp, source.source, profile, nb_params, name=source.name, title=source.title)
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
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the grids and the extraction on Dask: local:N (a LocalCluster of N processes) or "
                        "tcp://host:8786 (a running `dask scheduler`); default: the profile's scale.scheduler, "
                        "else joblib on this machine (results are the same)")
    pl = sub.add_parser("plan", help="a profile's models, hooks, SAEs, datasets, grid cells, disk and cost, "
                                     "checked against TransformerLens and sae-lens (loads no model)")
    pl.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"))
    pl.add_argument("--reference", default="cpu", help="profile whose measured seconds per cell set the cost")
    b = sub.add_parser("build", help="jupyter-book build (strict) into _build/html")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    lst = sub.add_parser("list", help="list notebooks and whether they are up to date")
    lst.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"))
    args = ap.parse_args(argv)

    if args.cmd == "plan":
        try:
            print(format_plan(profile_plan(args.profile, reference=args.reference)), flush=True)
        except (PlanError, ValueError) as err:
            print(f"saeprobe.book plan: {err}", file=sys.stderr, flush=True)
            return 1
        return 0
    if args.cmd == "run":
        if args.scheduler:  # the notebooks' kernels inherit it (saeprobe.core.scale.scheduler_for)
            os.environ[SCHEDULER_ENV] = args.scheduler
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
    for source in list_entries(rootp):
        plan = plan_for(rootp, source.source, args.profile, dict(source.fixed), name=source.name,
                        title=source.title)
        entry = manifest["notebooks"].get(source.stem)
        state = ("not executed" if not entry or not plan.output.exists() else
                 "up to date" if entry["key"] == plan.key else f"stale (last run: profile {entry['profile']})")
        print(f"{source.stem:32s} {state}")
    return 0


