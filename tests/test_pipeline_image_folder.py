"""End to end: the real `dvc repro` on a folder of your own images (16×16 RGB pictures in three classes),
through every stage, with its class names; in a file of its own so that `make test` runs it beside
test_pipeline.py's Fashion-MNIST project."""

import re
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import (
    FOLDER_CLASSES,
    copy_project,
    edit_params,
    init_git,
    run_command,
    stages_run,
    write_image_folder,
)

from pipeline.core.files import read_json

pytestmark = pytest.mark.slow  # the real `dvc repro` on a copy of the project


FOLDER_VARIANTS = {
    "mlp": {"model": "mlp", "hidden_units": [32], "epochs": 2, "batch_size": 16, "learning_rate": 0.003},
    "cnn": {"model": "cnn", "filters": [8, 16], "hidden_units": [16], "epochs": 2, "batch_size": 16},
}


def _on_folder(directory: Path):
    def edit(params: dict) -> None:
        folder = {"directory": str(directory), "image_size": [16, 16], "color_mode": "rgb", "test_fraction": 0.2}
        params["data"] |= {"dataset": "image_folder", "limit": None, "image_folder": folder}
        params["variants"] = FOLDER_VARIANTS
        params["run_variants"] = list(FOLDER_VARIANTS)
        params["seeds"] = [1]
        params["compare"]["effects"] = {"model": [["mlp", "cnn"]]}
        params["gate"]["min_test_accuracy_by_variant"] = {}
        params["export"] = {"representative_images": 50, "latency_runs": 20, "throughput_batch": 32}
        params["export"]["app"] = {"calibration_images": 20, "test_images": 20, "mediapipe_images": 20}

    return edit


@pytest.fixture(scope="module")
def folder_project(tmp_path_factory):
    base = tmp_path_factory.mktemp("folder")
    folder = write_image_folder(base / "shapes", per_class=40, size=16)
    root = copy_project(base / "project")
    edit_params(root, _on_folder(folder))
    init_git(root)
    result = run_command(["dvc", "repro"], root)
    return root, folder, result.stdout


def test_an_image_folder_runs_through_every_stage_with_its_class_names(folder_project):
    root, _, output = folder_project
    stages = {f"{stage}@{v}-1" for stage in ("train", "evaluate") for v in FOLDER_VARIANTS}
    stages |= {f"export@{v}" for v in FOLDER_VARIANTS}
    assert stages_run(output) == {"fetch", "preprocess", "compare"} | stages
    dataset = read_json(root / "data" / "prepared" / "dataset.json")
    assert dataset["class_names"] == list(FOLDER_CLASSES) and dataset["image_shape"] == [16, 16, 3]
    comparison = read_json(root / "reports" / "comparison.json")
    assert [row["variant"] for row in comparison["variants"]] == list(FOLDER_VARIANTS)
    for variant in FOLDER_VARIANTS:
        reports = root / "reports" / "variants" / variant / "seed-1"
        assert sorted(read_json(reports / "per_class.json")) == sorted(FOLDER_CLASSES)
        assert set((reports / "predictions.csv").read_text().split()[1:]) <= {
            f"{actual},{predicted}" for actual in FOLDER_CLASSES for predicted in FOLDER_CLASSES
        }
        assert (root / "models" / variant / "labels.txt").read_text().splitlines() == list(FOLDER_CLASSES)
    assert run_command(["dvc", "status"], root).stdout.strip().endswith("up to date.")


def test_an_image_folders_runs_and_model_are_named_after_the_folder(folder_project):
    """Runs on another dataset never mix with Fashion-MNIST's: the experiment is the folder's name, and so is
    the registered model's (`<folder>-classifier`)."""
    root, folder, output = folder_project
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    names = {experiment.name for experiment in mlflow.search_experiments()}
    assert folder.name in names and "fashion-mnist" not in names
    assert f"registry: {folder.name}-classifier version 1 is " in output
    report = (root / "reports" / "comparison.md").read_text()
    assert "Confounded: the two also differ in" in report  # FOLDER_VARIANTS' recipes differ: flagged, not hidden


def test_an_image_folder_model_runs_in_litert_and_predict_names_a_folder_class(folder_project):
    root, folder, _ = folder_project
    model = root / "models" / "cnn" / "model.tflite"
    interpreter = Interpreter(model_path=str(model))
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 16, 16, 3]
    with np.load(root / "data" / "prepared" / "test.npz", allow_pickle=False) as test:
        images = test["images"]
    logits = interpreter.get_signature_runner()(pixels=images.astype(np.float32))["logits"]
    assert logits.shape == (len(images), len(FOLDER_CLASSES))
    picture = folder / "red_squares" / "000.png"
    result = run_command([sys.executable, "-m", "pipeline.predict", str(picture), "--model", str(model)], root)
    shown = re.fullmatch(
        rf"{re.escape(str(picture))}: (\w+) \d+\.\d%, (\w+) \d+\.\d%, (\w+) \d+\.\d%", result.stdout.strip()
    )
    assert shown and sorted(shown.groups()) == sorted(FOLDER_CLASSES), result.stdout
