"""The README's tree of the code, made from each module's docstring: `python scripts/readme_tree.py [--write]`.

Each module's docstring opens with the one job it does; this prints those first sentences as the tree that
README.md shows between its `<!-- code tree -->` markers, and `--write` puts it there. tests/test_structure.py
fails when the README's tree is not the one this makes, so the tree cannot fall behind the code.
"""

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN = "<!-- code tree: made by scripts/readme_tree.py, checked by tests/test_structure.py -->"
END = "<!-- /code tree -->"
WIDTH = 120
NAME_COLUMN = 28  # where the job starts
STAGES = ("fetch", "preprocess", "train", "evaluate", "export", "compare")  # dvc.yaml's order
FOLDERS = {
    "pipeline": "the stages (`python -m pipeline.<stage>`) and commands on top; shared code in the packages below",
    "bench": "timing scripts, run by hand (`make bench`); they print figures, per CPU class",
    "scripts": "commands beside the pipeline (`make tracking-server`, `make push`, `make ui-screenshots`)",
}


def first_sentence(path: Path) -> str:
    """The first sentence of a module's docstring: the one job it does."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(docstring.split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    return (match.group(1) if match else paragraph).rstrip(".")


def entry(name: str, job: str, depth: int) -> list[str]:
    """One tree line (wrapped under the job's column when it is long)."""
    label = "  " * depth + name
    column = max(NAME_COLUMN, len(label) + 2)
    lines = textwrap.wrap(job, WIDTH - column) or [""]
    return [label.ljust(column) + lines[0], *(" " * column + line for line in lines[1:])]


def _top_order(path: Path) -> tuple[int, str]:
    """Stages first, in the pipeline's order, then the commands by name."""
    return (STAGES.index(path.stem), "") if path.stem in STAGES else (len(STAGES), path.stem)


def package_lines(package: Path, depth: int) -> list[str]:
    """A package's modules, then its subpackages, each with its job."""
    modules = sorted((p for p in package.glob("*.py") if p.name != "__init__.py"), key=_top_order)
    lines = [line for module in modules for line in entry(module.name, first_sentence(module), depth)]
    for sub in sorted(p.parent for p in package.glob("*/__init__.py")):
        lines += entry(f"{sub.name}/", first_sentence(sub / "__init__.py"), depth)
        lines += package_lines(sub, depth + 1)
    return lines


def tree(root: Path = ROOT) -> str:
    """The whole code tree, as the README shows it."""
    lines = []
    for folder, job in FOLDERS.items():
        lines += entry(f"{folder}/", job, 0)
        lines += package_lines(root / folder, 1)
    return "\n".join(lines)


def readme_block(text: str) -> str | None:
    """The tree the README holds between its markers, or None when the markers are missing."""
    match = re.search(rf"{re.escape(BEGIN)}\n```\n(.*?)\n```\n{re.escape(END)}", text, re.S)
    return match.group(1) if match else None


def with_tree(text: str, made: str) -> str:
    """The README's text with `made` between its markers."""
    if readme_block(text) is None:
        raise SystemExit(f"error: {README.name} has no `{BEGIN}` ... `{END}` block: add the two markers")
    block = f"{BEGIN}\n```\n{made}\n```\n{END}"
    return re.sub(rf"{re.escape(BEGIN)}\n```\n.*?\n```\n{re.escape(END)}", lambda _: block, text, flags=re.S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="put the tree into README.md")
    args = parser.parse_args()
    made = tree()
    if args.write:
        README.write_text(with_tree(README.read_text(encoding="utf-8"), made), encoding="utf-8")
    else:
        sys.stdout.write(made + "\n")


if __name__ == "__main__":
    main()
