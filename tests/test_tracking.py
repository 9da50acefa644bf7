import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import mlflow
import pytest
from conftest import free_port

from pipeline import tracking
from pipeline.errors import PipelineError


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def test_store_defaults_to_the_repository_root(monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI_ENV, raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tracking.repository_root() / 'mlflow.db'}"
    assert tracking.tracking_uri({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}) == "http://127.0.0.1:5000"


def test_queued_experiments_log_to_the_repository_store():
    copy = Path("/home/me/project/.dvc/tmp/exps/tmpab12cd")
    assert tracking.repository_root(copy) == Path("/home/me/project")
    assert tracking.repository_root(Path("/home/me/project")) == Path("/home/me/project")


def test_stages_of_a_variant_share_one_run(store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with tracking.variant_run("cnn", 1, run_file, "test-exp", new=True, tags={"data_sha256": "abc"}) as run:
        tracking.log_params({"variant": {"model": "cnn", "dropout": 0.2}})
        tracking.log_metrics({"epoch_accuracy": 0.5}, step=1)
    recorded = json.loads(run_file.read_text())["run_id"]
    assert recorded == run.run_id
    with tracking.variant_run("cnn", 1, run_file, "test-exp", new=False, tags={}) as resumed:
        tracking.log_metrics({"test_accuracy": 0.9, "per_class": {"Bag": {"f1": 0.8}}, "note": "text"})
    assert resumed.run_id == recorded
    finished = mlflow.get_run(recorded)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"variant.model": "cnn", "variant.dropout": "0.2"}
    assert finished.data.metrics == {"epoch_accuracy": 0.5, "test_accuracy": 0.9, "per_class.Bag.f1": 0.8}
    assert finished.data.tags["variant"] == "cnn" and finished.data.tags["data_sha256"] == "abc"
    assert (finished.data.tags["seed"], finished.info.run_name) == ("1", "cnn seed 1")
    assert len(mlflow.search_runs(experiment_names=["test-exp"])) == 1


def _seed_run(variant: str, seed: int, recipe: str, run_file) -> mlflow.entities.Run:
    with tracking.variant_run(variant, seed, run_file, "test-exp", new=True, tags={}, recipe=recipe) as run:
        pass
    return mlflow.get_run(run.run_id)


def test_each_seed_is_a_run_of_its_own_nested_under_one_parent_run_per_recipe(store, tmp_path):
    first = _seed_run("cnn", 1, "recipe-a", tmp_path / "1" / "mlflow_run.json")
    second = _seed_run("cnn", 2, "recipe-a", tmp_path / "2" / "mlflow_run.json")
    assert first.info.run_id != second.info.run_id
    assert [(run.info.run_name, run.data.tags["seed"]) for run in (first, second)] == [
        ("cnn seed 1", "1"),
        ("cnn seed 2", "2"),
    ]
    parent_id = first.data.tags[tracking.PARENT_TAG]
    assert second.data.tags[tracking.PARENT_TAG] == parent_id  # two seeds of one recipe: one parent
    parent = mlflow.get_run(parent_id)
    assert parent.info.run_name == "cnn" and parent.info.status == "FINISHED"
    assert {key: parent.data.tags[key] for key in ("run_type", "variant", "recipe")} == {
        "run_type": "variant",
        "variant": "cnn",
        "recipe": "recipe-a",
    }
    # an edited variant (another recipe) gets a parent of its own, and so does another variant
    edited = _seed_run("cnn", 1, "recipe-b", tmp_path / "3" / "mlflow_run.json")
    other = _seed_run("mlp", 1, "recipe-a", tmp_path / "4" / "mlflow_run.json")
    parents = {run.data.tags[tracking.PARENT_TAG] for run in (edited, other)}
    assert len(parents) == 2 and parent_id not in parents
    # the later stages reopen the seed's run, which stays where train nested it
    with tracking.variant_run("cnn", 2, tmp_path / "2" / "mlflow_run.json", "test-exp", new=False, tags={}) as resumed:
        pass
    assert resumed.run_id == second.info.run_id
    assert mlflow.get_run(resumed.run_id).data.tags[tracking.PARENT_TAG] == parent_id
    assert len(mlflow.search_runs(experiment_names=["test-exp"])) == 4 + 3  # four seed runs, three parents


