import fcntl

import mlflow
import pytest
from conftest import free_port
from mlflow.exceptions import MlflowException

from pipeline.core.errors import PipelineError
from pipeline.tracking import experiments, store


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch) -> str:
    """An empty local store, as $MLFLOW_TRACKING_URI names it."""
    uri = f"sqlite:///{tmp_path / store.STORE_FILE}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    return uri


def test_an_experiment_is_created_once_with_its_artifacts_beside_the_repositorys_store(sqlite_store):
    created = experiments.open_experiment("test-exp")
    assert experiments.open_experiment("test-exp") == created
    assert mlflow.get_tracking_uri() == sqlite_store
    location = mlflow.get_experiment(created).artifact_location
    assert location == (store.repository_root() / store.ARTIFACTS_DIR).as_uri()


def test_an_experiment_another_machine_creates_meanwhile_is_used_not_an_error(sqlite_store, monkeypatch):
    # Two machines' first stages on a new shared server: both look the experiment up, find none, and
    # create it; the second create is refused (RESOURCE_ALREADY_EXISTS) and must take the first's.
    mlflow.set_tracking_uri(sqlite_store)
    theirs = mlflow.create_experiment("test-exp")
    looked_up, lookups = mlflow.get_experiment_by_name, []

    def lookup(name):  # the first lookup ran before the other machine's create landed
        lookups.append(name)
        return None if len(lookups) == 1 else looked_up(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", lookup)
    assert experiments.open_experiment("test-exp") == theirs
    assert len(mlflow.search_experiments(filter_string="name = 'test-exp'")) == 1


def test_an_experiment_is_not_opened_on_a_server_that_is_down(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    with pytest.raises(PipelineError, match=f"^MLflow tracking server {uri} is not reachable "):
        experiments.open_experiment("test-exp")


def test_a_local_store_is_locked_while_the_block_runs_and_a_server_is_not(tmp_path):
    database = tmp_path / store.STORE_FILE
    with (
        experiments.store_lock(f"sqlite:///{database}"),
        open(f"{database}-lock") as other,
        pytest.raises(BlockingIOError),  # another stage would wait here
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(f"{database}-lock") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    with experiments.store_lock("http://127.0.0.1:5000"):
        pass
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{store.STORE_FILE}-lock"]


def test_a_failing_store_request_is_one_line_naming_the_store(sqlite_store):
    message = "API request to http://x/api/2.0/mlflow/runs/log-batch failed\nmore"
    with pytest.raises(PipelineError) as raised, experiments.store_errors():
        raise MlflowException(message)
    assert str(raised.value) == (
        f"MLflow tracking store {sqlite_store} failed: {message.splitlines()[0]}: "
        "check that it (and its database) is up, then rerun"
    )


def test_a_long_store_error_is_cut_and_other_errors_pass_through(sqlite_store):
    with pytest.raises(PipelineError) as raised, experiments.store_errors():
        raise MlflowException("x" * 500)
    assert f": {'x' * 240}…: check that" in str(raised.value)
    with pytest.raises(ValueError, match="^not the store's$"), experiments.store_errors():
        raise ValueError("not the store's")
