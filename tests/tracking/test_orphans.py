import os
import socket
import subprocess
from pathlib import Path

import mlflow
import pytest

from pipeline.tracking import experiments, orphans, store


@pytest.fixture
def experiment_id(tmp_path, monkeypatch) -> str:
    """An experiment in an empty local store, which $MLFLOW_TRACKING_URI names too."""
    uri = f"sqlite:///{tmp_path / store.STORE_FILE}"
    monkeypatch.setenv(store.TRACKING_URI_ENV, uri)
    mlflow.set_tracking_uri(uri)
    return mlflow.create_experiment("test-exp")


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _running_run(experiment_id: str, **process: str) -> str:
    """A run left RUNNING, as by a process killed outright, with the given process tags."""
    tags = orphans.process_tags()
    tags.update({getattr(orphans, f"{key.upper()}_TAG"): value for key, value in process.items()})
    return mlflow.MlflowClient().create_run(experiment_id, tags=tags, run_name="train-killed").info.run_id


def test_a_run_records_this_host_and_process_and_when_it_started():
    tags = orphans.process_tags()
    started = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    assert tags == {
        orphans.HOST_TAG: socket.gethostname(),
        orphans.PID_TAG: str(os.getpid()),
        orphans.STARTED_TAG: started,
    }
    assert orphans._process_started(_dead_pid()) == ""  # a process that is gone has no start time


def test_runs_left_running_by_a_process_that_is_gone_are_marked_killed_and_no_others(experiment_id, capsys):
    dead = _running_run(experiment_id, pid=str(_dead_pid()))
    reused = _running_run(experiment_id, started="1")  # this pid, but a process that started at another time
    alive = _running_run(experiment_id)  # this very process: a parallel stage that is still running
    elsewhere = _running_run(experiment_id, host="another-machine", pid=str(_dead_pid()))
    untagged = mlflow.MlflowClient().create_run(experiment_id).info.run_id

    assert sorted(orphans.mark_orphans_killed(experiment_id)) == sorted([dead, reused])

    status = {run_id: mlflow.get_run(run_id).info.status for run_id in (dead, reused, alive, elsewhere, untagged)}
    assert status == {dead: "KILLED", reused: "KILLED", alive: "RUNNING", elsewhere: "RUNNING", untagged: "RUNNING"}
    assert capsys.readouterr().err.count("which is gone: marked it KILLED") == 2


def test_opening_the_experiment_marks_its_orphans_killed(experiment_id):
    orphan = _running_run(experiment_id, pid=str(_dead_pid()))
    assert experiments.open_experiment("test-exp") == experiment_id
    assert mlflow.get_run(orphan).info.status == "KILLED"
