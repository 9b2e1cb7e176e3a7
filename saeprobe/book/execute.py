"""Executing one notebook: jupytext source -> papermill with the profile injected -> the executed
notebook, written atomically; a failing cell becomes one message naming the notebook, the cell (and
its line in the ``.py``) and the error."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from saeprobe.book.plan import CLAIMS, GENERATED, Plan
from saeprobe.core.config import load_profile

KERNEL_NAME = "python3"


class NotebookFailed(RuntimeError):
    """A notebook cell raised; the message names the notebook, the cell and the error."""


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
PARAMETERS_LABEL = "# Parameters of this run"


def one_parameters_cell(nb) -> bool:
    """Show the parameters once: papermill's injected cell is tagged ``remove-cell`` (kept in the
    notebook, so a downloaded copy still has every cell, but not rendered) and the source's
    ``parameters`` cell shows the values that ran, labelled :data:`PARAMETERS_LABEL`. Returns whether
    ``nb`` changed."""
    injected = next((c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    source = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if source is None:
        return False
    if source.source.startswith(PARAMETERS_LABEL):
        return False
    ran = source.source
    if injected is not None:
        tags = injected.metadata.setdefault("tags", [])
        if "remove-cell" not in tags:
            tags.append("remove-cell")
        given = [ln for ln in injected.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        names = {ln.split("=", 1)[0].strip() for ln in given if "=" in ln}
        kept = [ln for ln in source.source.splitlines()
                if not ("=" in ln and ln.split("=", 1)[0].strip() in names)]
        ran = "\n".join([*kept, *given]).strip()
    source.source = f"{PARAMETERS_LABEL}\n{ran}"
    return True


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
    if plan.output.stem != plan.source.stem:  # a variant: its exercise labels ex-<source>-* become its own
        pat = re.compile(rf"\bex-{re.escape(plan.source.stem)}(?=[-\s]|$)", re.MULTILINE)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = pat.sub(f"ex-{plan.output.stem}", cell.source)
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
    # the page's claims (saeprobe.core.claims) go to this book's claims folder; its old ones are dropped
    claims_dir = root / GENERATED / CLAIMS
    shutil.rmtree(claims_dir / plan.output.stem, ignore_errors=True)
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "PYTHONWARNINGS": "ignore:IProgress not found", "SAEPROBE_CLAIMS_DIR": str(claims_dir)}
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
    done = nbformat.read(tmp_out, as_version=4)
    if one_parameters_cell(done):
        nbformat.write(done, tmp_out)
    os.replace(tmp_out, plan.output)
    plan.output.with_name(plan.output.stem + ".FAILED.ipynb").unlink(missing_ok=True)
    return time.perf_counter() - t0


