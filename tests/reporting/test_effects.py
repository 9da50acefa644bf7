"""pipeline/reporting/effects.py: the intervals and tests behind every effect the report states, checked against
SciPy and against real models: two variants that differ only in their seeds are called
indistinguishable, a one-epoch MLP against a three-epoch CNN is called distinguishable."""

import numpy as np
import pytest
from scipy import stats

from pipeline.reporting.effects import (
    describe,
    discordant_images,
    image_interval,
    mcnemar_exact,
    measure_effect,
    seed_interval,
)


def _correct(pattern: str) -> np.ndarray:
    return np.array([c == "1" for c in pattern])


def test_mcnemar_counts_the_images_only_one_model_gets_right():
    a = _correct("1111000011")
    b = _correct("1100110011")
    p, only_a, only_b = mcnemar_exact(a, b)
    assert (only_a, only_b) == (2, 2)
    assert p == pytest.approx(stats.binomtest(2, 4, 0.5).pvalue) and p == pytest.approx(1.0)


def test_the_discordant_images_are_counted_once_for_the_test_and_its_interval():
    a, b = _correct("1110001"), _correct("1001101")
    assert discordant_images(a, b) == (2, 2) == mcnemar_exact(a, b)[1:]
    assert discordant_images(a[:3], b[:3]) == (2, 0)


def test_predictions_of_different_test_sets_are_refused():
    with pytest.raises(ValueError, match="could not be broadcast"):
        discordant_images(_correct("101"), _correct("10"))


def test_mcnemar_of_identical_predictions_is_one_and_their_interval_zero():
    a = _correct("1101")
    assert mcnemar_exact(a, a) == (1.0, 0, 0)
    assert image_interval(a, a, 0.95) == (0.0, 0.0)


def test_a_lopsided_disagreement_is_significant():
    rng = np.random.default_rng(0)
    a = rng.random(10_000) < 0.85
    b = a | (rng.random(10_000) < 0.05)  # B gets right everything A does, and some more
    p, only_a, only_b = mcnemar_exact(a, b)
    assert only_a == 0 and only_b > 50 and p < 1e-15
    low, high = image_interval(a, b, 0.95)
    assert 0 < low < b.mean() - a.mean() <= high + 1e-12


def test_the_seed_interval_is_welchs_and_needs_two_seeds_a_side():
    a, b = [0.90, 0.91, 0.92], [0.93, 0.95, 0.94]
    expected = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert seed_interval(a, b, 0.95) == pytest.approx((expected.low, expected.high))
    assert seed_interval([0.9], [0.91, 0.92], 0.95) is None
    assert seed_interval([0.9, 0.9], [0.92, 0.92], 0.95) is None  # no spread measured: no interval to claim


@pytest.mark.parametrize("only_a", [0, 5, 40, 100])
def test_the_image_interval_excludes_zero_exactly_when_mcnemar_rejects(only_a):
    """One seed: the interval the sentence quotes and McNemar's verdict always agree."""
    for only_b in range(0, 160, 7):
        a = np.array([True] * only_a + [False] * only_b + [True] * 500)
        b = np.array([False] * only_a + [True] * only_b + [True] * 500)
        p, _, _ = mcnemar_exact(a, b)
        low, high = image_interval(a, b, 0.95)
        assert low - 1e-12 <= (b.mean() - a.mean()) <= high + 1e-12
        assert (low > 0 or high < 0) == (p < 0.05), (only_a, only_b, p, low, high)


def test_one_seed_decides_by_mcnemar_and_says_seed_spread_was_not_measured():
    correct = {"a": {1: _correct("1" * 80 + "0" * 20)}, "b": {1: _correct("1" * 95 + "0" * 5)}}
    effect = measure_effect("more units", ("a", "b"), correct, 0.95)
    assert effect.interval is None and effect.seeds == 1
    assert effect.distinguishable and effect.mcnemar[1] < 0.05
    sentence = describe(effect, 100)
    assert sentence.startswith("more units (a → b): +15.00 points (95% CI ")
    assert "distinguishable from test-set noise (seed-to-seed spread not measured" in sentence


def test_a_confounded_pair_says_what_else_differs():
    correct = {"a": {1: _correct("10"), 2: _correct("11")}, "b": {1: _correct("11"), 2: _correct("10")}}
    effect = measure_effect("dropout", ("a", "b"), correct, 0.95, confounders=["epochs"])
    assert describe(effect, 2).endswith("Confounded: the two also differ in epochs.")


def test_pairs_without_a_common_seed_are_refused():
    with pytest.raises(ValueError, match="no seed in common"):
        measure_effect("x", ("a", "b"), {"a": {1: _correct("1")}, "b": {2: _correct("1")}}, 0.95)


# Real models: the decision rule on what it is for. Small sizes, float32 (the same on every CPU class).


def _train(real_data, spec, seed: int) -> np.ndarray:
    """Which of the test images a model of `spec` trained with `seed` gets right."""
    from pipeline.training.architectures import build_model, compile_model
    from pipeline.training.loop import configure_runtime, train_model

    configure_runtime(seed=seed, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=-(-len(real_data.train_labels) // spec.batch_size))
    train = (real_data.train_images, real_data.train_labels)
    train_model(model, train, (real_data.test_images[:100], real_data.test_labels[:100]), spec, seed=seed)
    logits = model.predict(real_data.test_images, verbose=0)
    return logits.argmax(axis=1) == real_data.test_labels


@pytest.mark.slow  # trains six models: 15 s
def test_two_variants_identical_but_for_their_seeds_are_indistinguishable(real_data):
    from pipeline.core.config import VariantParams

    spec = VariantParams(model="mlp", hidden_units=(32,), epochs=2, batch_size=128, learning_rate=0.003)
    spec = VariantParams(**{**spec.__dict__, "precision": "float32"})
    correct = {
        "first": {index: _train(real_data, spec, seed) for index, seed in enumerate((1, 2, 3))},
        "second": {index: _train(real_data, spec, seed) for index, seed in enumerate((4, 5, 6))},
    }
    effect = measure_effect("the same recipe", ("first", "second"), correct, 0.95)
    assert effect.seeds == 3 and not effect.distinguishable, effect
    assert "not distinguishable from seed noise" in describe(effect, len(real_data.test_labels))


@pytest.mark.slow  # trains six models: 20 s
def test_a_clearly_better_variant_is_distinguishable(real_data):
    from pipeline.core.config import VariantParams

    mlp = VariantParams(model="mlp", hidden_units=(16,), epochs=1, batch_size=128, learning_rate=0.001)
    cnn = VariantParams(model="cnn", filters=(8, 16), hidden_units=(32,), epochs=3, batch_size=64, learning_rate=0.003)
    mlp, cnn = (VariantParams(**{**spec.__dict__, "precision": "float32"}) for spec in (mlp, cnn))
    correct = {
        "mlp": {seed: _train(real_data, mlp, seed) for seed in (1, 2, 3)},
        "cnn": {seed: _train(real_data, cnn, seed) for seed in (1, 2, 3)},
    }
    effect = measure_effect("CNN instead of MLP", ("mlp", "cnn"), correct, 0.95)
    assert effect.difference > 0.05 and effect.interval[0] > 0 and effect.distinguishable, effect
    assert all(p < 0.05 for p in effect.mcnemar.values())
    assert ": distinguishable from seed noise" in describe(effect, len(real_data.test_labels))
