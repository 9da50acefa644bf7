import pytest

from pipeline.core.errors import PipelineError
from pipeline.on_device.tflite_file import read_tflite


def test_a_files_bytes_are_read(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"TFL3 and the rest")
    assert read_tflite(tmp_path / "model.tflite") == b"TFL3 and the rest"


def test_a_missing_or_empty_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(PipelineError, match=r"^cannot read .*missing.tflite: No such file or directory$"):
        read_tflite(tmp_path / "missing.tflite")
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(PipelineError, match=r"^the app's model is empty, not a TensorFlow Lite model$"):
        read_tflite(tmp_path / "empty.tflite", "the app's model")
