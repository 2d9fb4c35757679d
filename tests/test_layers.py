"""The layers hold: `crm` is the domain, `connectors` and `reports` build on
it, and the entry point (`factory.py`) wires them together.

The imports are read from the source (every `import` statement, those inside
functions too: an import deferred to break a circle is still a circle), so a
new module that breaks the rule fails here whether or not a test loads it.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crm", "connectors", "reports")
# What each package may import of the others.
ALLOWED = {"crm": set(), "connectors": {"crm"}, "reports": {"crm"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules of our packages that `path` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from crm.x import y` names the module crm.x.y, or a name in crm.x
            # (the lookup below keeps whichever is a module).
            names = [f"{base}.{alias.name}" for alias in node.names]
            names.append(f"{base}?")
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in (*PACKAGES, "factory"))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    return {name: _resolved(_imports(path), modules) for name, path in modules.items()}


def _resolved(imports: set[str], modules) -> set[str]:
    """The modules among `imports`: of `from crm.x import y`, crm.x.y when it
    is a module (importing it runs crm.x's __init__, which is crm.x's own
    business), else crm.x, where the name y is defined."""
    found = {name for name in imports if name in modules}
    for name in imports:
        if name.endswith("?"):
            base = name[:-1]
            named = any(other.startswith(f"{base}.") and other in modules for other in imports)
            if not named and base in modules:
                found.add(base)
    return found


def test_each_package_imports_only_the_layers_below_it(graph):
    wrong = sorted(
        f"{module} imports {imported}"
        for module, imports in graph.items()
        for imported in imports
        if (top := imported.split(".")[0]) != module.split(".")[0]
        and top not in ALLOWED[module.split(".")[0]]
    )
    assert wrong == []


def test_nothing_below_the_entry_point_imports_it():
    users = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if any(name.split(".")[0] in ("factory", "app", "worker") for name in _imports(path))
    )
    assert users == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle among the modules of `graph`, if there is any."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return [*stack[stack.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_imports_itself_round_a_circle(graph):
    # A package's __init__ imports its modules to wire them (init_app); a module
    # importing its own package's __init__ back is the circle that matters.
    edges = {
        module: {name for name in imports if name != module and not module.startswith(f"{name}.")}
        for module, imports in graph.items()
    }
    assert _cycle(edges) is None


def test_the_circle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_app_starts_without_the_heavy_libraries(tmp_path):
    """`flask --help` (and every process's start) must not pay for pandas or
    WeasyPrint: they are imported where a report or a PDF is made."""
    probe = (
        "import sys, app; "
        "print(','.join(m for m in ('pandas', 'numpy', 'weasyprint') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{tmp_path}/probe.db"},
    )
    assert result.stdout.strip() == ""
