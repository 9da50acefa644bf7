"""`python -m pipeline.<stage>` with bad input, run for real in a temporary copy of the repository:
one `error: ...` line naming the key, exit code 2, nothing written, before any stage import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import config


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of the package and params.yaml; stages run there find its params.yaml, not ours."""
    shutil.copytree(config.ROOT / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(config.PARAMS_FILE, tmp_path / "params.yaml")
    return tmp_path


def _edit_params(repo: Path, old: str, new: str) -> None:
    params = repo / "params.yaml"
    text = params.read_text()
    assert old in text
    params.write_text(text.replace(old, new, 1))


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )


def _files(repo: Path) -> set[Path]:
    return {path for path in repo.rglob("*") if "__pycache__" not in path.parts}


def _assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_a_mistyped_key_stops_train_with_one_line_that_suggests_the_fix(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    cnn = params["variants"]["cnn"]
    cnn["dropuot"] = cnn.pop("dropout")
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = _files(repo)
    line = _assert_one_line_error(_run(repo, "pipeline.train", "mlp"))
    assert line.startswith("error: params.yaml: variants.cnn.dropuot: unknown key; did you mean 'dropout'? (known: ")
    assert _files(repo) == before  # no data, model, report or MLflow store


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "error: params.yaml: empty; expected a mapping with at least seed, threads, data, variants"),
        ("- seed\n- threads\n", "error: params.yaml: expected a mapping with at least seed, threads, data, variants"),
        ("seed: [1,\nthreads: 2\n", "error: params.yaml is not valid YAML: expected ',' or ']'"),
    ],
    ids=["empty", "top-level list", "invalid YAML"],
)
def test_an_empty_or_malformed_params_file_is_one_line(repo, content, message):
    (repo / "params.yaml").write_text(content)
    assert _assert_one_line_error(_run(repo, "pipeline.train", "mlp")).startswith(message)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("epochs: 15", "epochs: fifteen", "variants.mlp.epochs: expected int, got 'fifteen'"),
        ("threads: 2", "threads: true", "threads: expected int, got True"),
        ("learning_rate: 0.002", "learning_rate: 2e-3", "expected a number, got '2e-3' (YAML reads it as text"),
        ("  experiment: fashion-mnist", "  - fashion-mnist", "tracking: expected a mapping, got ['fashion-mnist']"),
        ("dropout: 0.2", "dropout: 1.0", "variants.mlp_dropout.dropout: must be in [0, 1)"),
        ("batch_size: 256", "batch_size: 0", "variants.mlp_dropout.batch_size: must be at least 1"),
        ("val_fraction: 0.1", "val_fraction: 1.5", "data.val_fraction: must be between 0 and 1 (exclusive)"),
        ("model: cnn", "model: cnnn", "variants.cnn.model: must be one of mlp, cnn; did you mean 'cnn'?"),
    ],
)
def test_a_bad_value_stops_the_stage_with_one_line_naming_key_and_rule(repo, old, new, message):
    _edit_params(repo, old, new)
    assert message in _assert_one_line_error(_run(repo, "pipeline.train", "mlp"))


def test_a_variant_missing_from_params_is_named_with_the_known_ones(repo):
    line = _assert_one_line_error(_run(repo, "pipeline.train", "nosuch"))
    known = "mlp, mlp_dropout, mlp_deep, cnn, cnn_dropout, cnn_aug"
    assert line == f"error: params.yaml: variants.nosuch: no such variant (known: {known})"
    line = _assert_one_line_error(_run(repo, "pipeline.evaluate", "cnn_dropuot"))
    assert "variants.cnn_dropuot: no such variant; did you mean 'cnn_dropout'?" in line


def test_params_are_checked_before_the_stage_module_is_imported(repo):
    # A stand-in stage module that says when it runs: with bad params it never does.
    (repo / "pipeline" / "train.py").write_text('print("the train stage ran")\n')
    assert _run(repo, "pipeline.train", "mlp").stdout == "the train stage ran\n"
    _edit_params(repo, "seed: 42", "sed: 42")
    line = _assert_one_line_error(_run(repo, "pipeline.train", "mlp"))
    assert line.startswith("error: params.yaml: sed: unknown key; did you mean 'seed'?")


def test_help_and_plain_imports_work_even_with_bad_params(repo):
    _edit_params(repo, "seed: 42", "sed: 42")
    result = _run(repo, "pipeline.check", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: ")
    imported = subprocess.run(
        [sys.executable, "-c", "import pipeline.config"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert (imported.returncode, imported.stderr) == (0, "")
