import json
import subprocess

import mlflow
import pytest
from conftest import free_port

from pipeline.core.errors import PipelineError
from pipeline.tracking import mirror, orphans, runs, stage_time, store


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch):
    """An empty local store, as $MLFLOW_TRACKING_URI names it; no run is left open."""
    uri = f"sqlite:///{tmp_path / store.STORE_FILE}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def test_stages_of_a_variant_share_one_run(sqlite_store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with runs.variant_run("cnn", 1, run_file, "test-exp", new=True, tags={"data_sha256": "abc"}) as run:
        mirror.log_params({"variant": {"model": "cnn", "dropout": 0.2}})
        mirror.log_metrics({"epoch_accuracy": 0.5}, step=1)
    recorded = json.loads(run_file.read_text())["run_id"]
    assert recorded == run.run_id
    with runs.variant_run("cnn", 1, run_file, "test-exp", new=False, tags={}) as resumed:
        mirror.log_metrics({"test_accuracy": 0.9, "per_class": {"Bag": {"f1": 0.8}}, "note": "text"})
    assert resumed.run_id == recorded
    finished = mlflow.get_run(recorded)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"variant.model": "cnn", "variant.dropout": "0.2"}
    logged = {key: value for key, value in finished.data.metrics.items() if not key.startswith(("stage_", "system/"))}
    assert logged == {"epoch_accuracy": 0.5, "test_accuracy": 0.9, "per_class.Bag.f1": 0.8}
    assert finished.data.tags["variant"] == "cnn" and finished.data.tags["data_sha256"] == "abc"
    assert (finished.data.tags["seed"], finished.info.run_name) == ("1", "cnn seed 1")
    assert len(mlflow.search_runs(experiment_names=["test-exp"])) == 1


def _seed_run(variant: str, seed: int, recipe: str, run_file) -> mlflow.entities.Run:
    with runs.variant_run(variant, seed, run_file, "test-exp", new=True, tags={}, recipe=recipe) as run:
        pass
    return mlflow.get_run(run.run_id)


def test_each_seed_is_a_run_of_its_own_nested_under_one_parent_run_per_recipe(sqlite_store, tmp_path):
    first = _seed_run("cnn", 1, "recipe-a", tmp_path / "1" / "mlflow_run.json")
    second = _seed_run("cnn", 2, "recipe-a", tmp_path / "2" / "mlflow_run.json")
    assert first.info.run_id != second.info.run_id
    assert [(run.info.run_name, run.data.tags["seed"]) for run in (first, second)] == [
        ("cnn seed 1", "1"),
        ("cnn seed 2", "2"),
    ]
    parent_id = first.data.tags[runs.PARENT_TAG]
    assert second.data.tags[runs.PARENT_TAG] == parent_id  # two seeds of one recipe: one parent
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
    parents = {run.data.tags[runs.PARENT_TAG] for run in (edited, other)}
    assert len(parents) == 2 and parent_id not in parents
    # the later stages reopen the seed's run, which stays where train nested it
    with runs.variant_run("cnn", 2, tmp_path / "2" / "mlflow_run.json", "test-exp", new=False, tags={}) as resumed:
        pass
    assert resumed.run_id == second.info.run_id
    assert mlflow.get_run(resumed.run_id).data.tags[runs.PARENT_TAG] == parent_id
    assert len(mlflow.search_runs(experiment_names=["test-exp"])) == 4 + 3  # four seed runs, three parents


