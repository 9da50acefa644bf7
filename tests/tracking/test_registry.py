import json

import mlflow
import pytest

from pipeline.tracking import registry


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


@pytest.fixture
def store(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("test-exp")
    yield mlflow.MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()


def _logged_model(name: str) -> str:
    with mlflow.start_run():
        return mlflow.pyfunc.log_model(name=name, python_model=Constant(), pip_requirements=[]).model_id


def test_champion_names_the_version_that_cleared_the_gate_and_a_rerun_adds_no_version(store):
    first = _logged_model("cnn")
    registered = registry.register("classifier", first, {"variant": "cnn"}, make_champion=True)
    assert registered == registry.Registration("classifier", "1", created=True, champion="1")
    assert registry.register("classifier", first, {"variant": "cnn"}, make_champion=True).created is False
    assert [str(v.version) for v in store.search_model_versions("name = 'classifier'")] == ["1"]
    version = store.get_model_version_by_alias("classifier", "champion")
    assert (version.source, version.tags) == (f"models:/{first}", {"variant": "cnn"})
    logged = store.get_logged_model(first)
    assert version.run_id == logged.source_run_id  # the version links to the run that trained it...
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": "classifier", "version": 1}]  # ...and back


def test_a_model_that_fails_the_gate_is_registered_but_the_champion_stays(store):
    first, second = _logged_model("cnn"), _logged_model("mlp")
    registry.register("classifier", first, {}, make_champion=True)
    registered = registry.register("classifier", second, {}, make_champion=False)
    assert registered == registry.Registration("classifier", "2", created=True, champion="1")

    registered = registry.register("classifier", second, {}, make_champion=True)
    assert registered == registry.Registration("classifier", "2", created=False, champion="2")
    sources = sorted((str(v.version), v.source) for v in store.search_model_versions("name = 'classifier'"))
    assert sources == [("1", f"models:/{first}"), ("2", f"models:/{second}")]  # the old champion's version stays


def test_no_champion_until_a_model_clears_the_gate(store):
    registered = registry.register("classifier", _logged_model("cnn"), {}, make_champion=False)
    assert registered.champion is None
