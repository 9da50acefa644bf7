"""The training history CSV."""

import pytest

from pipeline.core.errors import PipelineError
from pipeline.training.history import read_history, write_history


def test_history_round_trips_one_row_per_epoch(tmp_path):
    history = {"loss": [0.9, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.0, 0.7], "val_accuracy": [0.55, 0.75]}
    path = tmp_path / "history.csv"
    write_history(path, history)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy"
    assert lines[1:] == ["1,0.900000,0.600000,1.000000,0.550000", "2,0.500000,0.800000,0.700000,0.750000"]
    assert read_history(path) == history


def test_a_history_without_validation_columns_is_refused(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,accuracy\n1,0.9,0.6\n")
    with pytest.raises(PipelineError, match=r"history.csv is not a training history: KeyError\('val_loss'\)"):
        read_history(path)
