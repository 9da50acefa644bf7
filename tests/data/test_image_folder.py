"""A folder of your own images, one subfolder per class, read into arrays."""

import numpy as np
import pytest
from conftest import FOLDER_CLASSES, write_image_folder

from pipeline.core.errors import PipelineError
from pipeline.data.image_folder import IMAGE_SUFFIXES, find_class_folders, load_image_folder


def test_an_image_folder_is_loaded_with_its_class_names_in_label_order(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", per_class=5, size=16)
    assert find_class_folders(folder) == sorted(FOLDER_CLASSES)
    images, labels, class_names = load_image_folder(folder, (16, 16), "rgb")
    assert class_names == list(FOLDER_CLASSES)
    assert images.dtype == np.uint8 and images.shape == (15, 16, 16, 3)
    np.testing.assert_array_equal(np.bincount(labels), [5, 5, 5])
    brightest_channel = [images[labels == label].mean(axis=(0, 1, 2)).argmax() for label in range(3)]
    assert brightest_channel == [2, 1, 0]  # blue stripes, green discs, red squares
    grey, _, _ = load_image_folder(folder, (12, 10), "grayscale")
    assert grey.shape == (15, 12, 10)


def test_an_image_that_cannot_be_read_is_an_error_naming_the_folder(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", per_class=2, size=8)
    (folder / FOLDER_CLASSES[0] / "broken.png").write_bytes(b"not a png")
    with pytest.raises(PipelineError) as caught:
        load_image_folder(folder, (8, 8), "rgb")
    message = str(caught.value)
    assert message.startswith(f"{folder}: an image cannot be read: ")
    assert "\n" not in message


def test_a_missing_image_folder_is_named(tmp_path):
    with pytest.raises(PipelineError) as caught:
        find_class_folders(tmp_path / "flower_photos")
    assert str(caught.value) == f"data.image_folder.directory: {tmp_path / 'flower_photos'} does not exist"


def test_an_image_folder_needs_two_class_folders(tmp_path):
    (tmp_path / "roses").mkdir()
    (tmp_path / "roses" / "a.png").write_bytes(b"")
    (tmp_path / ".cache").mkdir()  # hidden folders are not classes, for Keras either
    with pytest.raises(PipelineError) as caught:
        find_class_folders(tmp_path)
    assert str(caught.value) == f"{tmp_path} needs one subfolder of images per class, at least 2; found only 'roses'"


def test_a_class_folder_without_images_is_named(tmp_path):
    for name in ("roses", "tulips"):
        (tmp_path / name).mkdir()
    (tmp_path / "roses" / "nested").mkdir()
    (tmp_path / "roses" / "nested" / "A.JPG").write_bytes(b"")  # found below the class folder, any case
    (tmp_path / "tulips" / "notes.txt").write_text("no pictures yet")
    with pytest.raises(PipelineError) as caught:
        find_class_folders(tmp_path)
    assert str(caught.value) == f"{tmp_path}: class folder 'tulips' holds no images ({', '.join(IMAGE_SUFFIXES)})"
