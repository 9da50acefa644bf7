"""The preprocess stage as a user runs it (`python -m pipeline.preprocess`)."""

import json
import sys

import numpy as np
from conftest import FOLDER_CLASSES, copy_project, edit_params, run_command, write_image_folder

from pipeline.core.paths import RAW_DIR, ROOT
from pipeline.data.idx import RAW_FILES


def test_preprocess_without_fetched_data_says_to_run_fetch(tmp_path):
    root = copy_project(tmp_path / "project")
    result = run_command([sys.executable, "-m", "pipeline.preprocess"], root, check=False)
    assert result.returncode == 2
    first_file = root / RAW_DIR.relative_to(ROOT) / RAW_FILES["train"][0]
    assert result.stderr.splitlines() == [f"error: {first_file} is missing: run the fetch stage first (dvc repro)"]
    assert not (root / "data" / "prepared").exists()


def test_an_image_folder_is_fetched_and_prepared_with_its_class_names_and_shape(tmp_path):
    root = copy_project(tmp_path / "project")
    write_image_folder(root / "shapes", per_class=40, size=16)

    def use_folder(params):
        params["data"]["dataset"] = "image_folder"
        params["data"]["image_folder"] = {"directory": "shapes", "image_size": [16, 16], "color_mode": "rgb"}

    edit_params(root, use_folder)
    for stage in ("fetch", "preprocess"):
        run_command([sys.executable, "-m", f"pipeline.{stage}"], root)  # "shapes" is relative to the root
    assert json.loads((root / "data" / "raw" / "classes.json").read_text()) == list(FOLDER_CLASSES)
    dataset = json.loads((root / "data" / "prepared" / "dataset.json").read_text())
    assert dataset == {"name": "image_folder", "class_names": list(FOLDER_CLASSES), "image_shape": [16, 16, 3]}
    counts = json.loads((root / "reports" / "data" / "summary.json").read_text())["counts"]
    assert counts["test"] == {"total": 24} | dict.fromkeys(FOLDER_CLASSES, 8)  # test_fraction 0.2 of 40 each
    assert counts["train"]["total"] + counts["val"]["total"] == 96
    assert all(counts["val"][name] in (3, 4) for name in FOLDER_CLASSES)
    with np.load(root / "data" / "prepared" / "train.npz") as train:
        assert train["images"].shape == (counts["train"]["total"], 16, 16, 3)
    assert (root / "reports" / "data" / "samples.png").read_bytes()[:4] == b"\x89PNG"
