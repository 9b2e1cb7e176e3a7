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
of the profile file, of the parameters and of the sources of the saeprobe subpackages it imports,
followed transitively (``core``, ``saes``, its paper's package): editing P3's code reruns P3's pages only. A failing cell stops the run
with a message naming the notebook, the cell and the error, and exit status 1.

One source can be executed several times with different fixed parameters: ``notebooks/variants.yaml``
maps a notebook name to ``{source: NN_x.py, parameters: {...}, title: "..."}`` (e.g. the P1 regime
notebook run once per regime); each variant is planned, hashed and rendered as a notebook of its own.

``build`` runs ``jupyter-book build . -W -n --keep-going`` (strict: any warning, e.g. a missing glue
key, fails the build) and prints the page to open.
"""
from saeprobe.book.cli import build, main, run
from saeprobe.book.execute import KERNEL_NAME, PARAMETERS_LABEL, NotebookFailed, ensure_kernel, execute, one_parameters_cell
from saeprobe.book.plan import (
    GENERATED,
    MANIFEST,
    NOTEBOOK_RE,
    PACKAGE_DIR,
    SUBPACKAGES,
    VARIANTS,
    Entry,
    Plan,
    find_root,
    imported_packages,
    list_entries,
    list_notebooks,
    notebook_packages,
    package_graph,
    packages_hash,
    plan_for,
    profile_file,
    read_manifest,
    select,
    write_manifest,
)

__all__ = ["build", "main", "run", "KERNEL_NAME", "PARAMETERS_LABEL", "one_parameters_cell", "NotebookFailed", "ensure_kernel", "execute", "GENERATED",
           "MANIFEST", "NOTEBOOK_RE", "PACKAGE_DIR", "SUBPACKAGES", "VARIANTS", "Entry", "Plan", "find_root",
           "imported_packages", "list_entries", "list_notebooks", "notebook_packages", "package_graph",
           "packages_hash", "plan_for", "profile_file", "read_manifest", "select", "write_manifest"]