def test_the_model_train_logged_is_recorded_for_the_later_stages(store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with tracking.variant_run("cnn", 1, run_file, "test-exp", new=True, tags={}) as run:
        assert run.model_id is None
        run.model_id = "m-123"
    assert json.loads(run_file.read_text())["model_id"] == "m-123"
    with tracking.variant_run("cnn", 1, run_file, "test-exp", new=False, tags={}) as resumed:
        assert (resumed.run_id, resumed.model_id) == (run.run_id, "m-123")


def test_an_experiment_another_machine_creates_meanwhile_is_used_not_an_error(store, tmp_path, monkeypatch):
    # Two machines' first stages on a new shared server: both look the experiment up, find none, and
    # create it; the second create is refused (RESOURCE_ALREADY_EXISTS) and must take the first's.
    mlflow.set_tracking_uri(store)
    theirs = mlflow.create_experiment("test-exp")
    looked_up, lookups = mlflow.get_experiment_by_name, []

    def lookup(name):  # the first lookup ran before the other machine's create landed
        lookups.append(name)
        return None if len(lookups) == 1 else looked_up(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", lookup)
    with tracking.variant_run("cnn", 1, tmp_path / "mlflow_run.json", "test-exp", new=True, tags={}) as run:
        pass
    assert run.experiment_id == theirs
    assert len(mlflow.search_experiments(filter_string="name = 'test-exp'")) == 1


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _running_run(experiment_id: str, **process: str) -> str:
    """A run left RUNNING, as by a process killed outright, with the given process tags."""
    tags = tracking.process_tags()
    tags.update({getattr(tracking, f"{key.upper()}_TAG"): value for key, value in process.items()})
    return mlflow.MlflowClient().create_run(experiment_id, tags=tags, run_name="train-killed").info.run_id


def test_runs_left_running_by_a_process_that_is_gone_are_marked_killed_and_no_others(store, capsys):
    mlflow.set_tracking_uri(store)
    experiment_id = mlflow.create_experiment("test-exp")
    dead = _running_run(experiment_id, pid=str(_dead_pid()))
    reused = _running_run(experiment_id, started="1")  # this pid, but a process that started at another time
    alive = _running_run(experiment_id)  # this very process: a parallel stage that is still running
    elsewhere = _running_run(experiment_id, host="another-machine", pid=str(_dead_pid()))
    untagged = mlflow.MlflowClient().create_run(experiment_id).info.run_id

    assert sorted(tracking.mark_orphans_killed(experiment_id)) == sorted([dead, reused])

    status = {run_id: mlflow.get_run(run_id).info.status for run_id in (dead, reused, alive, elsewhere, untagged)}
    assert status == {dead: "KILLED", reused: "KILLED", alive: "RUNNING", elsewhere: "RUNNING", untagged: "RUNNING"}
    assert capsys.readouterr().err.count("which is gone: marked it KILLED") == 2


def test_opening_a_run_marks_orphans_killed(store, tmp_path):
    mlflow.set_tracking_uri(store)
    orphan = _running_run(mlflow.create_experiment("test-exp"), pid=str(_dead_pid()))
    with tracking.variant_run("mlp", 1, tmp_path / "mlflow_run.json", "test-exp", new=True, tags={}) as run:
        assert mlflow.get_run(orphan).info.status == "KILLED"
    tags = mlflow.get_run(run.run_id).data.tags
    assert (tags[tracking.HOST_TAG], tags[tracking.PID_TAG]) == (socket.gethostname(), str(os.getpid()))


def test_the_runs_link_opens_the_model_training_view():
    assert tracking.runs_url("7", "sqlite:///mlflow.db") == (
        "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert tracking.runs_url("7", "https://mlflow.example.com/") == (
        "https://mlflow.example.com/#/experiments/7/runs?workflowType=machine_learning"
    )


def test_a_failing_stage_leaves_its_run_failed_and_no_run_file(store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with pytest.raises(RuntimeError), tracking.variant_run("mlp", 1, run_file, "test-exp", new=True, tags={}) as run:
        raise RuntimeError("crash mid-training")
    assert mlflow.get_run(run.run_id).info.status == "FAILED"
    assert not run_file.exists()


def test_a_run_missing_from_the_store_is_replaced_by_a_new_one(store, tmp_path, capsys):
    run_file = tmp_path / "mlflow_run.json"
    run_file.write_text(json.dumps({"run_id": "0" * 32}))
    with tracking.variant_run("mlp", 1, run_file, "test-exp", new=False, tags={}) as run:
        pass
    assert run.run_id != "0" * 32
    assert "is not in" in capsys.readouterr().err


def test_a_server_that_is_down_stops_the_stage_with_one_line_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PipelineError) as error:
        tracking.check_reachable(uri)
    assert str(error.value) == (
        f"MLflow tracking server {uri} is not reachable (Connection refused): start it or unset MLFLOW_TRACKING_URI"
    )


def test_no_run_is_opened_and_no_run_file_written_when_the_server_is_down(monkeypatch, tmp_path):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, f"http://127.0.0.1:{free_port()}")
    run_file = tmp_path / "mlflow_run.json"
    with (
        pytest.raises(PipelineError, match="is not reachable"),
        tracking.variant_run("mlp", 1, run_file, "test-exp", new=True, tags={}),
    ):
        pytest.fail("the stage's work ran")
    assert not run_file.exists()
    assert mlflow.active_run() is None


def test_any_http_answer_counts_as_reachable_and_local_stores_are_not_probed():
    probes = []

    class NotImplementedHandler(BaseHTTPRequestHandler):  # answers every GET with 501
        def do_GET(self):
            probes.append(self.path)
            self.send_error(501)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotImplementedHandler)
    thread = threading.Thread(target=lambda: [server.handle_request() for _ in range(2)])
    thread.start()
    uri = f"http://127.0.0.1:{server.server_port}/"
    try:
        tracking.check_reachable(uri)  # no error: a 501 is an answer
    finally:
        thread.join(timeout=10)
        server.server_close()
    asked = ["/health", "/api/2.0/mlflow/experiments/search?max_results=1"]
    assert probes == asked
    tracking.check_reachable(uri)  # gone now, but checked once per process: no error, no second probe
    tracking.check_reachable("sqlite:///nowhere/mlflow.db")  # a local store is never probed
    assert probes == asked


