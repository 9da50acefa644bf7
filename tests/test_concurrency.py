"""Experiments run side by side: `dvc exp run --queue` then `dvc queue start --jobs 2`, for real.

A fresh git repository copy of the project (no MLflow store yet, as after a clone) with two small
one-epoch MLP variants, one seed each, and real Fashion-MNIST capped to 3,000 training images. Every
experiment must succeed and log to the repository's own `mlflow.db`, once per variant, seed and stage.
"""

from pathlib import Path

import pytest
import yaml
from conftest import (
    REPOSITORY,
    SMALL_HIDDEN_UNITS,
    SMALL_VARIANTS,
    copy_project,
    edit_params,
    init_git,
    run_command,
    run_queue,
    small_pipeline,
)
from mlflow import MlflowClient

from pipeline.core.paths import SYSTEM_DATA_DIR

pytestmark = pytest.mark.slow  # queued `dvc exp run` experiments, run for real

DATASET = str(SYSTEM_DATA_DIR)
VARIANTS = SMALL_VARIANTS
EXPERIMENTS = {"wide-mlp": ("mlp", 24), "wide-mlp-dropout": ("mlp_dropout", 24)}  # name: the variant widened
HIDDEN_UNITS = SMALL_HIDDEN_UNITS
SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # small_pipeline's only seed
SEED_RUNS = {f"{variant} seed {SEED}": variant for variant in VARIANTS}  # run name: its variant
GIVE_UP_SECONDS = 1800  # only so that a hung queue fails the test instead of blocking the suite


@pytest.fixture(scope="module")
def queue_run(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The project after two queued experiments ran two at a time: its root, each experiment's status
    and its log (`dvc queue logs`)."""
    root = copy_project(tmp_path_factory.mktemp("project")).resolve()
    edit_params(root, small_pipeline)
    init_git(root)
    for name, (variant, units) in EXPERIMENTS.items():
        change = f"variants.{variant}.hidden_units=[{units}]"
        run_command(["dvc", "exp", "run", "--queue", "-S", change, "--name", name], root, FASHION_MNIST_DIR=DATASET)
    statuses = run_queue(root, EXPERIMENTS, GIVE_UP_SECONDS, FASHION_MNIST_DIR=DATASET)
    logs = {name: run_command(["dvc", "queue", "logs", name], root, check=False).stdout for name in EXPERIMENTS}
    return root, statuses, logs


def test_every_queued_experiment_succeeds_without_a_locked_database(queue_run):
    _, statuses, logs = queue_run
    assert statuses == dict.fromkeys(EXPERIMENTS, "Success"), logs
    for name, log in logs.items():
        assert "Running stage 'compare'" in log, name
        assert "database is locked" not in log
        assert "Traceback" not in log


def test_every_run_lands_once_in_the_repository_store(queue_run):
    root, _, _ = queue_run
    assert sorted(root.rglob("mlflow.db")) == [root / "mlflow.db"]
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fashion-mnist")
    runs = client.search_runs([experiment.experiment_id])
    assert {run.data.tags.get("dvc_experiment") for run in runs} == set(EXPERIMENTS)  # none from elsewhere
    for name, (widened, units) in EXPERIMENTS.items():
        ran = [run for run in runs if run.data.tags["dvc_experiment"] == name]
        # Per variant, its seed run and the parent run it is nested under: both of the experiment's recipes
        # are new to the store (the two experiments' variants differ in their hidden units), so are their parents.
        assert sorted(run.info.run_name for run in ran) == sorted([*VARIANTS, *SEED_RUNS, "comparison"]), name
        assert {run.info.status for run in ran} == {"FINISHED"}
        parents = {run.data.tags["variant"]: run for run in ran if run.data.tags.get("run_type") == "variant"}
        assert sorted(parents) == sorted(VARIANTS) and all(run.info.run_name == v for v, run in parents.items())
        for run in ran:
            assert run.info.artifact_uri.startswith((root / "mlartifacts").as_uri())
            if run.info.run_name not in SEED_RUNS:  # the comparison, a parent: nothing of a stage's own
                assert run.info.run_name == "comparison" or client.list_artifacts(run.info.run_id) == [], name
                continue
            variant = SEED_RUNS[run.info.run_name]
            assert run.data.tags["mlflow.parentRunId"] == parents[variant].info.run_id, (name, variant)
            assert run.data.params["seed"] == str(SEED)
            expected = units if variant == widened else HIDDEN_UNITS
            assert str(expected) in run.data.params["variant.hidden_units"]
            for metric in ("train_seconds", "test_accuracy", "tflite.float32.accuracy"):  # train, evaluate, export
                assert len(client.get_metric_history(run.info.run_id, metric)) == 1, (name, run.info.run_name, metric)


def test_each_experiment_logs_its_models_and_registers_its_best_in_the_repository_store(queue_run):
    root, _, _ = queue_run
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fashion-mnist")
    runs = [run for run in client.search_runs([experiment.experiment_id]) if run.info.run_name in SEED_RUNS]
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    # One per seed run (its parent run logs none), named after its variant and seed.
    assert sorted(m.source_run_id for m in models) == sorted(run.info.run_id for run in runs)
    names = {run.info.run_id: f"{SEED_RUNS[run.info.run_name]}-seed-{SEED}" for run in runs}
    for model in models:
        assert model.name == names[model.source_run_id]
        assert model.artifact_location.startswith((root / "mlartifacts").as_uri())
        assert "test_accuracy" in {metric.key for metric in model.metrics}
    for run in runs:
        assert {i.dataset.name for i in run.inputs.dataset_inputs} == {
            f"fashion_mnist-{s}" for s in ("train", "val", "test")
        }
    versions = client.search_model_versions("name = 'fashion-mnist-classifier'")
    assert sorted(v.tags["dvc_experiment"] for v in versions) == sorted(EXPERIMENTS)  # each experiment's best
    assert {v.source.removeprefix("models:/") for v in versions} <= {m.model_id for m in models}
