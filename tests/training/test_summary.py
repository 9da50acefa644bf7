"""What train records about a run: the rule that stopped it early, and the recipe that groups its seeds."""

from pipeline.core.config import EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.training.summary import recipe_digest, stopped_early


def test_a_stop_is_reported_with_its_rule_and_epoch():
    history = {"loss": [0.9, 0.5], "val_accuracy": [0.8, 0.91]}
    stop_at = VariantParams(model="mlp", epochs=10, stop_at=StopAtParams(monitor="val_accuracy", target=0.9))
    assert stopped_early(stop_at, history) == {"stopped_after_epoch": 2, "stopped_by": "stop_at val_accuracy 0.9"}
    patient = VariantParams(model="mlp", epochs=10, early_stopping=EarlyStoppingParams(patience=1))
    assert stopped_early(patient, history)["stopped_by"] == "early_stopping val_loss"
    assert stopped_early(VariantParams(model="mlp", epochs=2), history)["stopped_after_epoch"] is None


def test_the_recipe_is_the_variants_params_and_data_and_nothing_else():
    """Seed runs of one recipe share a parent run: an edited variant or new data is a new recipe."""
    spec = VariantParams(model="mlp", epochs=10)
    recipe = recipe_digest(spec, "data-a")
    assert recipe == recipe_digest(VariantParams(model="mlp", epochs=10), "data-a")
    assert recipe != recipe_digest(VariantParams(model="mlp", epochs=11), "data-a")
    assert recipe != recipe_digest(spec, "data-b")
