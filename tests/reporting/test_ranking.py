import dataclasses

import numpy as np
import pytest

from pipeline.core import config
from pipeline.reporting.comparison import effects_section
from pipeline.reporting.ranking import best_against_runner_up, best_variant, design_effects, effect_label, ranked

PARAMS = config.load_params()
ROWS = [
    {"variant": "mlp", "test_accuracy": 0.86, "tflite_size_bytes": 409_788, "train_test_gap": 0.03},
    {"variant": "cnn", "test_accuracy": 0.915, "tflite_size_bytes": 1_691_300, "train_test_gap": 0.034},
]


def _correct(accuracy: float, seed: int, images: int = 2000) -> np.ndarray:
    """Which of `images` test images a model of that `accuracy` got right."""
    return np.random.default_rng(seed).random(images) < accuracy


def test_best_is_highest_accuracy_or_lowest_cost():
    assert best_variant(ROWS, "test_accuracy") == "cnn"
    assert best_variant(ROWS, "tflite_size_bytes") == "mlp"
    assert best_variant(ROWS, "train_test_gap") == "mlp"
    assert ranked(ROWS, "test_accuracy") == ["cnn", "mlp"]


def test_a_metric_the_rows_lack_is_named():
    with pytest.raises(KeyError, match="test_loss"):
        ranked(ROWS, "test_loss")


def test_a_pair_is_labelled_by_what_changes():
    mlp, cnn = config.VariantParams(model="mlp"), config.VariantParams(model="cnn", dropout=0.2)
    assert effect_label("dropout", config.VariantParams(model="cnn"), cnn) == "dropout 0.2 on the CNN"
    assert effect_label("model", mlp, cnn) == "CNN instead of MLP, dropout 0.2"
    assert effect_label("model", mlp, dataclasses.replace(cnn, dropout=0.0)) == "CNN instead of MLP, no dropout"


def test_every_pair_of_the_design_that_ran_is_measured_and_the_extras_are_not():
    design = {name for pairs in PARAMS.compare.effects.values() for pair in pairs for name in pair}
    correct = {name: {seed: _correct(0.9, seed) for seed in (1, 2, 3)} for name in design}
    found = design_effects(PARAMS, correct)
    expected = [tuple(pair) for pairs in PARAMS.compare.effects.values() for pair in pairs]
    assert [(effect.baseline, effect.changed) for effect in found] == expected
    assert all(effect.seeds == 3 and effect.confounders == () for effect in found)
    missing_one = {name: value for name, value in correct.items() if name != expected[0][1]}
    assert len(design_effects(PARAMS, missing_one)) == len(expected) - sum(expected[0][1] in p for p in expected)


def test_a_pair_edited_out_of_its_design_is_flagged_in_the_report():
    baseline, changed = PARAMS.compare.effects["dropout"][0]
    variants = dict(PARAMS.variants)
    variants[changed] = dataclasses.replace(variants[changed], epochs=variants[changed].epochs + 3)
    params = dataclasses.replace(PARAMS, variants=variants)
    correct = {name: {1: _correct(0.9, seed)} for seed, name in enumerate((baseline, changed))}
    (effect,) = design_effects(params, correct)
    assert effect.confounders == ("epochs",)
    assert "Confounded: the two also differ in epochs." in effects_section([effect], None, 2000, (1,))


def test_the_best_is_measured_against_the_runner_up_and_alone_against_none():
    correct = {"mlp": {1: _correct(0.86, 1)}, "cnn": {1: _correct(0.915, 2)}}
    best = best_against_runner_up(ROWS, "test_accuracy", correct, 0.95)
    assert (best.baseline, best.changed) == ("mlp", "cnn")
    assert best_against_runner_up(ROWS[:1], "test_accuracy", correct, 0.95) is None


def test_a_runner_up_without_a_seed_in_common_is_named():
    correct = {"mlp": {1: _correct(0.86, 1)}, "cnn": {2: _correct(0.915, 2)}}
    with pytest.raises(ValueError, match="^mlp and cnn have no seed in common$"):
        best_against_runner_up(ROWS, "test_accuracy", correct, 0.95)
