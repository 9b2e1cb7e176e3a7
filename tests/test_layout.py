"""The house rules of ARCHITECTURE.md, checked on the source: who may import whom, imports at the
top, no circles, modules small, every paper package names its paper."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "saeprobe"
MODULES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(module imported, line, at top level?) for every saeprobe import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("saeprobe"):
            mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            out.append((mods, node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("saeprobe"):
                    out.append(([a.name], node.lineno, id(node) in top))
    return out


def _resolve(mods):
    """The saeprobe modules an import statement names (``from saeprobe.core import data`` -> core.data)."""
    names = {_name(p) for p in MODULES}
    return {m for m in mods if m in names}


def _imports_outside(prefix: str, allowed: tuple[str, ...]) -> list[str]:
    """``path:line imports m`` for every saeprobe module that a module under ``prefix`` imports and
    that is neither the top-level package nor under one of ``allowed``."""
    bad = []
    for path in MODULES:
        if _name(path).startswith(prefix):
            for mods, line, _ in _imports(path):
                for m in _resolve(mods):
                    if not (m == "saeprobe" or m.startswith(allowed)):
                        bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {m}")
    return bad


def test_core_imports_no_paper_and_not_saes():
    bad = _imports_outside("saeprobe.core", ("saeprobe.core",))
    assert not bad, bad


def test_show_imports_only_core():
    """``saeprobe.show`` (what a reader sees) sits beside saes: core below it, no paper, no saes."""
    bad = _imports_outside("saeprobe.show", ("saeprobe.core", "saeprobe.show"))
    assert not bad, bad


def test_papers_do_not_import_each_other():
    bad = []
    for path in MODULES:
        me = _name(path).split(".")
        if len(me) > 1 and me[1] in ("p1", "p2", "p3"):
            for mods, line, _ in _imports(path):
                for m in _resolve(mods):
                    other = m.split(".")
                    if len(other) > 1 and other[1] in ("p1", "p2", "p3") and other[1] != me[1]:
                        bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {m}")
    assert not bad, bad


def test_saeprobe_imports_are_at_the_top():
    lazy = [f"{p.relative_to(PKG.parent)}:{line}" for p in MODULES for _, line, top in _imports(p) if not top]
    assert not lazy, lazy


def test_no_import_circle():
    graph = {}
    for path in MODULES:
        deps = set()
        for mods, _, _ in _imports(path):
            deps |= _resolve(mods)
        me = _name(path)
        graph[me] = {d for d in deps if d != me and not me.startswith(d + ".") and d != "saeprobe"}
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_modules_are_small():
    big = {str(p.relative_to(PKG.parent)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 450}
    assert not big, big


@pytest.mark.parametrize("pkg,paper", [("p1", "Kantamneni"), ("p2", "Paulo"), ("p3", "MOSAIC")])
def test_each_paper_package_names_its_paper(pkg, paper):
    import importlib

    mod = importlib.import_module(f"saeprobe.{pkg}")
    assert paper in (mod.__doc__ or "")


def test_test_file_names_are_unique():
    """pytest imports test modules by basename (rootdir-relative, no packages): two test files with the
    same name in different folders break collection."""
    names = [p.name for p in (PKG.parent / "tests").rglob("test_*.py")]
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, dup
