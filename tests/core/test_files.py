"""Atomic writes and JSON reading."""

import json

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_path, read_json, write_bytes, write_json, write_text


def test_write_json_replaces_content_sorted_and_indented(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    write_json(path, {"z": 0.5, "accuracy": 0.9})
    assert path.read_text() == '{\n  "accuracy": 0.9,\n  "z": 0.5\n}\n'
    assert read_json(path) == {"accuracy": 0.9, "z": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_write_text_creates_parent_directories_and_replaces(tmp_path):
    path = tmp_path / "reports" / "deep" / "note.txt"
    write_text(path, "first")
    write_text(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["note.txt"]


def test_write_bytes_round_trips_binary(tmp_path):
    path = tmp_path / "blob.bin"
    write_bytes(path, bytes(range(256)))
    assert path.read_bytes() == bytes(range(256))


def test_temporary_file_keeps_the_suffix_and_sits_beside_the_target(tmp_path):
    target = tmp_path / "model.keras"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.suffix == ".keras"
        assert temporary != target
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert not temporary.exists()


def test_failed_write_leaves_old_file_untouched_and_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"version": 1})
    with pytest.raises(RuntimeError, match="crash mid-write"), atomic_path(path) as temporary:
        temporary.write_text('{"version": 2, "trunc')
        raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_failed_first_write_leaves_no_file_at_all(tmp_path):
    path = tmp_path / "new.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as temporary:
        temporary.write_text("partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_read_json_of_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"accuracy": 0.9,')
    with pytest.raises(PipelineError) as caught:
        read_json(path)
    assert str(caught.value).startswith(f"{path} is not valid JSON:")


def test_read_json_of_missing_file_says_to_run_the_stage(tmp_path):
    path = tmp_path / "training.json"
    with pytest.raises(PipelineError, match="is missing: run the stage that writes it first"):
        read_json(path)
