import json

import pytest

from pipeline import config
from pipeline.cli import PipelineError
from pipeline.compare import best_variant, markdown_table, variant_row

ROWS = [
    {
        "variant": "mlp",
        "model": "mlp",
        "dropout": 0.0,
        "parameters": 101_770,
        "epochs": 10,
        "train_seconds": 23.04,
        "val_accuracy": 0.87,
        "test_accuracy": 0.86,
        "test_loss": 0.39,
        "train_test_gap": 0.03,
        "tflite_accuracy": 0.86,
        "tflite_size_bytes": 409_788,
    },
    {
        "variant": "cnn",
        "model": "cnn",
        "dropout": 0.3,
        "parameters": 421_642,
        "epochs": 10,
        "train_seconds": 180.0,
        "val_accuracy": 0.92,
        "test_accuracy": 0.915,
        "test_loss": 0.24,
        "train_test_gap": 0.034,
        "tflite_accuracy": 0.915,
        "tflite_size_bytes": 1_691_300,
    },
]


def test_best_is_highest_accuracy_or_lowest_cost():
    assert best_variant(ROWS, "test_accuracy") == "cnn"
    assert best_variant(ROWS, "tflite_size_bytes") == "mlp"
    assert best_variant(ROWS, "train_test_gap") == "mlp"


def test_table_has_a_row_per_variant_and_stars_the_best():
    lines = markdown_table(ROWS, best="cnn").splitlines()
    assert lines[0].startswith("| variant | model | dropout | params |")
    assert lines[2] == "| mlp | mlp | 0 | 101,770 | 10 | 23.0 | 0.8700 | 0.8600 | 0.3900 | 0.0300 | 0.8600 | 409,788 |"
    assert lines[3].startswith("| **cnn** ★ | cnn | 0.3 | 421,642 |")
    assert len(lines) == 4


@pytest.fixture
def variant_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "VARIANT_REPORTS_DIR", tmp_path)
    paths = config.VariantPaths("cnn")
    paths.reports_dir.mkdir()
    row = ROWS[1]
    paths.training.write_text(json.dumps({k: row[k] for k in ("parameters", "epochs", "train_seconds")}))
    metrics = {k: row[k] for k in ("val_accuracy", "test_accuracy", "test_loss", "train_test_gap")}
    paths.metrics.write_text(json.dumps(metrics | {"train_accuracy": 0.95}))
    paths.tflite_metrics.write_text(json.dumps({k: row[k] for k in ("tflite_accuracy", "tflite_size_bytes")}))
    return paths


def test_row_is_read_from_the_stage_outputs(variant_reports):
    spec = config.VariantParams(model="cnn", dropout=0.3)
    assert variant_row("cnn", spec) == ROWS[1]


def test_a_variant_whose_stages_have_not_run_is_named(variant_reports):
    variant_reports.tflite_metrics.unlink()
    with pytest.raises(PipelineError, match="cnn/tflite.json is missing"):
        variant_row("cnn", config.VariantParams(model="cnn"))
