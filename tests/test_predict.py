"""Classifying image files with `python -m pipeline.predict`: real Fashion-MNIST test images, saved as
PNG and as photo-like JPEGs (dark garment on white, upscaled, off-center), through every exported model."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import config, predict
from pipeline.cli import PipelineError
from pipeline.config import CLASS_NAMES, TFLITE_FLAVOURS, VariantPaths
from pipeline.export import convert, representative_images

REPO = Path(__file__).resolve().parent.parent
SAMPLE = 200  # real test images classified from files


def _png(pixels: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return Image.open(buffer)


def _photo(pixels: np.ndarray) -> Image.Image:
    """A product-photo-like RGB picture of a Fashion-MNIST image: dark on white, 4× larger, off-center."""
    garment = Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BICUBIC)
    photo = Image.new("RGB", (200, 160), "white")
    photo.paste(garment, (20, 40))
    return photo


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, trained_cnn, real_data) -> dict[str, Path]:
    """The small trained CNN as every `.tflite` flavour, named as the export stage names them, and as `.keras`."""
    directory = tmp_path_factory.mktemp("models")
    paths = VariantPaths("cnn")
    contents = convert(trained_cnn, representative_images(real_data.train_images, count=200, seed=0))
    files = {}
    for flavour, content in contents.items():
        files[flavour] = directory / paths.tflite(flavour).name
        files[flavour].write_bytes(content)
    files["keras"] = directory / "model.keras"
    trained_cnn.save(files["keras"])
    return files


@pytest.fixture(scope="module")
def sample(real_data, trained_cnn):
    """The first real test images, their labels and the trained CNN's own top-1 on the arrays."""
    images, labels = real_data.test_images[:SAMPLE], real_data.test_labels[:SAMPLE]
    return images, labels, trained_cnn.predict(images.astype(np.float32), verbose=0).argmax(1)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, sample) -> dict[str, list[Path]]:
    """The sample as PNG files (Fashion-MNIST as is) and as photo-like JPEG files."""
    directory = tmp_path_factory.mktemp("images")
    files = {"png": [], "jpeg": []}
    for index, pixels in enumerate(sample[0]):
        files["png"].append(directory / f"test{index}.png")
        Image.fromarray(pixels).save(files["png"][-1])
        files["jpeg"].append(directory / f"photo{index}.jpg")
        _photo(pixels).save(files["jpeg"][-1], quality=90)
    return files


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.predict", *map(str, args)], cwd=REPO, capture_output=True, text=True
    )


# --- From a picture to the model's input ------------------------------------------------------------


def test_a_fashion_mnist_image_saved_as_png_comes_back_nearly_unchanged(real_data):
    originals = real_data.test_images
    prepared = np.stack([predict.prepare_image(_png(pixels)) for pixels in originals])
    assert prepared.shape == originals.shape and prepared.dtype == np.float32
    difference = np.abs(prepared - originals).reshape(len(originals), -1)
    # Only images with faint (< 5%) pixels at an edge change: those are trimmed and rescaled a little.
    assert (difference.max(axis=1) == 0).mean() >= 0.8
    assert difference.mean() < 3


def test_a_product_photo_becomes_a_light_garment_centered_on_black(real_data):
    correlations = []
    for pixels in real_data.test_images[:50]:
        prepared = predict.prepare_image(_photo(pixels))
        assert prepared.shape == (28, 28) and prepared.min() >= 0 and prepared.max() <= 255
        correlations.append(np.corrcoef(prepared.ravel(), pixels.ravel())[0, 1])
    # Inverted, the white margin trimmed, scaled back to 28 and centered: close to the original, if a little
    # blurred by the up- and downscaling (thin sandal straps most).
    assert np.mean(correlations) > 0.9 and min(correlations) > 0.75


@pytest.mark.parametrize(
    "garment_size, photo_size, background, noise",
    [(400, (620, 540), 240, 4), (400, (620, 540), 190, 8), (1400, (3000, 2200), 200, 6)],
    ids=["off-white", "grey and noisier", "phone-sized"],
)
def test_a_noisy_background_is_handled_like_white(real_data, garment_size, photo_size, background, noise):
    pixels = real_data.test_images[0]
    garment = np.asarray(Image.fromarray(pixels).resize((garment_size,) * 2, Image.Resampling.BICUBIC), np.float32)
    photo = np.full(photo_size, float(background))
    top, left = photo_size[0] // 10, photo_size[1] // 4
    photo[top : top + garment_size, left : left + garment_size] -= garment * background / 255
    photo += np.random.default_rng(0).normal(0, noise, photo.shape)  # sensor noise
    buffer = io.BytesIO()
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    prepared = predict.prepare_image(Image.open(buffer))
    assert np.corrcoef(prepared.ravel(), pixels.ravel())[0, 1] > 0.9


