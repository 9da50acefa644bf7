"""The export stage itself: which seed's model it ships, and the lines it writes and prints."""

import sys

import pytest

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import SeedPaths, VariantPaths
from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.export import app_line, labels_text
from pipeline.tracking.stage_run import open_stage


def test_labels_text_names_one_class_a_line_in_output_order():
    assert labels_text(CLASS_NAMES, len(CLASS_NAMES)).splitlines() == list(CLASS_NAMES)


def test_a_model_scoring_another_number_of_classes_is_refused_with_the_fix():
    with pytest.raises(PipelineError, match=f"scores 3 classes but the prepared dataset has {len(CLASS_NAMES)}: "):
        labels_text(CLASS_NAMES, 3)


def test_the_app_line_names_the_shipped_flavour_and_its_figures():
    rgb = {"accuracy": 0.93154, "images": 10000, "latency_ms_median": 0.8912}
    photo = {"accuracy": 0.91742, "accuracy_ci_low": 0.89901, "accuracy_ci_high": 0.93299, "images": 1000}
    app = {"flavour": "int8", "int8": {"size_bytes": 441305, "rgb": rgb, "photo_like": photo}}
    assert app_line("cnn", app) == (
        "cnn app (int8): accuracy 0.9315 RGB (10,000 images), 0.9174 photo-like (0.8990-0.9330, 1,000 images), "
        "441,305 bytes, 0.89 ms/image in MediaPipe"
    )
    del app["int8"]["photo_like"]  # a model of another dataset has no photo-like set
    assert "photo-like" not in app_line("cnn", app)


def test_export_ships_the_first_training_seeds_model_and_evaluate_reads_the_seed_it_is_given(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # a local store: nothing to reach
    params = config.load_params()
    name = params.run_variants[0]
    monkeypatch.setattr(sys, "argv", ["export", name])
    stage = open_stage(None, per_seed=False)
    assert (stage.name, stage.seed) == (name, params.shipped_seed) and params.shipped_seed == params.seeds[0]
    assert (stage.paths, stage.seed_paths) == (VariantPaths(name), SeedPaths(name, params.seeds[0]))
    monkeypatch.setattr(sys, "argv", ["evaluate", name, "5"])
    stage = open_stage(None, per_seed=True)
    assert (stage.seed, stage.seed_paths) == (5, SeedPaths(name, 5))
