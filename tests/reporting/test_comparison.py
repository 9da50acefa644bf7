import numpy as np
import pytest

from pipeline.core import config
from pipeline.reporting import effects
from pipeline.reporting.comparison import comparison_metrics, effects_section, report
from pipeline.reporting.ranking import best_against_runner_up

PARAMS = config.load_params()


def _correct(accuracy: float, seed: int, images: int = 2000) -> np.ndarray:
    """Which of `images` test images a model of that `accuracy` got right."""
    return np.random.default_rng(seed).random(images) < accuracy


def _effect(seeds: tuple[int, ...] = (1,), label: str = "dropout on the CNN") -> effects.Effect:
    correct = {"a": {s: _correct(0.80, s) for s in seeds}, "b": {s: _correct(0.95, s + 10) for s in seeds}}
    return effects.measure_effect(label, ("a", "b"), correct, 0.95)


def test_the_report_says_whether_the_best_is_distinguishably_better_than_the_runner_up():
    rows = [{"variant": "a", "test_accuracy": 0.80}, {"variant": "b", "test_accuracy": 0.95}]
    correct = {"a": {1: _correct(0.80, 1)}, "b": {1: _correct(0.95, 2)}}
    best = best_against_runner_up(rows, "test_accuracy", correct, 0.95)
    assert (best.baseline, best.changed) == ("a", "b") and best.distinguishable
    text = effects_section([], best, 2000, (1,))
    sentence = next(line for line in text.splitlines() if line.startswith("**b**"))
    assert sentence.startswith(
        "**b** is distinguishably better in test accuracy than **a**, the runner-up by `test_accuracy`: +"
    )
    assert "(a → b)" not in sentence and best.label not in sentence  # the pair is named once
    assert "**One seed**" in text and "dvc exp run -S 'seeds=[1,2,3]'" in text
    close = {"a": {s: _correct(0.9, s) for s in (1, 2)}, "b": {s: _correct(0.9, s + 10) for s in (1, 2)}}
    rows = [{"variant": "a", "test_accuracy": 0.9}, {"variant": "b", "test_accuracy": 0.901}]
    assert "is **not** distinguishable in test accuracy from" in effects_section(
        [], best_against_runner_up(rows, "test_accuracy", close, 0.95), 2000, (1, 2)
    )


def test_the_effects_are_one_sentence_each_or_say_none_ran():
    found = [_effect((1, 2, 3))]
    text = effects_section(found, None, 2000, (1, 2, 3))
    assert "trained with 3 seeds (1, 2, 3)" in text and "Welch's t over seeds" in text
    assert f"- {effects.describe(found[0], 2000)}" in text.splitlines()
    assert "- (no pair of the design ran)" in effects_section([], None, 2000, (1,)).splitlines()


def test_the_report_asks_its_question_first_then_shows_the_variants_then_the_device():
    rows = []  # the tables' content is tests/reporting/test_tables.py's
    text = report(rows, "b", "test_accuracy", [_effect()], None, PARAMS, 2000)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[:4] == ["# Variant comparison", "## Effects", "## Variants", "## On device"]
    assert "Best by `test_accuracy` (mean over seeds): **b** ★" in text
    assert f"each variant's seed {PARAMS.shipped_seed} model" in text


def test_the_logged_numbers_are_each_mean_and_each_effect_with_its_interval():
    found = [_effect((1, 2, 3))]
    rows = [{"variant": "a", "test_accuracy": 0.8, "test_accuracy_sd": None, "val_accuracy": 0.81}]
    logged = comparison_metrics(rows, found, None)
    assert logged["a.test_accuracy"] == 0.8 and "a.test_accuracy_sd" not in logged and "a.train_seconds" not in logged
    assert logged["effect.a_to_b.ci_low"] == pytest.approx(found[0].interval[0])  # over seeds
    assert {f"effect.a_to_b.mcnemar_p.seed_{seed}" for seed in (1, 2, 3)} <= set(logged)


def test_one_seed_logs_the_interval_over_the_test_images_and_so_does_the_runner_up():
    one = _effect((1,))
    logged = comparison_metrics([], [], one)
    assert (logged["effect.a_to_b.ci_low"], logged["effect.a_to_b.ci_high"]) == one.image_interval
    assert logged["effect.a_to_b.distinguishable"] == float(one.distinguishable)
