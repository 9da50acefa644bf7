import pytest

from bench.train_precision import PEER, median_ratios


def test_each_round_is_compared_with_the_peers_in_the_same_round():
    # A slow round (the second) halves everyone's speed: the ratios stay as they were.
    rates = {PEER: [100.0, 50.0, 100.0], "float32": [200.0, 100.0, 150.0], "mixed_bfloat16": [90.0, 50.0, 120.0]}
    assert median_ratios(rates, PEER) == pytest.approx({PEER: 1.0, "float32": 2.0, "mixed_bfloat16": 1.0})
