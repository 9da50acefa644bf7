"""The paths the stages write are the ones dvc.yaml declares, so DVC tracks exactly what is written."""

import yaml

from pipeline.paths import COMPARISON, ROOT, TFLITE_FLAVOURS, VariantPaths


def _declared(stage: dict) -> set[str]:
    """Every output path of a stage: outs, metrics and plots, as written in dvc.yaml."""
    entries = [entry for key in ("outs", "metrics", "plots") for entry in stage.get(key, [])]
    return {entry if isinstance(entry, str) else next(iter(entry)) for entry in entries}


def test_each_variants_outputs_are_the_ones_dvc_yaml_declares():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    declared = {
        name: {path.replace("${key}", "v") for path in _declared(stages[name]["do"])}
        for name in ("train", "evaluate", "export")
    }
    paths = VariantPaths("v")
    written = {
        "train": {paths.model, paths.run_file, paths.training, paths.history, paths.learning_curves},
        "evaluate": {paths.metrics, paths.confusion_csv, paths.confusion_png, paths.predictions_png},
        "export": {
            *(paths.tflite(flavour) for flavour in TFLITE_FLAVOURS),
            paths.app_tflite,
            paths.labels,
            paths.tflite_metrics,
        },
    }
    for stage, files in written.items():
        assert {path.relative_to(ROOT).as_posix() for path in files} == declared[stage], stage
    assert {path.relative_to(ROOT).as_posix() for path in COMPARISON.values()} == _declared(stages["compare"])


def test_the_float32_file_is_plain_model_tflite():
    assert VariantPaths("cnn").tflite().name == "model.tflite"
    assert VariantPaths("cnn").tflite("int8").name == "model_int8.tflite"
