"""The code's structure as DVC and a reader rely on it: every stage's `deps` in dvc.yaml are exactly
the `pipeline` modules it imports (directly or not, at the top or inside a function), so a change to
any of them reruns the stage and a change to anything else does not; no module imports itself back
through others; the stages and commands sit on top and nothing but their tests imports them; functions
fit on a screen; each workaround of a library's internals is quarantined with its canary test; and the
README's tree is the code's."""

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from pipeline.core.paths import ROOT

PACKAGE = ROOT / "pipeline"
COMMANDS = ("gate", "predict", "check_params")  # run by hand, not by dvc.yaml
MAX_FUNCTION_LINES = 40


def imported_modules(path: Path) -> set[str]:
    """The `pipeline` modules a file imports anywhere in it, by dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "pipeline"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
            found.add(node.module)
            # `from pipeline.core import cli` imports the module pipeline/core/cli.py
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
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts): path for path in PACKAGE.rglob("*.py")}
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
    """dvc.yaml's stages, with a foreach stage's `do` as the stage (a matrix stage is its own)."""
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
    source.write_text("from pipeline.core import cli\n\ndef main():\n    from pipeline.training.loop import fit\n")
    assert imported_modules(source) == {"pipeline.core", "pipeline.core.cli", "pipeline.training.loop"}


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


def entry_points() -> set[str]:
    """The modules users and dvc.yaml run: the stages and the commands, as dotted names."""
    return {stage["cmd"].split()[2] for stage in stages().values()} | {f"pipeline.{name}" for name in COMMANDS}


def test_the_stages_and_commands_are_the_top_level_modules_and_the_rest_is_in_packages():
    top = {f"pipeline.{path.stem}" for path in PACKAGE.glob("*.py") if path.name != "__init__.py"}
    assert top == entry_points()
    packages = [path.parent for path in PACKAGE.glob("*/__init__.py")]
    assert packages and all(ast.get_docstring(ast.parse((p / "__init__.py").read_text())) for p in packages)


def test_no_stage_or_command_is_imported_but_by_its_tests():
    users = [*PACKAGE.rglob("*.py"), *(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*.py")]
    importers = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in users
        for module in imported_modules(path) & entry_points()
        if path.with_suffix("").relative_to(ROOT).as_posix().replace("/", ".") != module
    }
    assert not importers, sorted(importers)


def test_the_import_checks_follow_subpackages():
    imported = files_imported_by("pipeline.core.files")
    assert {"pipeline/core/__init__.py", "pipeline/core/errors.py", "pipeline/core/signals.py"} <= imported


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_every_function_fits_on_a_screen():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in _functions(path)
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines: {long}"


COMPAT = sorted(path for path in (PACKAGE / "compat").glob("*.py") if path.name != "__init__.py")


def test_there_is_a_quarantine_and_it_holds_the_known_workarounds():
    assert COMPAT, "pipeline/compat/ holds no workaround: if all are gone, delete this test and the package"


@pytest.mark.parametrize("path", COMPAT, ids=[path.stem for path in COMPAT])
def test_each_workaround_names_its_upstream_issue_and_has_a_canary(path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    # the upstream issue or pull request; where none exists yet, the upstream source line it works around
    upstream = r"https://github\.com/[\w.-]+/[\w.-]+/(issues/\d+|pull/\d+|blob/\S+)"
    assert re.search(upstream, docstring), f"{path.name}: no upstream link"
    canary = ROOT / "tests" / "compat" / f"test_{path.stem}.py"
    assert canary.is_file(), f"{path.name} has no canary test {canary.relative_to(ROOT)}"


PATCHES = {
    "a stand-in module in sys.modules": r"sys\.modules\s*(\||\[[^]]+\]\s*=)",
    "a private attribute set": r"setattr\(\w+, \"_\w+\"|\b(mlflow|dvc|mediapipe|keras|tf)\w*(\.\w+)*\._\w+\s*=[^=]",
}


def test_private_internals_are_patched_only_in_the_quarantine():
    outside = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "compat"
        for what, pattern in PATCHES.items()
        if re.search(pattern, path.read_text(encoding="utf-8"))
    ]
    assert not outside, outside


def _readme_tree():
    spec = importlib.util.spec_from_file_location("readme_tree", ROOT / "scripts" / "readme_tree.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_tree_is_the_codes():
    readme_tree = _readme_tree()
    shown = readme_tree.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert shown == readme_tree.tree(), "README.md's code tree is behind: run `python scripts/readme_tree.py --write`"


def test_the_readme_tree_lists_every_module_and_its_job():
    made = _readme_tree().tree()
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        if path.name != "__init__.py":
            assert re.search(rf"^\s*{re.escape(path.name)}\s+\S", made, re.M), f"{path.relative_to(ROOT)} is not listed"
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{path} says no job"
