"""Canaries of pipeline/compat/mlflow_save_example.py: they fail when MLflow's private internal is gone, and when
MLflow has fixed mlflow/mlflow#16183, so that the workaround is moved or removed, not forgotten."""

import importlib

import numpy as np
import pytest

from pipeline.compat import mlflow_save_example
from pipeline.compat.mlflow_save_example import PATCHED_MODULE, PATCHED_NAME, example_directory_created
from pipeline.core.native_logs import quiet_native_logs

EXAMPLE = np.zeros((1, 2), np.float32)


@pytest.fixture(scope="module")
def flavour():
    """MLflow's Keras flavour module (importing it imports Keras)."""
    with quiet_native_logs():
        return importlib.import_module(PATCHED_MODULE)


@pytest.fixture(scope="module")
def tiny_model(flavour):
    import keras

    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def test_the_private_internal_is_there_and_save_model_still_calls_it(flavour):
    gone = f"{PATCHED_MODULE}.{PATCHED_NAME} is gone: see {mlflow_save_example.__name__}'s docstring"
    assert callable(getattr(flavour, PATCHED_NAME, None)), gone
    assert PATCHED_NAME in flavour.save_model.__code__.co_names, f"save_model no longer calls {PATCHED_NAME}"


def test_upstream_has_not_fixed_the_bug_yet(flavour, tiny_model, tmp_path):
    try:
        flavour.save_model(tiny_model, str(tmp_path / "model"), input_example=EXAMPLE)
    except FileNotFoundError as error:
        assert error.filename == str(tmp_path / "model" / "input_example.json")
    else:
        pytest.fail(
            "mlflow.keras.save_model now creates the model's directory itself (mlflow/mlflow#16183 is fixed): delete "
            f"{mlflow_save_example.__file__}, this canary, and example_directory_created() in tracking/logged_model.py"
        )


def test_with_the_workaround_the_model_and_its_input_example_are_saved(flavour, tiny_model, tmp_path):
    original = getattr(flavour, PATCHED_NAME)
    with example_directory_created():
        flavour.save_model(tiny_model, str(tmp_path / "model"), input_example=EXAMPLE)
    assert getattr(flavour, PATCHED_NAME) is original  # put back after the block
    assert (tmp_path / "model" / "input_example.json").is_file() and (tmp_path / "model" / "MLmodel").is_file()


def test_without_the_internal_the_workaround_says_where_to_look(flavour, monkeypatch):
    monkeypatch.delattr(flavour, PATCHED_NAME)
    with pytest.raises(RuntimeError) as raised, example_directory_created():
        pytest.fail("the block ran")
    assert str(raised.value) == (
        f"{PATCHED_MODULE}.{PATCHED_NAME} is gone (mlflow changed its internals): see "
        "pipeline/compat/mlflow_save_example.py for what to do"
    )
