import subprocess
import sys
import time
import types

import mlflow
import pytest

from pipeline.core.paths import ROOT
from pipeline.tracking import runs, stage_time, store


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch):
    monkeypatch.setenv(store.TRACKING_URI_ENV, f"sqlite:///{tmp_path / store.STORE_FILE}")
    yield
    while mlflow.active_run():
        mlflow.end_run()


def test_the_stage_is_named_after_the_module_run_with_python_m(monkeypatch):
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="pipeline.export")
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert stage_time.stage_name() == "export"
    main.__spec__ = None  # python some_script.py
    assert stage_time.stage_name() == "stage"


def test_a_stage_process_counts_its_start_up_and_imports():
    code = "import time; time.sleep(0.6); from pipeline.tracking import stage_time; print(stage_time.process_seconds())"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert 0.6 <= float(result.stdout) < 30


def test_every_stage_run_records_its_wall_time_and_train_also_the_machines_load(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setattr(stage_time, "SYSTEM_METRICS_SECONDS", 0.2)
    run_file = tmp_path / "mlflow_run.json"
    with runs.variant_run("mlp", 1, run_file, "exp", new=True, tags={}) as trained:
        time.sleep(1.5)  # training: a few samples of the machine's load
    with runs.variant_run("mlp", 1, run_file, "exp", new=False, tags={}):
        pass
    with runs.summary_run("comparison", "exp", tags={}) as summary:
        pass
    metrics = mlflow.get_run(trained.run_id).data.metrics
    assert 0 < metrics["stage_seconds.stage"] < 3600
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_percentage"} <= set(metrics)
    assert "stage_seconds.stage" in mlflow.get_run(summary.info.run_id).data.metrics


def test_the_monitor_of_a_run_whose_store_went_away_adds_no_line_to_the_stages_error():
    code = (
        "import logging, mlflow\n"
        "from pipeline.tracking import stage_time\n"
        "stage_time.sample_system_metrics()\n"
        "logging.getLogger('mlflow.system_metrics.system_metrics_monitor').warning('Failed to get mlflow run')\n"
    )  # what MLflow's monitor logs once the server is gone
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stderr == ""
