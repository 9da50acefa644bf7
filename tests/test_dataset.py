import json

import pytest

from pipeline.dataset import CLASS_NAMES, DatasetInfo, idx_dataset_info, load_dataset_info
from pipeline.errors import PipelineError


def test_dataset_info_round_trips_and_a_missing_file_says_to_run_dvc_repro(tmp_path):
    path = tmp_path / "dataset.json"
    with pytest.raises(PipelineError, match=r"dataset.json is missing: run the preprocess stage first \(dvc repro\)"):
        load_dataset_info(path)
    info = DatasetInfo("image_folder", ("daisy", "rose"), (16, 16, 3))
    path.write_text(json.dumps(info.as_json()))
    assert load_dataset_info(path) == info
    assert idx_dataset_info("mnist").class_names == tuple("0123456789")


@pytest.mark.parametrize(
    "content", ['{"name": "x"}', '{"name": "x", "class_names": ["only"], "image_shape": [28, 28]}', "not json"]
)
def test_a_malformed_dataset_description_says_to_rerun(tmp_path, content):
    path = tmp_path / "dataset.json"
    path.write_text(content)
    with pytest.raises(PipelineError, match=r"dataset.json is not a dataset description: .*run `dvc repro`"):
        load_dataset_info(path)


def test_fashion_mnist_has_its_ten_classes_of_28_by_28_images():
    info = idx_dataset_info("fashion_mnist")
    assert info.class_names == CLASS_NAMES and len(CLASS_NAMES) == 10 and info.image_shape == (28, 28)
