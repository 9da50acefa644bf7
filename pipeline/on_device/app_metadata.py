"""The app flavour's metadata, written and read with MediaPipe's metadata library: the class names and the
input's normalization, which MediaPipe's ImageClassifier needs to take the file.

The writer is `metadata_writers.image_classifier.MetadataWriter` (labels, normalization mean 0 and std 1:
the graph takes raw pixels). It is imported with pipeline/compat/mediapipe_metadata_version.py's
stand-in for a compiled module mediapipe's wheels lack. tflite-support's own writer is no option:
unmaintained, no Python 3.12 or 3.13 wheels, protobuf < 4.
"""

import json
import types

from pipeline.compat.mediapipe_metadata_version import metadata_version_stand_in
from pipeline.core.errors import PipelineError
from pipeline.core.native_logs import quiet_native_logs


def _metadata_modules() -> types.SimpleNamespace:
    """MediaPipe's metadata module and writers, imported with the stand-in where it is needed."""
    with metadata_version_stand_in(), quiet_native_logs():
        from mediapipe.tasks.python.metadata import metadata
        from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer
    return types.SimpleNamespace(metadata=metadata, image_classifier=image_classifier, writer=metadata_writer)


def with_metadata(content: bytes, class_names: tuple[str, ...]) -> bytes:
    """The file with MediaPipe's image-classifier metadata: the class names (as `labels.txt`) in output
    order and normalization mean 0, std 1 (the graph takes raw pixels)."""
    modules = _metadata_modules()
    image_classifier, metadata_writer = modules.image_classifier, modules.writer
    labels = metadata_writer.Labels().add(list(class_names))
    try:
        writer = image_classifier.MetadataWriter.create(bytearray(content), [0.0], [1.0], labels)
        return bytes(writer.populate()[0])
    except ValueError as error:
        raise PipelineError(f"cannot write the app flavour's metadata: {error}".splitlines()[0]) from error


def read_metadata(content: bytes) -> dict:
    """The file's metadata as MediaPipe reads it, `{"metadata": <its JSON>, "labels": [class names]}`, or a
    PipelineError when it has none."""
    metadata = _metadata_modules().metadata
    try:
        displayer = metadata.MetadataDisplayer.with_model_buffer(bytearray(content))
    except ValueError as error:
        raise PipelineError(f"the file has no MediaPipe metadata: {error}".splitlines()[0]) from error
    labels = [
        displayer.get_associated_file_buffer(name).decode().splitlines()
        for name in displayer.get_packed_associated_file_list()
    ]
    return {"metadata": json.loads(displayer.get_metadata_json()), "labels": labels[0] if labels else []}
