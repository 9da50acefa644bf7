"""The code's structure as DVC and a reader rely on it: every stage's `deps` in dvc.yaml are exactly
the `pipeline` modules it imports (directly or not, at the top or inside a function), so a change to
any of them reruns the stage and a change to anything else does not; and no module imports itself
back through others."""

import ast
from pathlib import Path

import pytest
import yaml

from pipeline.paths import ROOT

PACKAGE = ROOT / "pipeline"


def imported_modules(path: Path) -> set[str]:
    """The `pipeline` modules a file imports anywhere in it, by dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "pipeline"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
            found.add(node.module)
            # `from pipeline import cli` imports the module pipeline/cli.py
            submodules = (f"{node.module}.{alias.name}" for alias in node.names)
            found |= {name for name in submodules if module_file(name)}
    return found


def module_file(name: str) -> Path | None:
    """The file of a dotted `pipeline` module name: a module, or a package's __init__.py."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """Who imports whom among the modules of `pipeline/`."""
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts): path for path in PACKAGE.glob("*.py")}
    return {name.removesuffix(".__init__"): imported_modules(path) for name, path in modules.items()}


def files_imported_by(module: str) -> set[str]:
    """Every file `python -m <module>` loads from `pipeline/`, as dvc.yaml names them."""
    graph, seen, todo = import_graph(), set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b imports package a first
        todo += graph.get(name, set())
    return {module_file(name).relative_to(ROOT).as_posix() for name in seen}


def stages() -> dict[str, dict]:
    """dvc.yaml's stages, with a foreach stage's `do` as the stage."""
    raw = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: stage.get("do", stage) for name, stage in raw.items()}


@pytest.mark.parametrize("name", list(stages()))
def test_a_stage_depends_on_exactly_the_modules_it_imports(name):
    stage = stages()[name]
    module = stage["cmd"].split()[2]  # python -m pipeline.<stage> ...
    listed = {dep for dep in stage["deps"] if isinstance(dep, str) and dep.startswith("pipeline/")}
    imported = files_imported_by(module)
    assert not imported - listed, f"{name} imports but dvc.yaml does not list: {sorted(imported - listed)}"
    assert not listed - imported, f"{name} lists but does not import: {sorted(listed - imported)}"


def test_the_dependency_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "stage.py"
    source.write_text("from pipeline import cli\n\ndef main():\n    from pipeline.loop import fit\n")
    assert imported_modules(source) == {"pipeline", "pipeline.cli", "pipeline.loop"}


def test_no_module_imports_itself_back():
    graph = import_graph()

    def cycle_from(start: str, name: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for imported in sorted(graph.get(name, set()) - {"pipeline"}):
            if imported == start:
                return (*path, imported)
            if imported not in path:
                found = cycle_from(start, imported, (*path, imported))
                if found:
                    return found
        return None

    cycles = [cycle for start in sorted(graph) if (cycle := cycle_from(start, start, (start,)))]
    assert not cycles, f"import cycles: {[' -> '.join(cycle) for cycle in cycles]}"
