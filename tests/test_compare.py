"""The compare stage: from every variant's seeds and exported files to exactly the outputs dvc.yaml declares.
Its work is tested in tests/reporting/ (test_ranking, test_comparison, test_tables, test_plots, test_results)."""

import json
import re

import mlflow
import pytest
from matplotlib.figure import Figure

from pipeline import compare
from pipeline.core import config, paths
from pipeline.core.config import MONITORS
from pipeline.core.errors import PipelineError
from pipeline.core.paths import APP_FLAVOURS, COMPARISON, CURVES, HEADLINE_METRICS, TFLITE_FLAVOURS, VariantPaths
from pipeline.reporting.results import SEED_METRICS, TRAINING_KEYS
from pipeline.tracking import runs

PARAMS = config.load_params()
TEST_IMAGES = 40
FIGURES = {  # one exported file as export measures it
    "accuracy": 0.9,
    "accuracy_drop": 0.0,
    "top1_agreement": 1.0,
    "size_bytes": 1000,
    "size_vs_float32": 1.0,
    "latency_ms_median": 0.03,
    "latency_ms_p95": 0.04,
    "throughput_images_per_s": 30000.0,
}
APP_SET = {"accuracy": 0.9, "top1_agreement": 1.0, "latency_ms_median": 0.7, "latency_ms_p95": 0.9}
APP_RGB = APP_SET | {"mediapipe_top1_agreement_with_litert": 1.0, "mediapipe_max_abs_score_diff": 0.0}
APP_PHOTO = APP_SET | {"accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95}


def _write_variant(name: str, right: int) -> None:
    """A variant whose every seed's model got `right` of the TEST_IMAGES test images right."""
    variant = VariantPaths(name)
    for seed in PARAMS.seeds:
        files = variant.seed(seed)
        files.reports_dir.mkdir(parents=True)
        training = {key: 1 for key in TRAINING_KEYS} | {"precision": "float32", "cpu_model": "cpu", "cpu_isa": "avx2"}
        files.training.write_text(json.dumps(training))
        files.metrics.write_text(json.dumps({key: right / TEST_IMAGES for key in SEED_METRICS}))
        predictions = ["actual,predicted"] + [f"Bag,{'Bag' if i < right else 'Coat'}" for i in range(TEST_IMAGES)]
        files.predictions.write_text("\n".join(predictions) + "\n")
        files.history.write_text("epoch," + ",".join(MONITORS) + "\n1," + ",".join(["0.5"] * len(MONITORS)) + "\n")
    app = {build: {"size_bytes": 1000, "rgb": APP_RGB, "photo_like": APP_PHOTO} for build in APP_FLAVOURS}
    app |= {"flavour": APP_FLAVOURS[0], "test_images": TEST_IMAGES, "mediapipe_images": 20, "confidence": 0.95}
    app["accuracy_drop"] = 0.0
    tflite = {flavour: FIGURES for flavour in TFLITE_FLAVOURS} | {"app": app, "keras_predict_latency_ms_median": 40.0}
    variant.tflite_metrics.write_text(json.dumps(tflite))


@pytest.fixture
def saved(tmp_path, monkeypatch):
    """compare.main() on a variant reports folder, MLflow left out: what it would write, by path."""
    monkeypatch.setattr(paths, "VARIANT_REPORTS_DIR", tmp_path / "variants")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")  # local: nothing to probe
    outputs = {}

    def save_outputs(rows, best, metric, written, logged, params):
        outputs.update(written)
        return "registry: (not in this test)", "runs url"

    monkeypatch.setattr(compare, "save_outputs", save_outputs)
    return outputs


def test_compare_writes_every_declared_output_with_the_best_variant(saved, capsys):
    for right, name in enumerate(PARAMS.run_variants, start=TEST_IMAGES // 2):
        _write_variant(name, right)
    compare.main()
    best = PARAMS.run_variants[-1]  # the most test images right
    assert set(saved) == {*COMPARISON.values(), HEADLINE_METRICS, CURVES}
    assert saved[COMPARISON["json"]]["best"] == best
    assert [row["variant"] for row in saved[COMPARISON["json"]]["variants"]] == list(PARAMS.selected)
    assert f"Best by `{PARAMS.compare.best_by}` (mean over seeds): **{best}** ★" in saved[COMPARISON["md"]]
    assert isinstance(saved[COMPARISON["png"]], Figure) and set(saved[HEADLINE_METRICS]) == set(PARAMS.run_variants)
    shown = capsys.readouterr().out
    assert shown.startswith("# Variant comparison") and "## On device" not in shown


def test_compare_names_a_variant_whose_results_are_missing(saved):
    for name in PARAMS.run_variants[1:]:
        _write_variant(name, TEST_IMAGES // 2)
    missing = VariantPaths(PARAMS.run_variants[0]).seed(PARAMS.seeds[0]).training
    with pytest.raises(PipelineError, match=f"^{re.escape(str(missing))} is missing: run "):
        compare.main()


def _seed_runs(recipes: dict[int, str]) -> None:
    """Seed runs of `mlp`, nested under the parent run of each seed's recipe, recorded where train records them."""
    for seed, recipe in recipes.items():
        run_file = paths.SeedPaths("mlp", seed).run_file
        run_file.parent.mkdir(parents=True, exist_ok=True)
        with runs.variant_run("mlp", seed, run_file, "test-exp", new=True, tags={}, recipe=recipe):
            pass


def _parents_metrics() -> list[dict]:
    parents = mlflow.search_runs(experiment_names=["test-exp"], filter_string="tags.run_type = 'variant'")
    return [
        {k.removeprefix("metrics."): v for k, v in row.items() if k.startswith("metrics.") and v == v}
        for _, row in parents.iterrows()
    ]


@pytest.mark.parametrize("recipes", [{1: "a", 2: "a"}, {1: "a", 2: "b"}], ids=["one recipe", "two recipes"])
def test_the_mean_over_seeds_goes_to_their_parent_run_only_when_they_share_one(tmp_path, monkeypatch, capsys, recipes):
    monkeypatch.setattr(paths, "MODELS_DIR", tmp_path / "models")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    _seed_runs(recipes)
    row = {
        "variant": "mlp",
        "seeds": [{"seed": seed} for seed in recipes],
        "test_accuracy": 0.9,
        "test_accuracy_sd": 0.01,
    }
    compare.log_to_parents([row])
    logged = _parents_metrics()
    if len(set(recipes.values())) == 1:
        assert logged == [{"test_accuracy": 0.9, "test_accuracy_sd": 0.01, "seeds": 2.0}]
    else:
        assert logged == [{}, {}]
        assert "mlp's seeds are nested under 2 parent runs" in capsys.readouterr().err
