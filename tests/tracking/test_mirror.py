import mlflow
import pytest

from pipeline.tracking import mirror


@pytest.fixture
def active_run(tmp_path):
    """An open run in an empty local store."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("test-exp")
    with mlflow.start_run() as run:
        yield run


def test_nested_values_get_the_dotted_keys_dvc_shows():
    nested = {"test_accuracy": 0.9, "per_class": {"Bag": {"f1": 0.8}}, "note": "text"}
    assert mirror.flatten(nested) == {"test_accuracy": 0.9, "per_class.Bag.f1": 0.8, "note": "text"}
    assert mirror.flatten({}) == {}


def test_params_and_numeric_metrics_are_logged_to_the_active_run(active_run):
    mirror.log_params({"variant": {"model": "cnn", "dropout": 0.2}})
    mirror.log_metrics({"test_accuracy": 0.9, "per_class": {"Bag": {"f1": 0.8}}, "note": "text"}, step=2)
    logged = mlflow.get_run(active_run.info.run_id).data
    assert logged.params == {"variant.model": "cnn", "variant.dropout": "0.2"}
    assert logged.metrics == {"test_accuracy": 0.9, "per_class.Bag.f1": 0.8}  # text is not a metric


def test_metrics_linked_to_a_model_are_listed_on_its_page(active_run):
    model_id = mlflow.create_external_model(name="cnn").model_id
    mirror.log_metrics({"tflite": {"accuracy": 0.75}}, model_id=model_id)
    (metric,) = mlflow.get_logged_model(model_id).metrics
    assert (metric.key, metric.value, metric.run_id) == ("tflite.accuracy", 0.75, active_run.info.run_id)


def test_files_are_logged_as_artifacts_and_a_missing_one_is_named(active_run, tmp_path):
    report, curves = tmp_path / "report.json", tmp_path / "curves.csv"
    report.write_text("{}")
    curves.write_text("epoch\n")
    mirror.log_artifacts(report, curves)
    listed = mlflow.MlflowClient().list_artifacts(active_run.info.run_id)
    assert sorted(artifact.path for artifact in listed) == ["curves.csv", "report.json"]
    with pytest.raises(FileNotFoundError, match="missing.json"):
        mirror.log_artifacts(tmp_path / "missing.json")
