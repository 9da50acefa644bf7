import numpy as np
import pytest

from pipeline.core.config import VariantParams
from pipeline.data.dataset_info import CLASS_NAMES
from pipeline.evaluate import evaluate_model, predictions_csv
from pipeline.training.architectures import build_model


def test_evaluate_model_reports_accuracy_gap_and_per_class_scores():
    model = build_model(VariantParams(model="mlp", hidden_units=(8,)))
    rng = np.random.default_rng(1)
    splits = {
        split: (rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8), np.arange(40) % 10)
        for split in ("train", "val", "test")
    }
    result = evaluate_model(model, splits, CLASS_NAMES)
    metrics = result["metrics"]
    predicted = model.predict(splits["test"][0].astype(np.float32), verbose=0).argmax(axis=1)
    assert metrics["test_accuracy"] == pytest.approx((predicted == splits["test"][1]).mean())
    assert metrics["train_test_gap"] == pytest.approx(metrics["train_accuracy"] - metrics["test_accuracy"])
    assert set(result["per_class"]) == set(CLASS_NAMES)
    assert "per_class" not in metrics  # metrics.json is the headline; the per-class scores are per_class.json
    assert result["confusion"].sum() == 40


def test_predictions_csv_names_classes_in_the_test_sets_order():
    text = predictions_csv(np.array([0, 9]), np.array([6, 9]), CLASS_NAMES)
    assert text.splitlines() == ["actual,predicted", "T-shirt/top,Shirt", "Ankle boot,Ankle boot"]
