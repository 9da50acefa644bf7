import json

import pytest
import yaml

from pipeline.core.errors import PipelineError
from pipeline.reporting import lock_status

LOCK = {
    "stages": {
        "preprocess": {"outs": [{"path": "data/prepared"}, {"path": "reports/data/summary.json"}]},
        "train@mlp-1": {
            "outs": [{"path": "models/mlp/seed-1/model.keras"}, {"path": "reports/variants/mlp/seed-1/training.json"}]
        },
        "evaluate@mlp-1": {"outs": [{"path": "reports/variants/mlp/seed-1/metrics.json"}]},
        "export@mlp": {"outs": [{"path": "models/mlp/model.tflite"}, {"path": "reports/variants/mlp/tflite.json"}]},
        "compare": {"outs": [{"path": "reports/comparison.json"}, {"path": "reports/metrics.json"}]},
    }
}
# `dvc status --json` on a fresh clone: data, models and cached outputs (every seed's and variant's) are
# missing; compare's directory dependencies differ only because the cached files in them are.
FRESH_CLONE = {
    "preprocess": [{"changed deps": {"data/raw": "deleted"}}, {"changed outs": {"data/prepared": "not in cache"}}],
    "train@mlp-1": [
        {"changed deps": {"data/prepared": "deleted", "reports/data/summary.json": "modified"}},
        {"changed outs": {"models/mlp/seed-1/model.keras": "not in cache"}},
    ],
    "evaluate@mlp-1": [
        {"changed deps": {"data/prepared": "deleted", "models/mlp/seed-1/model.keras": "deleted"}},
        {"changed outs": {"reports/variants/mlp/seed-1/metrics.json": "not in cache"}},
    ],
    "export@mlp": [
        {"changed deps": {"models/mlp/seed-1/model.keras": "deleted"}},
        {
            "changed outs": {
                "models/mlp/model.tflite": "not in cache",
                "reports/variants/mlp/tflite.json": "not in cache",
            }
        },
    ],
    "compare": [{"changed deps": {"reports/variants": "modified", "models": "deleted"}}],
}


def test_missing_data_and_outputs_of_a_fresh_clone_are_not_stale():
    assert lock_status.stale_reasons(FRESH_CLONE, LOCK) == {}


def test_changed_code_params_command_and_edited_metrics_are_stale():
    status = {
        **FRESH_CLONE,
        "train@mlp-1": [
            {"changed deps": {"pipeline/train.py": "modified", "params.yaml": {"variants.mlp": "modified"}}}
        ],
        "evaluate@mlp-1": [{"changed outs": {"reports/variants/mlp/seed-1/metrics.json": "modified"}}],
        "compare": [
            "changed command",
            {"changed deps": {"params.yaml": {"compare.best_by": "new"}}},
            {"changed outs": {"reports/metrics.json": "modified"}},
        ],
    }
    assert lock_status.stale_reasons(status, LOCK) == {
        "train@mlp-1": ["pipeline/train.py", "params variants.mlp"],
        "evaluate@mlp-1": ["output reports/variants/mlp/seed-1/metrics.json"],
        "compare": ["command", "params compare.best_by", "output reports/metrics.json"],
    }


def test_a_stage_that_never_ran_is_stale_and_the_line_names_every_stale_stage():
    # a new variant, or a new seed of a variant that ran: its stages are not in dvc.lock yet
    status = {
        "train@wide-1": [{"changed deps": {"pipeline/train.py": "modified", "params.yaml": "new"}}],
        "train@mlp-2": [{"changed deps": {"params.yaml": "new"}}],
    }
    stale = lock_status.stale_reasons(status, LOCK)
    assert stale == {"train@wide-1": ["not in dvc.lock"], "train@mlp-2": ["not in dvc.lock"]}
    line = lock_status.describe(stale | {"compare": ["a.py", "b.py", "c.py", "d.py", "e.py"]})
    assert "\n" not in line
    assert (
        "train@wide-1 (not in dvc.lock); train@mlp-2 (not in dvc.lock); compare (a.py, b.py, c.py and 2 more)" in line
    )
    assert line.endswith("run `dvc repro` and commit dvc.lock with the metrics")


def _fake_dvc(directory, script: str) -> None:
    dvc = directory / "dvc"
    dvc.write_text(f"#!/bin/sh\n{script}\n")
    dvc.chmod(0o755)


def test_dvc_status_is_read_from_the_dvc_on_path(tmp_path, monkeypatch):
    status = {"train@mlp-1": ["changed command"]}
    _fake_dvc(tmp_path, f"echo '{json.dumps(status)}'")
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert lock_status.stale_stages(tmp_path) == {"train@mlp-1": ["command"]}


def test_without_dvc_on_path_the_error_says_to_activate_the_venv(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dvc there
    with pytest.raises(PipelineError, match=r"^`dvc` is not on PATH, .*`source \.venv/bin/activate`"):
        lock_status.stale_stages(tmp_path)


def test_a_failing_dvc_status_is_named(tmp_path, monkeypatch):
    _fake_dvc(tmp_path, "echo 'ERROR: not a dvc repository' >&2; exit 1")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PipelineError, match=r"^`dvc status` failed \(ERROR: not a dvc repository\)"):
        lock_status.stale_stages(tmp_path)