def test_the_model_train_logged_is_recorded_for_the_later_stages(sqlite_store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with runs.variant_run("cnn", 1, run_file, "test-exp", new=True, tags={}) as run:
        assert run.model_id is None
        run.model_id = "m-123"
    assert json.loads(run_file.read_text())["model_id"] == "m-123"
    with runs.variant_run("cnn", 1, run_file, "test-exp", new=False, tags={}) as resumed:
        assert (resumed.run_id, resumed.model_id) == (run.run_id, "m-123")


def test_a_failing_stage_leaves_its_run_failed_and_no_run_file(sqlite_store, tmp_path):
    run_file = tmp_path / "mlflow_run.json"
    with pytest.raises(RuntimeError), runs.variant_run("mlp", 1, run_file, "test-exp", new=True, tags={}) as run:
        raise RuntimeError("crash mid-training")
    assert mlflow.get_run(run.run_id).info.status == "FAILED"
    assert not run_file.exists()


def test_a_run_missing_from_the_store_is_replaced_by_a_new_one(sqlite_store, tmp_path, capsys):
    run_file = tmp_path / "mlflow_run.json"
    run_file.write_text(json.dumps({"run_id": "0" * 32}))
    with runs.variant_run("mlp", 1, run_file, "test-exp", new=False, tags={}) as run:
        pass
    assert run.run_id != "0" * 32
    assert "is not in" in capsys.readouterr().err


def test_no_run_is_opened_and_no_run_file_written_when_the_server_is_down(monkeypatch, tmp_path):
    monkeypatch.setenv(store.TRACKING_URI_ENV, f"http://127.0.0.1:{free_port()}")
    run_file = tmp_path / "mlflow_run.json"
    with (
        pytest.raises(PipelineError, match="is not reachable"),
        runs.variant_run("mlp", 1, run_file, "test-exp", new=True, tags={}),
    ):
        pytest.fail("the stage's work ran")
    assert not run_file.exists()
    assert mlflow.active_run() is None


def test_a_failing_store_request_mid_stage_is_one_line_naming_the_store(sqlite_store, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("API request to http://x/api/2.0/mlflow/runs/log-batch failed\nmore")

    run = runs.variant_run("mlp", 1, tmp_path / "mlflow_run.json", "test-exp", new=True, tags={})
    with pytest.raises(PipelineError) as raised, run:
        monkeypatch.setattr(mlflow, "log_metrics", fail)
        mirror.log_metrics({"epoch_accuracy": 0.5})
    assert str(raised.value) == (
        f"MLflow tracking store {sqlite_store} failed: API request to http://x/api/2.0/mlflow/runs/log-batch failed: "
        "check that it (and its database) is up, then rerun"
    )
    assert not (tmp_path / "mlflow_run.json").exists()


def test_a_run_records_the_process_that_opened_it_and_the_commit(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "exp-abc12")
    with runs.variant_run("mlp", 1, tmp_path / "mlflow_run.json", "test-exp", new=True, tags={}) as run:
        pass
    tags = mlflow.get_run(run.run_id).data.tags
    assert {key: tags[key] for key in (orphans.HOST_TAG, orphans.PID_TAG)} == {
        key: orphans.process_tags()[key] for key in (orphans.HOST_TAG, orphans.PID_TAG)
    }
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=runs.ROOT, capture_output=True, text=True).stdout.strip()
    assert (tags["git_commit"], tags["dvc_experiment"]) == (head or "unknown", "exp-abc12")


def test_outside_git_the_commit_is_unknown_and_without_dvc_no_experiment_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "ROOT", tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert runs.provenance_tags() == {"git_commit": "unknown"}


def test_a_summary_run_is_a_run_of_its_own_with_its_tags(sqlite_store):
    with runs.summary_run("comparison", "test-exp", tags={"run_type": "comparison"}) as run:
        mirror.log_metrics({"best": 0.9})
    finished = mlflow.get_run(run.info.run_id)
    assert (finished.info.run_name, finished.info.status) == ("comparison", "FINISHED")
    assert finished.data.tags["run_type"] == "comparison" and orphans.PID_TAG in finished.data.tags
    metrics = finished.data.metrics
    assert metrics.keys() == {"best", "stage_seconds.stage"} and metrics["best"] == 0.9
    assert 0 < metrics["stage_seconds.stage"] <= stage_time.process_seconds()  # this process's wall time, so far


def test_only_a_model_logged_in_this_store_exists(sqlite_store):
    mlflow.set_tracking_uri(sqlite_store)
    mlflow.set_experiment("test-exp")
    model_id = mlflow.create_external_model(name="cnn").model_id
    assert runs.logged_model_exists(model_id)
    assert not runs.logged_model_exists("m-" + "0" * 32)  # e.g. recorded by a run in another store
