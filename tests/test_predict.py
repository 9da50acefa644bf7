"""Classifying image files with `python -m pipeline.predict`: real Fashion-MNIST test images, saved as
PNG and as photo-like JPEGs, through the exported models, as a user runs it."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project

from pipeline import predict
from pipeline.data.dataset_info import CLASS_NAMES

REPO = Path(__file__).resolve().parent.parent


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.predict", *map(str, args)], cwd=REPO, capture_output=True, text=True
    )


def test_top_classes_are_the_most_probable_with_softmax_probabilities():
    logits = np.log(np.array([[0.05, 0.6, 0.1, 0.25, 0, 0, 0, 0, 0, 0]]) + 1e-12)
    [classes] = predict.top_classes(logits, 2, CLASS_NAMES)
    assert [name for name, _ in classes] == ["Trouser", "Dress"]
    assert [round(p, 6) for _, p in classes] == [0.6, 0.25]
    assert predict.format_line("shirt.jpg", classes) == "shirt.jpg: Trouser 60.0%, Dress 25.0%"


def test_the_command_prints_one_line_per_image_or_json(model_files, image_files):
    images = [image_files["jpeg"][0], image_files["png"][1]]
    result = _run(*images, "--model", model_files["int8"])
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, image in zip(lines, images):
        assert re.fullmatch(rf"{re.escape(str(image))}: (.+ \d+\.\d%, ){{2}}.+ \d+\.\d%", line), line

    result = _run(*images, "--model", model_files["int8"], "--top", "2", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == str(model_files["int8"])
    assert [entry["image"] for entry in output["images"]] == [str(image) for image in images]
    for entry, line in zip(output["images"], lines):
        predictions = entry["predictions"]
        assert len(predictions) == 2 and {p["class"] for p in predictions} <= set(CLASS_NAMES)
        assert 1 >= predictions[0]["probability"] >= predictions[1]["probability"] >= 0
        shown = ", ".join(f"{p['class']} {p['probability']:.1%}" for p in predictions)
        assert line.startswith(f"{entry['image']}: {shown}, ")  # the same numbers as the one-line output


def test_a_tflite_model_runs_without_importing_tensorflow(model_files, image_files):
    code = (
        "import sys; from pipeline.on_device import classifier; from pipeline.data import photos; "
        f"classify = classifier.load_model({str(model_files['int8'])!r}, 1); "
        f"classify(photos.prepare_for(photos.open_image({str(image_files['png'][0])!r}), classify.input_shape)[None]); "
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'tensorflow', 'keras'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, model_files, image_files) -> dict[str, tuple[list, Path]]:
    """Command-line arguments that must fail, and the file the error must name."""
    import keras

    directory = tmp_path_factory.mktemp("bad")
    text = directory / "notes.png"
    text.write_text("not a picture\n")
    truncated = directory / "truncated.tflite"
    truncated.write_bytes(model_files["float32"].read_bytes()[:5000])
    wide = directory / "cifar.keras"
    keras.Sequential([keras.Input((32, 32)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(wide)
    image, model = image_files["png"][0], model_files["float32"]
    missing = directory / "missing.jpg"
    return {
        "text file named .png": ([text, "--model", model], text),
        "missing image": ([image, missing, "--model", model], missing),
        "image as --model": ([image, "--model", image], image),
        "truncated .tflite": ([image, "--model", truncated], truncated),
        "32×32 Keras model": ([image, "--model", wide], wide),
    }


@pytest.mark.parametrize(
    "case", ["text file named .png", "missing image", "image as --model", "truncated .tflite", "32×32 Keras model"]
)
def test_bad_files_fail_with_one_line_naming_the_file(case, bad_files):
    args, culprit = bad_files[case]
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and str(culprit) in line, line


@pytest.mark.parametrize("top", ["0", "-1", "two", "1.5"])
def test_a_bad_top_is_refused_by_the_parser_in_one_line(top, model_files, image_files):
    result = _run(image_files["png"][0], "--model", model_files["float32"], "--top", top)
    assert result.returncode == 2 and result.stdout == ""
    assert f"argument --top: must be a whole number of at least 1, not {top!r}" in result.stderr.splitlines()[-1]


def test_without_model_the_best_variants_file_is_used(tmp_path, model_files, image_files):
    """What `python -m pipeline.predict photo.jpg` does after `dvc repro`: the best variant's float32 file."""
    root = copy_project(tmp_path)
    (root / "reports").mkdir()
    (root / "reports" / "comparison.json").write_text('{"best": "cnn"}')
    (root / "models" / "cnn").mkdir(parents=True)
    shutil.copy(model_files["float32"], root / "models" / "cnn" / "model.tflite")
    images = [str(image_files["jpeg"][0]), str(image_files["png"][1])]
    command = [sys.executable, "-m", "pipeline.predict", *images, "--json"]
    by_default = subprocess.run(command, cwd=root, capture_output=True, text=True)
    named = subprocess.run([*command, "--model", str(model_files["float32"])], cwd=root, capture_output=True, text=True)
    assert by_default.returncode == 0 and named.returncode == 0, by_default.stderr
    assert json.loads(by_default.stdout)["model"] == "models/cnn/model.tflite"
    assert json.loads(by_default.stdout)["images"] == json.loads(named.stdout)["images"]


@pytest.fixture(scope="module")
def app_file(tmp_path_factory, trained_cnn) -> Path:
    """The small CNN's app flavour (float32, with its metadata), named as export names it."""
    from pipeline.on_device.app_metadata import with_metadata
    from pipeline.on_device.app_model import build_app_model

    path = tmp_path_factory.mktemp("app") / "model_app.tflite"
    path.write_bytes(with_metadata(build_app_model(trained_cnn), CLASS_NAMES))
    return path


def test_the_app_flavour_gives_mediapipes_answer_for_the_same_files(app_file, image_files):
    from pipeline.data import photos
    from pipeline.on_device import mediapipe_classifier

    files = image_files["jpeg"][:5] + image_files["png"][:3]
    result = _run(*files, "--model", app_file, "--top", "10", "--json")
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)["images"]
    pictures = [photos.app_pixels(photos.open_image(path)) for path in files]
    scores, class_names = mediapipe_classifier.classify_pictures(app_file, pictures)
    assert class_names == list(CLASS_NAMES)
    for shown, expected in zip(answered, scores):
        classes = [prediction["class"] for prediction in shown["predictions"]]
        assert classes[0] == CLASS_NAMES[int(expected.argmax())]
        for prediction in shown["predictions"]:
            assert prediction["probability"] == pytest.approx(
                expected[CLASS_NAMES.index(prediction["class"])], abs=1e-6
            )
