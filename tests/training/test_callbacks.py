"""What train's `fit` calls back into: epochs mirrored to MLflow, a deferred signal acted on between batches."""

import mlflow
import pytest

from pipeline.training.callbacks import EpochLogger, StopOnSignal


def test_each_epoch_is_logged_under_an_epoch_prefix_at_its_step(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # Its own experiment: an earlier test may leave another store's experiment active in this process.
    with mlflow.start_run(experiment_id=mlflow.create_experiment("callbacks")) as run:
        EpochLogger().on_epoch_end(1, {"loss": 0.5, "val_accuracy": 0.8})
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "epoch_val_accuracy")
    assert [(point.step, point.value) for point in history] == [(2, 0.8)]


def test_a_noted_signal_stops_training_at_the_next_batch_end():
    def act_on_signal():
        raise KeyboardInterrupt

    callback = StopOnSignal(act_on_signal)
    for hook in (callback.on_train_begin, callback.on_epoch_begin, callback.on_train_batch_end):
        with pytest.raises(KeyboardInterrupt):
            hook(0)
    StopOnSignal(lambda: None).on_train_batch_end(0, {})  # nothing noted: training goes on
