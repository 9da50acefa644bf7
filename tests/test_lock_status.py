from pipeline import lock_status

LOCK = {
    "stages": {
        "preprocess": {"outs": [{"path": "data/prepared"}, {"path": "reports/data/summary.json"}]},
        "train@mlp": {"outs": [{"path": "models/mlp/model.keras"}, {"path": "reports/variants/mlp/training.json"}]},
        "evaluate@mlp": {"outs": [{"path": "reports/variants/mlp/metrics.json"}]},
        "compare": {"outs": [{"path": "reports/comparison.json"}]},
    }
}
# `dvc status --json` on a fresh clone: data, models and cached outputs are missing; compare's directory
# dependencies differ only because the cached files in them are.
FRESH_CLONE = {
    "preprocess": [{"changed deps": {"data/raw": "deleted"}}, {"changed outs": {"data/prepared": "not in cache"}}],
    "train@mlp": [
        {"changed deps": {"data/prepared": "deleted", "reports/data/summary.json": "modified"}},
        {"changed outs": {"models/mlp/model.keras": "not in cache"}},
    ],
    "compare": [{"changed deps": {"reports/variants": "modified", "models": "deleted"}}],
}


def test_missing_data_and_outputs_of_a_fresh_clone_are_not_stale():
    assert lock_status.stale_reasons(FRESH_CLONE, LOCK) == {}


def test_changed_code_params_command_and_edited_metrics_are_stale():
    status = {
        **FRESH_CLONE,
        "train@mlp": [{"changed deps": {"pipeline/train.py": "modified", "params.yaml": {"variants.mlp": "modified"}}}],
        "evaluate@mlp": [{"changed outs": {"reports/variants/mlp/metrics.json": "modified"}}],
        "compare": ["changed command", {"changed deps": {"params.yaml": {"compare.best_by": "new"}}}],
    }
    assert lock_status.stale_reasons(status, LOCK) == {
        "train@mlp": ["pipeline/train.py", "params variants.mlp"],
        "evaluate@mlp": ["output reports/variants/mlp/metrics.json"],
        "compare": ["command", "params compare.best_by"],
    }


def test_a_stage_that_never_ran_is_stale_and_the_line_names_every_stale_stage():
    status = {"train@wide": [{"changed deps": {"pipeline/train.py": "modified", "params.yaml": "new"}}]}
    stale = lock_status.stale_reasons(status, LOCK)
    assert stale == {"train@wide": ["not in dvc.lock"]}
    line = lock_status.describe(stale | {"compare": ["a.py", "b.py", "c.py", "d.py", "e.py"]})
    assert "\n" not in line
    assert "train@wide (not in dvc.lock); compare (a.py, b.py, c.py and 2 more)" in line
    assert line.endswith("run `dvc repro` and commit dvc.lock with the metrics")
