"""Canary for pipeline/compat/mediapipe_tensorflow_docs.py: fails when MediaPipe Tasks no longer imports
`tensorflow.tools.docs` (upstream fixed it, or the internal is gone), or uses more of it than the stand-in
offers: either way, the workaround must go or change."""

import importlib.util
import re
import subprocess
import sys

from conftest import REPOSITORY

from pipeline.compat import mediapipe_tensorflow_docs as compat

DELETE = "delete pipeline/compat/mediapipe_tensorflow_docs.py and import MediaPipe directly"
OPTIONAL = "mediapipe.tasks.python.core.optional_dependencies"


def _optional_dependencies_source() -> str:
    return open(importlib.util.find_spec(OPTIONAL).origin, encoding="utf-8").read()


def test_mediapipe_still_imports_tensorflow_for_its_docs_decorators():
    source = _optional_dependencies_source()
    assert re.search(rf"^\s*from {re.escape(compat.DOCS_MODULE)} import doc_controls$", source, re.MULTILINE), (
        f"MediaPipe Tasks no longer imports {compat.DOCS_MODULE}: {DELETE}"
    )


def test_the_stand_in_offers_all_mediapipe_uses_of_it():
    uses = set(re.findall(r"doc_controls\.(\w+)", _optional_dependencies_source()))
    assert uses <= {"do_not_generate_docs"}, f"MediaPipe now uses doc_controls.{uses}: extend the stand-in or {DELETE}"


def test_with_the_stand_in_mediapipe_tasks_load_without_tensorflow():
    code = (
        "import sys\n"
        "from pipeline.compat.mediapipe_tensorflow_docs import without_tensorflow_docs\n"
        "with without_tensorflow_docs():\n"
        f"    import {OPTIONAL}\n"
        "print('tensorflow' in sys.modules, 'tensorflow.tools.docs' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_stand_in_is_not_put_in_when_tensorflow_is_imported_already(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    monkeypatch.delitem(sys.modules, compat.DOCS_MODULE, raising=False)
    with compat.without_tensorflow_docs():
        assert compat.DOCS_MODULE not in sys.modules
