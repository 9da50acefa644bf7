import json
import subprocess

import pytest

from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PARAMS_FILE, ROOT
from pipeline.reporting import gate_checks as checks_module
from pipeline.reporting.gate_checks import Check, format_checks, gate_checks, git_reader, read_metrics

GATE = config.GateParams(
    min_test_accuracy=0.85,
    min_test_accuracy_by_variant={"cnn": 0.9},
    max_tflite_accuracy_drop=0.002,
    max_quantized_accuracy_drop=0.005,
    min_tflite_agreement=0.999,
    max_tflite_size_bytes=2_000_000,
    max_int8_size_ratio=0.3,
    max_app_accuracy_drop=0.005,
    max_regression=0.005,
)
CHECKS_PER_VARIANT = 9  # test accuracy; float32 drop, agreement, size; 3 quantized drops; int8 size ratio; app drop


def _values(test=0.91, drop=0.0, agreement=1.0, size=1_000_000, int8_drop=0.003, int8_ratio=0.26, app_drop=0.001):
    return {
        "test_accuracy": test,
        "float32.accuracy_drop": drop,
        "float32.top1_agreement": agreement,
        "float32.size_bytes": size,
        "int8.size_vs_float32": int8_ratio,
        "dynamic_range.accuracy_drop": 0.001,
        "float16.accuracy_drop": 0.0,
        "int8.accuracy_drop": int8_drop,
        "app.accuracy_drop": app_drop,
    }


def _tflite_json(values: dict) -> dict:
    """`_values` as the nested tflite.json that export writes."""
    nested = {}
    for key, value in values.items():
        if "." in key:
            flavour, name = key.split(".")
            nested.setdefault(flavour, {})[name] = value
    return nested | {"threads": 2}


def _failures(checks: list[Check]) -> list[tuple[str, str]]:
    return [(c.variant, c.name) for c in checks if not c.passed]


def test_good_metrics_pass_every_check():
    checks = gate_checks({"mlp": _values(test=0.86), "cnn": _values()}, GATE)
    assert len(checks) == 2 * CHECKS_PER_VARIANT and _failures(checks) == []


def test_per_variant_minimum_overrides_the_default():
    checks = gate_checks({"mlp": _values(test=0.88), "cnn": _values(test=0.88)}, GATE)
    assert _failures(checks) == [("cnn", "test_accuracy")]
    (cnn_check,) = [c for c in checks if c.variant == "cnn" and c.name == "test_accuracy"]
    assert cnn_check.bound == 0.9


def test_tflite_drop_agreement_and_size_are_bounded():
    checks = gate_checks({"cnn": _values(drop=0.01, agreement=0.99, size=3_000_000)}, GATE)
    assert _failures(checks) == [
        ("cnn", "float32.accuracy_drop"),
        ("cnn", "float32.top1_agreement"),
        ("cnn", "float32.size_bytes"),
    ]


def test_quantized_files_are_held_to_their_own_drop_and_int8_to_its_size_ratio():
    assert _failures(gate_checks({"cnn": _values(int8_drop=0.004, int8_ratio=0.3)}, GATE)) == []
    checks = gate_checks({"cnn": _values(int8_drop=0.006, int8_ratio=0.31)}, GATE)
    assert _failures(checks) == [("cnn", "int8.accuracy_drop"), ("cnn", "int8.size_vs_float32")]


def test_the_app_flavour_is_held_to_its_drop_under_mediapipe():
    assert _failures(gate_checks({"cnn": _values(app_drop=0.005)}, GATE)) == []
    assert _failures(gate_checks({"cnn": _values(app_drop=0.0051)}, GATE)) == [("cnn", "app.accuracy_drop")]


def test_a_regression_against_the_baseline_fails_beyond_the_tolerance():
    baseline = {"mlp": _values(test=0.87), "cnn": _values(test=0.93)}
    checks = gate_checks({"mlp": _values(test=0.866), "cnn": _values(test=0.92)}, GATE, baseline)
    assert _failures(checks) == [("cnn", "mean_test_accuracy_vs_baseline")]


def test_a_variant_without_baseline_is_only_held_to_the_bounds():
    checks = gate_checks({"new": _values()}, GATE, baseline={"mlp": _values()})
    assert len(checks) == CHECKS_PER_VARIANT and "test_accuracy_vs_baseline" not in [c.name for c in checks]


