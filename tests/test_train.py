from pipeline.config import EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.train import stopped_early


def test_a_stop_is_reported_with_its_rule_and_epoch():
    history = {"loss": [0.9, 0.5], "val_accuracy": [0.8, 0.91]}
    stop_at = VariantParams(model="mlp", epochs=10, stop_at=StopAtParams(monitor="val_accuracy", target=0.9))
    assert stopped_early(stop_at, history) == {"stopped_after_epoch": 2, "stopped_by": "stop_at val_accuracy 0.9"}
    patient = VariantParams(model="mlp", epochs=10, early_stopping=EarlyStoppingParams(patience=1))
    assert stopped_early(patient, history)["stopped_by"] == "early_stopping val_loss"
    assert stopped_early(VariantParams(model="mlp", epochs=2), history)["stopped_after_epoch"] is None
