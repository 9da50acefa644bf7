"""Models as classifiers of prepared images: every exported `.tflite` flavour and the `.keras` file of
the small trained CNN, on real test images saved as files; what a wrong model file gets."""

import keras
import numpy as np
import pytest

from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.core.paths import TFLITE_FLAVOURS
from pipeline.data.dataset_info import CLASS_NAMES, load_dataset_info
from pipeline.data.photos import open_image, prepare_for
from pipeline.on_device import classifier
from pipeline.predict import top_classes


def _prepared(files, input_shape) -> np.ndarray:
    return np.stack([prepare_for(open_image(file), input_shape) for file in files])


@pytest.mark.parametrize("model", [*TFLITE_FLAVOURS, "keras"])
def test_image_files_are_classified_as_the_model_classifies_the_arrays(model, model_files, image_files, sample):
    _, labels, model_top1 = sample
    classify = classifier.load_model(model_files[model], threads=2)
    for kind, files in image_files.items():
        pixels = _prepared(files, classify.input_shape)
        predictions = top_classes(classify(pixels), 3, classify.class_names)
        top1 = np.array([CLASS_NAMES.index(classes[0][0]) for classes in predictions])
        assert (top1 == model_top1).mean() >= 0.9, (model, kind)
        accuracy, model_accuracy = (top1 == labels).mean(), (model_top1 == labels).mean()
        assert accuracy >= 0.6 and accuracy >= model_accuracy - 0.05, (model, kind)  # chance is 0.1
        assert all(len(classes) == 3 and classes[0][1] >= classes[1][1] >= classes[2][1] for classes in predictions)


def test_a_keras_model_must_score_the_ten_classes(tmp_path):
    path = tmp_path / "five.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]).save(path)
    with pytest.raises(PipelineError, match=r"five.keras returns \[batch, 5\], not \[batch, 10\]"):
        classifier.load_model(path, threads=1)


def test_a_keras_model_taking_images_with_a_channel_axis_works_too(tmp_path, image_files):
    path = tmp_path / "channels.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(path)
    logits = classifier.load_model(path, threads=1)(_prepared(image_files["png"][:3], (28, 28, 1)))
    assert logits.shape == (3, 10)


def test_a_broken_keras_file_is_refused_by_name(tmp_path, model_files):
    path = tmp_path / "cut.keras"
    path.write_bytes(model_files["keras"].read_bytes()[:3000])
    with pytest.raises(PipelineError, match=r"cut.keras is not a loadable Keras model"):
        classifier.load_model(path, threads=1)


def test_class_names_come_from_labels_txt_beside_the_model(tmp_path):
    (tmp_path / "labels.txt").write_text("daisy\nrose\ntulip\n")
    labels = classifier.labels_for(tmp_path / "model.tflite")
    assert labels.names == ("daisy", "rose", "tulip") and labels.image_shape is None
    [classes] = top_classes(np.array([[0.0, 2.0, 1.0]]), 5, labels.names)
    assert [name for name, _ in classes] == ["rose", "tulip", "daisy"]  # --top beyond the classes shows them all


def test_without_a_comparison_there_is_no_default_model(tmp_path):
    with pytest.raises(PipelineError, match=r"comparison.json is missing.*run `dvc repro`, or pass --model"):
        classifier.default_model(tmp_path / "comparison.json")
    (tmp_path / "comparison.json").write_text('{"variants": []}')
    with pytest.raises(PipelineError, match=r"names no best variant"):
        classifier.default_model(tmp_path / "comparison.json")


def test_the_default_model_is_the_best_variants_float32_file(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "MODELS_DIR", tmp_path / "models")
    comparison = tmp_path / "comparison.json"
    comparison.write_text('{"best": "cnn_dropout"}')
    with pytest.raises(PipelineError, match=r"best variant's model .*models/cnn_dropout/model.tflite is missing"):
        classifier.default_model(comparison)
    (tmp_path / "models" / "cnn_dropout").mkdir(parents=True)
    (tmp_path / "models" / "cnn_dropout" / "model.tflite").write_bytes(b"")
    assert classifier.default_model(comparison) == tmp_path / "models" / "cnn_dropout" / "model.tflite"


def test_a_model_scoring_another_number_of_classes_than_its_dataset_is_refused(tmp_path, monkeypatch):
    """Without labels.txt beside it, a model is checked against the prepared dataset's classes."""
    dataset_file = tmp_path / "dataset.json"
    dataset_file.write_text('{"name": "flowers", "class_names": ["daisy", "rose", "tulip"], "image_shape": [28, 28]}')
    monkeypatch.setattr(classifier, "DATASET_FILE", dataset_file)
    monkeypatch.setattr(classifier, "load_dataset_info", lambda: load_dataset_info(dataset_file))
    path = tmp_path / "ten.keras"
    keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(path)
    with pytest.raises(PipelineError, match=r"ten.keras returns \[batch, 10\], not \[batch, 3\].*flowers"):
        classifier.load_model(path, threads=1)
