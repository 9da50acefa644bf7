import pytest

from bench.pipeline_time import stage_shares


def test_the_stages_of_a_kind_add_up_to_its_share_of_the_repro():
    stages = {"fetch": 5.0, "train@mlp-42": 20.0, "train@cnn-42": 50.0, "export@mlp": 10.0, "export@cnn": 15.0}
    shares = stage_shares(stages, total=100.0)
    assert shares == pytest.approx({"fetch": 0.05, "train": 0.70, "export": 0.25})
