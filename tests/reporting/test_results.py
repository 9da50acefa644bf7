"""pipeline/reporting/results.py: a variant's seeds read back from their files and summarized."""

import json

import numpy as np
import pytest

from pipeline.core import config, paths
from pipeline.core.errors import PipelineError
from pipeline.core.paths import VariantPaths
from pipeline.reporting import results

SEEDS = {1: 0.91, 2: 0.92, 3: 0.93}
TFLITE = {
    flavour: {"accuracy": 0.92, "size_bytes": size}
    for flavour, size in (("float32", 1_000_000), ("dynamic_range", 260_000), ("float16", 500_000), ("int8", 260_000))
} | {"keras_predict_latency_ms_median": 40.0, "app": {"flavour": "int8"}}


@pytest.fixture
def written(tmp_path, monkeypatch):
    """Three seeds of `cnn` as train and evaluate write them, and its export's tflite.json."""
    monkeypatch.setattr(paths, "VARIANT_REPORTS_DIR", tmp_path)
    variant = VariantPaths("cnn")
    for seed, accuracy in SEEDS.items():
        files = variant.seed(seed)
        files.reports_dir.mkdir(parents=True)
        training = {"train_seconds": 10.0 * seed, "parameters": 1000, "epochs": 2, "precision": "float32"}
        files.training.write_text(json.dumps(training | {"cpu_model": "x", "cpu_isa": "avx2"}))
        metrics = {"test_accuracy": accuracy, "val_accuracy": accuracy + 0.01, "train_accuracy": 0.99}
        files.metrics.write_text(json.dumps(metrics | {"test_loss": 0.3, "train_test_gap": 0.99 - accuracy}))
        predicted = ["a" if i < round(accuracy * 100) else "b" for i in range(100)]
        files.predictions.write_text("actual,predicted\n" + "".join(f"a,{p}\n" for p in predicted))
    variant.tflite_metrics.write_text(json.dumps(TFLITE))
    return variant


def test_a_variant_is_the_mean_and_spread_of_its_seeds(written):
    row = results.variant_summary("cnn", config.VariantParams(model="cnn"), tuple(SEEDS))
    assert row["test_accuracy"] == pytest.approx(0.92) and row["test_accuracy_sd"] == pytest.approx(0.01)
    assert row["train_seconds"] == pytest.approx(20.0)
    assert [seed["test_accuracy"] for seed in row["seeds"]] == list(SEEDS.values())
    assert row["tflite_size_bytes"] == 1_000_000 and row["tflite"] == TFLITE
    one = results.variant_summary("cnn", config.VariantParams(model="cnn"), (2,))
    assert one["test_accuracy"] == 0.92 and one["test_accuracy_sd"] is None


def test_the_predictions_give_back_each_seeds_accuracy(written):
    correct = results.correct_images("cnn", tuple(SEEDS))
    assert {seed: float(np.mean(images)) for seed, images in correct.items()} == SEEDS


def test_the_headline_is_a_few_numbers_per_variant(written):
    row = results.variant_summary("cnn", config.VariantParams(model="cnn"), tuple(SEEDS))
    headline = results.headline([row])
    assert list(headline) == ["cnn"] and len(headline["cnn"]) <= 12
    assert headline["cnn"]["int8_size_bytes"] == 260_000
    assert row["train_seconds"] and not [key for key in headline["cnn"] if "seconds" in key]  # reruns write one file


def test_curves_are_long_form_with_a_row_per_epoch_split_and_seed():
    history = {"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.9, 0.6], "val_accuracy": [0.7, 0.75]}
    lines = results.curves_csv({"mlp": {1: history, 2: history}}).splitlines()
    assert lines[0] == "variant,seed,epoch,split,accuracy,loss"
    assert len(lines) == 1 + 2 * 2 * 2
    assert "mlp,2,2,validation,0.750000,0.600000" in lines


def test_a_seed_whose_stages_have_not_run_is_named(written):
    written.seed(2).predictions.unlink()
    with pytest.raises(PipelineError, match=r"cnn/seed-2/predictions.csv is missing: run the evaluate stage"):
        results.correct_images("cnn", tuple(SEEDS))
    written.tflite_metrics.unlink()
    with pytest.raises(PipelineError, match="cnn/tflite.json is missing"):
        results.variant_summary("cnn", config.VariantParams(model="cnn"), tuple(SEEDS))
