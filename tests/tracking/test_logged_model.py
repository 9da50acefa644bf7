import time

import mlflow
import numpy as np
import pytest

from pipeline.core.config import VariantParams
from pipeline.tracking import logged_model
from pipeline.training.architectures import build_model
from pipeline.training.keras_file import predict_logits


@pytest.fixture
def store(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("test-exp")
    yield
    while mlflow.active_run():
        mlflow.end_run()


def test_a_logged_model_takes_raw_pixels_and_gives_the_models_logits(store):
    model = build_model(VariantParams(model="mlp", hidden_units=(8,)))
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    with mlflow.start_run() as run:
        started = time.perf_counter()
        model_id = logged_model.log_keras_model(model, "mlp", images, tags={"variant": "mlp"})
        print(f"logging the model took {time.perf_counter() - started:.2f} s")

    logged = mlflow.MlflowClient().get_logged_model(model_id)
    assert (logged.name, logged.source_run_id, logged.tags["variant"]) == ("mlp", run.info.run_id, "mlp")
    info = mlflow.models.get_model_info(f"models:/{model_id}")
    (pixels,), (logits,) = info.signature.inputs.inputs, info.signature.outputs.inputs
    assert (pixels.type, pixels.shape) == (np.dtype(np.uint8), (-1, 28, 28))
    assert (logits.name, logits.type, logits.shape) == ("logits", np.dtype(np.float32), (-1, 10))
    example = mlflow.models.Model.load(f"models:/{model_id}").load_input_example(f"models:/{model_id}")
    np.testing.assert_array_equal(example, images[: logged_model.EXAMPLE_IMAGES])

    loaded = mlflow.pyfunc.load_model(f"models:/{model_id}")
    np.testing.assert_allclose(loaded.predict(images), predict_logits(model, images), atol=1e-6)


def test_the_requirements_pin_what_trained_the_model_on_every_platform():
    requirements = logged_model.requirements()
    assert [r.split("==")[0] for r in requirements] == ["tensorflow-cpu", "tensorflow", "keras", "mlflow", "numpy"]
    assert requirements[0].endswith("; sys_platform == 'linux' and platform_machine == 'x86_64'")
    assert requirements[1].endswith("; not (sys_platform == 'linux' and platform_machine == 'x86_64')")
    assert f"mlflow=={mlflow.__version__}" in requirements
