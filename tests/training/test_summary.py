"""What train records about a run: the rule that stopped it early, and the recipe that groups its seeds."""

from pipeline.core.config import EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.training.summary import code_digest, recipe_digest, stopped_early


def test_a_stop_is_reported_with_its_rule_and_epoch():
    history = {"loss": [0.9, 0.5], "val_accuracy": [0.8, 0.91]}
    stop_at = VariantParams(model="mlp", epochs=10, stop_at=StopAtParams(monitor="val_accuracy", target=0.9))
    assert stopped_early(stop_at, history) == {"stopped_after_epoch": 2, "stopped_by": "stop_at val_accuracy 0.9"}
    patient = VariantParams(model="mlp", epochs=10, early_stopping=EarlyStoppingParams(patience=1))
    assert stopped_early(patient, history)["stopped_by"] == "early_stopping val_loss"
    assert stopped_early(VariantParams(model="mlp", epochs=2), history)["stopped_after_epoch"] is None


def test_the_recipe_is_the_variants_params_data_precision_and_code_and_nothing_else():
    """Seed runs of one recipe share a parent run: an edited variant, new data, another precision or other
    training code is a new recipe."""
    spec = VariantParams(model="mlp", epochs=10)
    recipe = recipe_digest(spec, "data-a", "float32", "code-a")
    assert recipe == recipe_digest(VariantParams(model="mlp", epochs=10), "data-a", "float32", "code-a")
    assert recipe != recipe_digest(VariantParams(model="mlp", epochs=11), "data-a", "float32", "code-a")
    assert recipe != recipe_digest(spec, "data-b", "float32", "code-a")
    assert recipe != recipe_digest(spec, "data-a", "mixed_bfloat16", "code-a")
    assert recipe != recipe_digest(spec, "data-a", "float32", "code-b")


def test_the_code_digest_follows_the_training_code_by_path_and_content(tmp_path):
    package = tmp_path / "pipeline" / "training"
    package.mkdir(parents=True)
    (package / "loop.py").write_text("EPOCHS = 1\n")
    (package / "notes.txt").write_text("not code")
    train = tmp_path / "pipeline" / "train.py"
    train.write_text("main()\n")
    places = (train, package)
    before = code_digest(places)
    assert before == code_digest(places)
    assert code_digest() != before  # the repository's own training code
    (package / "notes.txt").write_text("still not code")
    assert code_digest(places) == before
    (package / "loop.py").write_text("EPOCHS = 2\n")
    assert code_digest(places) != before
