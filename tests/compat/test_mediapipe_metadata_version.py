"""Canary for pipeline/compat/mediapipe_metadata_version.py: fails when mediapipe's metadata library no longer
needs the stand-in (upstream fixed it) or no longer imports the module it stands in for (the internal is gone):
either way, delete the workaround."""

import importlib.util
import re
import sys

from pipeline.compat import mediapipe_metadata_version as compat

DELETE = "delete pipeline/compat/mediapipe_metadata_version.py and import MediaPipe's metadata writer directly"


def _metadata_source() -> str:
    spec = importlib.util.find_spec("mediapipe.tasks.python.metadata.metadata")
    return open(spec.origin, encoding="utf-8").read()


def test_mediapipe_still_lacks_the_compiled_version_module():
    assert not compat.has_module(compat.VERSION_MODULE), (
        f"the installed mediapipe now ships {compat.VERSION_MODULE}: {DELETE}"
    )


def test_the_metadata_library_still_imports_the_module_the_stand_in_replaces():
    package, name = compat.VERSION_MODULE.rsplit(".", 1)
    imported = re.search(rf"^from {re.escape(package)} import {name}$", _metadata_source(), re.MULTILINE)
    assert imported, f"mediapipe's metadata library no longer imports {compat.VERSION_MODULE}: {DELETE}"
    assert "GetMinimumMetadataParserVersion" in _metadata_source(), f"it no longer asks for the version: {DELETE}"


def test_with_the_stand_in_the_version_is_the_minimum_parser_version_and_it_is_gone_after():
    with compat.metadata_version_stand_in():
        from mediapipe.tasks.cc.metadata.python import _pywrap_metadata_version

        assert _pywrap_metadata_version.GetMinimumMetadataParserVersion(b"") == compat.MIN_PARSER_VERSION
    assert compat.VERSION_MODULE not in sys.modules and compat.VERSION_PACKAGE not in sys.modules


def test_a_module_whose_parent_package_is_missing_is_not_there():
    assert not compat.has_module("no_such_package_here.module")
    assert compat.has_module("json")
