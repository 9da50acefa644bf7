"""The sample MediaPipe measures the app flavour on: stratified by class, seeded, capped; and an accuracy's
exact interval on it."""

import numpy as np
import pytest

from pipeline.on_device.app_sample import accuracy_interval, stratified_sample

LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(4), [500, 300, 150, 50]))


def test_each_class_gets_its_share_of_the_sample():
    sample = stratified_sample(LABELS, 100, seed=1)
    assert len(sample) == len(np.unique(sample)) == 100 and np.all(np.diff(sample) > 0)
    assert np.bincount(LABELS[sample]).tolist() == [50, 30, 15, 5]


def test_shares_that_do_not_divide_evenly_go_to_the_largest_remainders():
    labels = np.repeat(np.arange(3), [40, 35, 25])
    # shares of 7: 2.8, 2.45, 1.75 -> 2, 2, 1 and the two left over to the first and third class
    assert np.bincount(labels[stratified_sample(labels, 7, seed=0)]).tolist() == [3, 2, 2]


def test_the_sample_is_seeded():
    np.testing.assert_array_equal(stratified_sample(LABELS, 40, seed=3), stratified_sample(LABELS, 40, seed=3))
    assert not np.array_equal(stratified_sample(LABELS, 40, seed=3), stratified_sample(LABELS, 40, seed=4))


def test_a_sample_as_large_as_the_images_is_all_of_them():
    for count in (len(LABELS), len(LABELS) + 1):
        np.testing.assert_array_equal(stratified_sample(LABELS, count, seed=0), np.arange(len(LABELS)))


def test_the_interval_is_clopper_pearsons_and_holds_the_accuracy():
    low, high = accuracy_interval(9, 10, confidence=0.95)
    assert (low, high) == pytest.approx((0.554984, 0.997471), abs=1e-6)
    assert accuracy_interval(0, 10, 0.95)[0] == 0 and accuracy_interval(10, 10, 0.95)[1] == 1
    narrower = accuracy_interval(900, 1000, 0.95)
    assert low < narrower[0] < 0.9 < narrower[1] < high
    assert accuracy_interval(900, 1000, 0.99)[0] < narrower[0]
