"""What train records about a run: the rule that stopped it early, and the recipe that groups its seeds."""

from pathlib import Path

import yaml

from pipeline.core.config import EarlyStoppingParams, StopAtParams, VariantParams
from pipeline.core.paths import ROOT, TRAINING_CODE
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


def _code(root: Path, files: dict[str, str]) -> tuple[Path, ...]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return tuple(root / name for name in files)


def test_the_code_digest_follows_each_files_path_and_content_not_where_the_checkout_is(tmp_path):
    files = {"pipeline/train.py": "main()\n", "pipeline/training/loop.py": "EPOCHS = 1\n"}
    before = code_digest(_code(tmp_path / "a", files), tmp_path / "a")
    assert code_digest(_code(tmp_path / "b", files), tmp_path / "b") == before  # another checkout, same code
    edited = files | {"pipeline/training/loop.py": "EPOCHS = 2\n"}
    assert code_digest(_code(tmp_path / "c", edited), tmp_path / "c") != before
    moved = {"pipeline/train.py": "main()\n", "pipeline/training/fit.py": "EPOCHS = 1\n"}
    assert code_digest(_code(tmp_path / "d", moved), tmp_path / "d") != before


def test_the_training_code_is_read_from_the_train_stages_deps_alone():
    """What the digest reads is code DVC reruns train for: an edit to it retrains every seed, so no seed of
    the old code stays cached beside new ones under one recipe."""
    deps = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["deps"])
    assert {path.relative_to(ROOT).as_posix() for path in TRAINING_CODE} <= deps
    assert len(code_digest()) == 12
