"""Workaround: a stand-in for `tensorflow.tools.docs`, which MediaPipe Tasks imports (all of TensorFlow, about
5 s) for no-op documentation decorators whenever TensorFlow is installed.

Upstream: https://github.com/google-ai-edge/mediapipe/blob/master/mediapipe/tasks/python/core/optional_dependencies.py
tries `from tensorflow.tools.docs import doc_controls` ("only required in the API docgen pipeline") and
falls back to a no-op `do_not_generate_docs` only when TensorFlow is not installed. No upstream issue reports
the cost (searched the google-ai-edge/mediapipe issues for `doc_controls` / `tensorflow.tools.docs`).

What breaks without it: nothing fails, but every import of MediaPipe Tasks (pipeline/on_device/
mediapipe_classifier.py, so `python -m pipeline.predict` on an app-flavour file) pays for TensorFlow's import,
and its start-up lines, though MediaPipe never runs TensorFlow.

The stand-in offers `doc_controls.do_not_generate_docs` as the identity, as MediaPipe's own fallback does; it
is in place only while MediaPipe Tasks is imported, and only when TensorFlow is not imported already.

Delete this module (and its use in pipeline/on_device/mediapipe_classifier.py) when the installed mediapipe no
longer imports `tensorflow.tools.docs`: tests/compat/test_mediapipe_tensorflow_docs.py fails then.
"""

import contextlib
import sys
import types
from collections.abc import Iterator

DOCS_MODULE = "tensorflow.tools.docs"


@contextlib.contextmanager
def without_tensorflow_docs() -> Iterator[None]:
    """While importing MediaPipe Tasks, a stand-in for `tensorflow.tools.docs.doc_controls` (decorators that
    only mark what TensorFlow's API docs leave out) unless TensorFlow is already imported: MediaPipe imports
    all of TensorFlow for it when TensorFlow is installed, as it is here."""
    if "tensorflow" in sys.modules or DOCS_MODULE in sys.modules:
        yield
        return
    docs = types.ModuleType(DOCS_MODULE)
    docs.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda function: function)
    sys.modules[DOCS_MODULE] = docs
    try:
        yield
    finally:
        del sys.modules[DOCS_MODULE]
