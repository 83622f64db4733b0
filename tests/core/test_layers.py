"""The layering rules, read from the source: no import cycles inside core/, core/ never imports
streamlit, one reporting module is core's only user of a charting library, and the dashboard
reaches torch only through core."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO

CHARTING = ("altair", "plotly")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_modules(package: str) -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted((REPO / package).rglob("*.py"))}


def _imports(path: Path, at_run_time: bool = False) -> set[str]:
    """Absolute names a module imports, at module level or inside functions; ``at_run_time`` leaves
    out `if TYPE_CHECKING:` blocks (those cannot form a cycle at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if at_run_time:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for body in node.body for child in ast.walk(body))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_has_no_import_cycles():
    paths = {_module_name(p): p for p in sorted((REPO / "core").rglob("*.py"))}
    graph = {
        name: {m for m in _imports(path, at_run_time=True) if m in paths and m != name} for name, path in paths.items()
    }
    # a package's __init__ re-exports its modules: importing "core.mtl" is importing its __init__ only
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle.extend([*stack[stack.index(target) :], target] if target in stack else [node, target])
                return True
            if state.get(target) is None and visit(target, [*stack, target]):
                return True
        state[node] = 2
        return False

    for name in sorted(graph):
        if state.get(name) is None and visit(name, [name]):
            break
    assert not cycle, " -> ".join(cycle)


def test_core_never_imports_streamlit_and_charts_only_in_reporting():
    for name, imports in _package_modules("core").items():
        assert not any(i.split(".")[0] == "streamlit" for i in imports), name
        if name != "core.reporting":
            charting = sorted(i for i in imports if i.split(".")[0] in CHARTING)
            assert not charting, f"{name} imports {charting}; figures belong in core.reporting"


def test_the_dashboard_does_no_tensor_math():
    for name, imports in _package_modules("dashboard").items():
        assert not any(i.split(".")[0] == "torch" for i in imports), f"{name} imports torch"


def test_no_file_in_core_or_dashboard_is_over_400_lines():
    long = {
        str(p.relative_to(REPO)): n
        for package in ("core", "dashboard")
        for p in (REPO / package).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long
