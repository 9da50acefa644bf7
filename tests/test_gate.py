"""The gate command: its exit code and last line from the checks, and one line when DVC cannot answer.
The checks themselves are tests/reporting/test_gate_checks.py's."""

import json
import subprocess
import sys

import pytest

from pipeline import gate
from pipeline.core import config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import QUANTIZED_FLAVOURS, ROOT
from pipeline.reporting import gate_checks, lock_status

PARAMS = config.load_params()


def _row(name: str, accuracy: float) -> dict:
    """A variant's row in comparison.json that clears every bound of the exported files."""
    bounds = PARAMS.gate
    tflite = {flavour: {"accuracy_drop": 0.0} for flavour in QUANTIZED_FLAVOURS}
    tflite["float32"] = {"accuracy_drop": 0.0, "top1_agreement": 1.0, "size_bytes": bounds.max_tflite_size_bytes}
    tflite["int8"]["size_vs_float32"] = bounds.max_int8_size_ratio
    tflite["app"] = {"accuracy_drop": 0.0}
    seeds = [{"seed": seed, "test_accuracy": accuracy} for seed in PARAMS.seeds]
    return {"variant": name, "test_accuracy": accuracy, "seeds": seeds, "tflite": tflite}


def _bound(name: str) -> float:
    return PARAMS.gate.min_test_accuracy_by_variant.get(name, PARAMS.gate.min_test_accuracy)


@pytest.fixture
def comparison(tmp_path, monkeypatch):
    """reports/comparison.json with every variant of run_variants on its test-accuracy bound."""
    path = tmp_path / "comparison.json"
    monkeypatch.setitem(gate_checks.COMPARISON, "json", path)
    monkeypatch.setattr(gate_checks, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["gate", "--skip-lock-check"])
    path.write_text(json.dumps({"variants": [_row(name, _bound(name)) for name in PARAMS.run_variants]}))
    return path


def test_the_gate_passes_when_every_check_does(comparison, capsys):
    with pytest.raises(SystemExit) as exit_code:
        gate.main()
    checks = len(gate_checks.gate_checks(gate_checks.read_metrics(list(PARAMS.run_variants)), PARAMS.gate))
    assert exit_code.value.code == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{checks} of {checks} checks passed: the gate passes"


def test_the_gate_fails_on_a_variant_below_its_bound(comparison, capsys):
    name = PARAMS.run_variants[0]
    rows = [_row(other, _bound(other)) for other in PARAMS.run_variants[1:]]
    comparison.write_text(json.dumps({"variants": [_row(name, _bound(name) - 0.01), *rows]}))
    with pytest.raises(SystemExit) as exit_code:
        gate.main()
    assert exit_code.value.code == 1
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"the gate FAILS on {len(PARAMS.seeds)}")


def test_when_dvc_cannot_answer_the_error_names_the_way_around_the_check(monkeypatch):
    def no_answer():
        raise PipelineError("`dvc status` failed (no output)")

    monkeypatch.setattr(lock_status, "stale_stages", no_answer)
    with pytest.raises(PipelineError, match=r"^`dvc status` failed \(no output\) \(to gate the metrics alone: --skip"):
        gate.stale_stages()


@pytest.mark.parametrize("stale", [{}, {"compare": ["command"]}])
def test_the_lock_check_passes_on_what_lock_status_says(monkeypatch, stale):
    monkeypatch.setattr(lock_status, "stale_stages", lambda: stale)
    assert gate.stale_stages() == stale


def test_the_gate_without_dvc_on_path_says_so_in_one_line(tmp_path):
    """`python -m pipeline.gate` outside the activated venv: one line naming the problem and both ways out."""
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.gate"], cwd=ROOT, env={"PATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert run.returncode == 2 and run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: `dvc` is not on PATH") and "source .venv/bin/activate" in line
    assert line.endswith("(to gate the metrics alone: --skip-lock-check)")
