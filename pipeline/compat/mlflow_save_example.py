"""Create the model's directory before MLflow's Keras flavour writes the input example into it.

Upstream: https://github.com/mlflow/mlflow/issues/16183 (open in mlflow 3.17; the fix proposed in
https://github.com/mlflow/mlflow/pull/16300 was closed unmerged). `mlflow.keras.save_model` calls its private
`mlflow.keras.save._save_example` before it creates the model's directory, so `mlflow.keras.log_model(...,
input_example=...)` fails with FileNotFoundError. No public API writes the example another way, so
`example_directory_created` wraps that private name to create the directory first; the files saved are unchanged.

tests/compat/test_mlflow_save_example.py is its canary. When it says upstream fixed the bug: delete this module and
its canary, and drop `example_directory_created()` from `pipeline/tracking/logged_model.py`. When it says the
internal is gone: read the new `mlflow.keras.save.save_model` and move the wrapper (or drop it if fixed).
"""

import contextlib
import importlib
import os
from collections.abc import Iterator

PATCHED_MODULE, PATCHED_NAME = "mlflow.keras.save", "_save_example"


@contextlib.contextmanager
def example_directory_created() -> Iterator[None]:
    """Inside the block, MLflow's Keras flavour creates the model's directory before it writes the input
    example there. Without an input example nothing changes. Importing the flavour imports Keras: enter
    this where TensorFlow's native logs are quiet."""
    module = importlib.import_module(PATCHED_MODULE)
    save_example = getattr(module, PATCHED_NAME, None)
    if save_example is None:
        raise RuntimeError(
            f"{PATCHED_MODULE}.{PATCHED_NAME} is gone (mlflow changed its internals): see "
            "pipeline/compat/mlflow_save_example.py for what to do"
        )

    def save_into_created(model, example, path, *args, **kwargs):
        os.makedirs(path, exist_ok=True)
        return save_example(model, example, path, *args, **kwargs)

    setattr(module, PATCHED_NAME, save_into_created)
    try:
        yield
    finally:
        setattr(module, PATCHED_NAME, save_example)