def test_a_server_whose_database_is_down_stops_the_stage_in_seconds(monkeypatch):
    class DatabaseDownHandler(BaseHTTPRequestHandler):  # /health is fine, the API hangs (as with PostgreSQL down)
        def do_GET(self):
            if self.path != "/health":
                time.sleep(3)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    monkeypatch.setattr(tracking, "PROBE_TIMEOUT_SECONDS", 1)
    server = HTTPServer(("127.0.0.1", 0), DatabaseDownHandler)
    thread = threading.Thread(target=lambda: [server.handle_request() for _ in range(2)])
    thread.start()
    uri = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(PipelineError) as raised:
            tracking.check_reachable(uri)
    finally:
        thread.join(timeout=10)
        server.server_close()
    assert str(raised.value) == (
        f"MLflow tracking server {uri} is up but its API fails (no answer within 1 s): its backend store (database) "
        "is probably down or unreachable; see the server's log, fix it and rerun"
    )


def test_a_failing_store_request_mid_stage_is_one_line_naming_the_store(store, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("API request to http://x/api/2.0/mlflow/runs/log-batch failed\nmore")

    run = tracking.variant_run("mlp", 1, tmp_path / "mlflow_run.json", "test-exp", new=True, tags={})
    with pytest.raises(PipelineError) as raised, run:
        monkeypatch.setattr(mlflow, "log_metrics", fail)
        tracking.log_metrics({"epoch_accuracy": 0.5})
    assert str(raised.value) == (
        f"MLflow tracking store {store} failed: API request to http://x/api/2.0/mlflow/runs/log-batch failed: "
        "check that it (and its database) is up, then rerun"
    )
    assert not (tmp_path / "mlflow_run.json").exists()


def test_http_retries_are_bounded_unless_the_user_set_them():
    environ = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    tracking.bound_http_retries(environ)
    assert environ == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
    }