def test_transparent_parts_count_as_white_background(real_data):
    pixels = real_data.test_images[1]
    dark_garment = np.zeros((28, 28, 4), np.uint8)  # black everywhere, opaque only where the garment is
    dark_garment[..., 3] = pixels
    prepared = predict.prepare_image(Image.fromarray(dark_garment, "RGBA"))
    np.testing.assert_allclose(prepared, predict.prepare_image(_png(pixels)), atol=1)


def test_a_blank_picture_gives_a_black_canvas():
    np.testing.assert_array_equal(predict.prepare_image(Image.new("RGB", (40, 30), "white")), np.zeros((28, 28)))


# --- Classifying files ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [*TFLITE_FLAVOURS, "keras"])
def test_image_files_are_classified_as_the_model_classifies_the_arrays(model, model_files, image_files, sample):
    _, labels, model_top1 = sample
    classify = predict.load_model(model_files[model], threads=2)
    for kind, paths in image_files.items():
        predictions = predict.top_classes(classify(predict.read_images(paths)), 3, classify.class_names)
        top1 = np.array([CLASS_NAMES.index(classes[0][0]) for classes in predictions])
        assert (top1 == model_top1).mean() >= 0.9, (model, kind)
        accuracy, model_accuracy = (top1 == labels).mean(), (model_top1 == labels).mean()
        assert accuracy >= 0.6 and accuracy >= model_accuracy - 0.05, (model, kind)  # chance is 0.1
        assert all(len(classes) == 3 and classes[0][1] >= classes[1][1] >= classes[2][1] for classes in predictions)


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
        "import sys; from pipeline import predict; "
        f"predict.load_model({str(model_files['int8'])!r}, 1)(predict.read_images([{str(image_files['png'][0])!r}])); "
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'tensorflow', 'keras'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


# --- What a user can get wrong ----------------------------------------------------------------------


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


def test_a_keras_model_must_score_the_ten_classes(tmp_path):
    import keras

    path = tmp_path / "five.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]).save(path)
    with pytest.raises(PipelineError, match=r"five.keras returns \[batch, 5\], not \[batch, 10\]"):
        predict.load_model(path, threads=1)


def test_a_keras_model_taking_images_with_a_channel_axis_works_too(tmp_path, image_files):
    import keras

    path = tmp_path / "channels.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(path)
    logits = predict.load_model(path, threads=1)(predict.read_images(image_files["png"][:3]))
    assert logits.shape == (3, 10)


def test_a_broken_keras_file_is_refused_by_name(tmp_path, model_files):
    path = tmp_path / "cut.keras"
    path.write_bytes(model_files["keras"].read_bytes()[:3000])
    with pytest.raises(PipelineError, match=r"cut.keras is not a Keras model"):
        predict.load_model(path, threads=1)


def test_class_names_come_from_labels_txt_beside_the_model(tmp_path):
    (tmp_path / "labels.txt").write_text("daisy\nrose\ntulip\n")
    labels = predict.labels_for(tmp_path / "model.tflite")
    assert labels.names == ("daisy", "rose", "tulip") and labels.image_shape is None
    [classes] = predict.top_classes(np.array([[0.0, 2.0, 1.0]]), 5, labels.names)
    assert [name for name, _ in classes] == ["rose", "tulip", "daisy"]  # --top beyond the classes shows them all


def test_a_picture_for_an_rgb_model_is_resized_in_colour():
    picture = Image.new("RGBA", (90, 60), (0, 0, 0, 0))
    picture.paste((255, 0, 0, 255), (0, 0, 45, 60))  # left half red, right half transparent
    pixels = predict.prepare_for(picture, (16, 20, 3))
    assert pixels.shape == (16, 20, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, 0], [[255, 0, 0]] * 16)
    np.testing.assert_allclose(pixels[:, -1], [[255, 255, 255]] * 16)  # transparent parts are white
    assert predict.prepare_for(picture, (16, 20)).shape == (16, 20)


def test_without_a_comparison_there_is_no_default_model(tmp_path):
    with pytest.raises(PipelineError, match=r"comparison.json is missing.*run `dvc repro`, or pass --model"):
        predict.default_model(tmp_path / "comparison.json")
    (tmp_path / "comparison.json").write_text('{"variants": []}')
    with pytest.raises(PipelineError, match=r"names no best variant"):
        predict.default_model(tmp_path / "comparison.json")


def test_the_default_model_is_the_best_variants_float32_file(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    comparison = tmp_path / "comparison.json"
    comparison.write_text('{"best": "cnn_dropout"}')
    with pytest.raises(PipelineError, match=r"best variant's model .*models/cnn_dropout/model.tflite is missing"):
        predict.default_model(comparison)
    (tmp_path / "models" / "cnn_dropout").mkdir(parents=True)
    (tmp_path / "models" / "cnn_dropout" / "model.tflite").write_bytes(b"")
    assert predict.default_model(comparison) == tmp_path / "models" / "cnn_dropout" / "model.tflite"
