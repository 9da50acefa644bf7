"""Workaround: a stand-in for `_pywrap_metadata_version`, the compiled module mediapipe's wheels lack and its
metadata writer imports.

Upstream: MediaPipe's metadata library imports it at the top,
https://github.com/google-ai-edge/mediapipe/blob/master/mediapipe/tasks/python/metadata/metadata.py
(`from mediapipe.tasks.cc.metadata.python import _pywrap_metadata_version`, used by
`MetadataPopulator` for `GetMinimumMetadataParserVersion`), but the mediapipe 1.2.2 wheels ship no
`mediapipe/tasks/cc/metadata/python/` at all. No upstream issue reports it (searched the
google-ai-edge/mediapipe issues for the module's name and the metadata writer's import error).

What breaks without it: importing `mediapipe.tasks.python.metadata` fails with ModuleNotFoundError, so no
app flavour gets metadata (labels, normalization) and MediaPipe's ImageClassifier refuses it.

The stand-in's `GetMinimumMetadataParserVersion` returns "1.0.0": what that function returns for an image
classifier's metadata (input normalization, image properties, a TENSOR_AXIS_LABELS file), as tflite-support
0.4.4 computes it; the later versions are for fields (vocabulary files, tensor groups, tokenizers, audio,
custom metadata) app_metadata.with_metadata does not write. It is put in place only while the writer is
imported, and only when the real module is missing.

Delete this module (and its use in pipeline/on_device/app_metadata.py) when the installed mediapipe ships
`_pywrap_metadata_version` or its metadata library no longer imports it:
tests/compat/test_mediapipe_metadata_version.py fails then.
"""

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator

MIN_PARSER_VERSION = "1.0.0"
VERSION_PACKAGE = "mediapipe.tasks.cc.metadata.python"
VERSION_MODULE = f"{VERSION_PACKAGE}._pywrap_metadata_version"


def has_module(name: str) -> bool:
    """Whether `name` can be imported (False when a parent package is missing too)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@contextlib.contextmanager
def metadata_version_stand_in() -> Iterator[None]:
    """While the metadata writer is imported, a stand-in for the compiled module mediapipe 1.2.2's wheels
    lack (see the module docstring), when it is missing."""
    if has_module(VERSION_MODULE):
        yield
        return
    version = types.ModuleType(VERSION_MODULE)
    version.GetMinimumMetadataParserVersion = lambda metadata_buffer: MIN_PARSER_VERSION
    package = types.ModuleType(VERSION_PACKAGE)
    package._pywrap_metadata_version = version
    sys.modules |= {VERSION_PACKAGE: package, VERSION_MODULE: version}
    try:
        yield
    finally:
        for name in (VERSION_MODULE, VERSION_PACKAGE):
            sys.modules.pop(name, None)
