import numpy as np
import pytest

from pipeline.core.config import VariantParams
from pipeline.core.errors import PipelineError
from pipeline.training.architectures import build_model
from pipeline.training.keras_file import load_keras_model, predict_logits


def test_a_saved_model_loads_and_predicts_the_same_logits(tmp_path):
    model = build_model(VariantParams(model="mlp", hidden_units=(8,)))
    path = tmp_path / "model.keras"
    model.save(path)
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    np.testing.assert_allclose(predict_logits(load_keras_model(path), images), predict_logits(model, images), atol=1e-6)


def test_load_model_refuses_a_file_that_is_not_a_model(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a model")
    with pytest.raises(PipelineError, match="model.keras is not a loadable Keras model"):
        load_keras_model(bogus)


def test_a_missing_model_names_the_stage_that_writes_it_or_just_the_file(tmp_path):
    missing = tmp_path / "model.keras"
    with pytest.raises(PipelineError, match=r"model.keras is missing: run the train stage first \(dvc repro\)"):
        load_keras_model(missing)
    with pytest.raises(PipelineError, match="cannot read .*model.keras: No such file or directory"):
        load_keras_model(missing, written_by=None)
