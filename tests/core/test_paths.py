"""The paths the stages write are the ones dvc.yaml declares, so DVC tracks exactly what is written."""

import yaml

from pipeline.core.paths import COMPARISON, CURVES, HEADLINE_METRICS, ROOT, TFLITE_FLAVOURS, SeedPaths, VariantPaths


def _declared(stage: dict, key: str = "") -> set[str]:
    """Every output path of a stage (outs, metrics and plots), or its `key` entries, as written in dvc.yaml."""
    entries = [entry for name in ([key] if key else ["outs", "metrics", "plots"]) for entry in stage.get(name, [])]
    return {entry if isinstance(entry, str) else next(iter(entry)) for entry in entries}


def _as_written(path: str) -> str:
    """A templated dvc.yaml path for variant "v" and seed 7 (the first of `seeds` for export)."""
    for template, value in (("${item.variant}", "v"), ("${item.seed}", "7"), ("${item}", "v"), ("${seeds.0}", "7")):
        path = path.replace(template, value)
    return path


def _relative(files) -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in files}


def test_each_variants_and_seeds_outputs_are_the_ones_dvc_yaml_declares():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    definitions = {"train": stages["train"], "evaluate": stages["evaluate"], "export": stages["export"]["do"]}
    declared = {name: {_as_written(path) for path in _declared(stage)} for name, stage in definitions.items()}
    paths, seed = VariantPaths("v"), SeedPaths("v", 7)
    assert paths.seed(7) == seed
    written = {
        "train": {seed.model, seed.run_file, seed.training, seed.history, seed.learning_curves},
        "evaluate": {seed.metrics, seed.scores, seed.predictions, seed.confusion_png, seed.predictions_png},
        "export": {
            *(paths.tflite(flavour) for flavour in TFLITE_FLAVOURS),
            paths.app_tflite,
            paths.labels,
            paths.tflite_metrics,
        },
    }
    for stage, files in written.items():
        assert _relative(files) == declared[stage], stage
    # export reads the shipped seed's (the first of `seeds`) model and run, as train wrote them
    export_deps = {_as_written(path) for path in _declared(definitions["export"], "deps")}
    assert _relative([seed.model, seed.run_file]) <= export_deps
    compare = {*COMPARISON.values(), HEADLINE_METRICS, CURVES}
    assert _relative(compare) == _declared(stages["compare"])


def test_the_float32_file_is_plain_model_tflite():
    assert VariantPaths("cnn").tflite().name == "model.tflite"
    assert VariantPaths("cnn").tflite("int8").name == "model_int8.tflite"


def test_each_seed_has_its_own_directories_under_the_variants():
    variant, seed = VariantPaths("cnn"), VariantPaths("cnn").seed(3)
    assert seed.model_dir == variant.model_dir / "seed-3" and seed.reports_dir == variant.reports_dir / "seed-3"
    assert seed.model.name == "model.keras" and seed.run_file.name == "mlflow_run.json"
    assert seed.model_dir != VariantPaths("cnn").seed(4).model_dir
