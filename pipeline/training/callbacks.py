"""What train's Keras `fit` calls back into: each epoch mirrored to MLflow as it ends, and a deferred
Ctrl-C or SIGTERM acted on between batches."""

from collections.abc import Callable

from pipeline.core.frameworks import keras
from pipeline.tracking import mirror


class EpochLogger(keras.callbacks.Callback):
    """Mirror each epoch's metrics to MLflow as it ends, so `mlflow ui` shows live curves.

    They are logged as `epoch_<name>` so they never mix with evaluate's final metrics.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        mirror.log_metrics({f"epoch_{key}": value for key, value in (logs or {}).items()}, step=epoch + 1)


class StopOnSignal(keras.callbacks.Callback):
    """Act on a Ctrl-C or SIGTERM that `signals_deferred` noted, between batches, where the
    exception unwinds cleanly out of `fit` (inside TensorFlow's calls it may abort the process)."""

    def __init__(self, act_on_signal: Callable[[], None]) -> None:
        super().__init__()
        self.act_on_signal = act_on_signal

    def _act(self, *args: object, **kwargs: object) -> None:
        self.act_on_signal()

    on_train_begin = on_epoch_begin = on_train_batch_end = on_test_batch_end = _act