def test_table_shows_value_bound_and_verdict():
    checks = [
        Check("cnn", "test_accuracy", 0.8912, 0.9, minimum=True),
        Check("cnn", "float32.size_bytes", 1_691_300, 2e6, False),
    ]
    lines = format_checks(checks).splitlines()
    assert lines[0].split() == ["variant", "check", "value", "bound", "result"]
    assert lines[1].split() == ["cnn", "test_accuracy", "0.8912", "≥", "0.9000", "FAIL"]
    assert lines[2].split() == ["cnn", "float32.size_bytes", "1,691,300", "≤", "2,000,000", "PASS"]


def test_every_seed_is_held_to_the_minimum_not_only_the_mean():
    """min_test_accuracy bounds each seed's model: a mean above the bound does not hide a seed below it."""
    values = _values(test=0.86) | {"seeds": {1: 0.88, 2: 0.84, 3: 0.86}}  # mean 0.86 >= 0.85
    checks = gate_checks({"mlp": values}, GATE)
    assert _failures(checks) == [("mlp", "test_accuracy seed 2")]
    assert [c.name for c in checks if c.name.startswith("test_accuracy")] == [
        f"test_accuracy seed {seed}" for seed in (1, 2, 3)
    ]


def _row(test=0.91, seeds=(0.91,)) -> dict:
    """A variant's row in comparison.json, as compare writes it."""
    per_seed = [{"seed": index + 1, "test_accuracy": value} for index, value in enumerate(seeds)]
    return {"variant": "cnn", "test_accuracy": test, "seeds": per_seed, "tflite": _tflite_json(_values())}


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setattr(checks_module, "ROOT", tmp_path)  # where the gate shows paths from
    comparison = tmp_path / "reports" / "comparison.json"
    monkeypatch.setitem(checks_module.COMPARISON, "json", comparison)
    comparison.parent.mkdir(parents=True)
    comparison.write_text(json.dumps({"best": "cnn", "variants": [_row()]}))
    return comparison


def test_metrics_are_read_from_the_comparison(reports):
    assert read_metrics(["cnn"]) == {"cnn": _values() | {"seeds": {1: 0.91}}}


def test_the_baseline_needs_only_the_mean_test_accuracy(reports):
    reports.write_text(json.dumps({"variants": [{"variant": "cnn", "test_accuracy": 0.9}]}))  # an older layout
    assert read_metrics(["cnn"], tflite=False) == {"cnn": {"test_accuracy": 0.9, "seeds": {}}}


def test_a_baseline_without_a_variant_leaves_it_out(reports):
    """A variant added since REV has no baseline (the gate notes it); the others still have theirs."""
    assert read_metrics(["cnn", "mlp"], tflite=False) == {"cnn": {"test_accuracy": 0.91, "seeds": {1: 0.91}}}


def test_a_row_without_the_exported_files_figures_is_malformed(reports):
    reports.write_text(json.dumps({"variants": [{"variant": "cnn", "test_accuracy": 0.9}]}))
    with pytest.raises(PipelineError, match=r"comparison.json is malformed: KeyError\('tflite'\)"):
        read_metrics(["cnn"])


def test_a_missing_comparison_is_named(reports):
    reports.unlink()
    with pytest.raises(PipelineError, match=r"reports/comparison.json is missing: run `dvc repro` first"):
        read_metrics(["cnn"])


def test_a_variant_missing_from_the_comparison_is_named(reports):
    with pytest.raises(PipelineError, match=r"reports/comparison.json is malformed: KeyError\('no results for mlp'\)"):
        read_metrics(["cnn", "mlp"])


def test_a_malformed_comparison_is_named(reports):
    reports.write_text('{"variants": ')
    with pytest.raises(PipelineError, match=r"reports/comparison.json is malformed"):
        read_metrics(["cnn"])
    reports.write_text(json.dumps({"variants": [{"variant": "cnn", "accuracy": 0.9}]}))
    with pytest.raises(PipelineError, match=r"comparison.json is malformed: KeyError\('test_accuracy'\)"):
        read_metrics(["cnn"])


def test_a_baseline_is_read_as_committed_at_a_revision():
    committed = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True)
    read = git_reader("HEAD")
    assert read(PARAMS_FILE) == committed.stdout
    assert read(ROOT / "no-such-file.json") is None


def test_an_unknown_revision_is_named():
    with pytest.raises(PipelineError, match=r"^--against no-such-rev: not a git revision of this repository$"):
        git_reader("no-such-rev")
