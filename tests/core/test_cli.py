"""`python -m pipeline.<stage>` with bad input, run for real in a temporary copy of the repository:
one `error: ...` line naming the key, exit code 2, nothing written, before any stage import."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.core import cli
from pipeline.core.paths import PARAMS_FILE, ROOT

REQUIRED = "a mapping with at least seed, seeds, threads, data, run_variants, variants"


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of the package and params.yaml; stages run there find its params.yaml, not ours."""
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PARAMS_FILE, tmp_path / "params.yaml")
    return tmp_path


def _params(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())


def _set(repo: Path, key: str, value) -> None:
    """Set a dotted key of the copy's params.yaml ("variants.mlp.epochs"), writing it back as YAML."""
    params = _params(repo)
    *parents, last = key.split(".")
    section = params
    for parent in parents:
        section = section[parent]
    section[last] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _misspell_seed(repo: Path) -> None:
    params = _params(repo)
    params = {("sed" if key == "seed" else key): value for key, value in params.items()}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


FIRST_VARIANT = next(iter(yaml.safe_load(PARAMS_FILE.read_text())["variants"]))
SEED = str(yaml.safe_load(PARAMS_FILE.read_text())["seeds"][0])  # train and evaluate take `<variant> <seed>`
V = f"variants.{FIRST_VARIANT}"


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
    line = _assert_one_line_error(_run(repo, "pipeline.train", "mlp", SEED))
    assert line.startswith("error: params.yaml: variants.cnn.dropuot: unknown key; did you mean 'dropout'? (known: ")
    assert _files(repo) == before  # no data, model, report or MLflow store


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", f"error: params.yaml: empty; expected {REQUIRED}"),
        ("- seed\n- threads\n", f"error: params.yaml: expected {REQUIRED}"),
        ("seed: [1,\nthreads: 2\n", "error: params.yaml is not valid YAML: expected ',' or ']'"),
    ],
    ids=["empty", "top-level list", "invalid YAML"],
)
def test_an_empty_or_malformed_params_file_is_one_line(repo, content, message):
    (repo / "params.yaml").write_text(content)
    assert _assert_one_line_error(_run(repo, "pipeline.train", "mlp", SEED)).startswith(message)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (f"{V}.epochs", "fifteen", f"{V}.epochs: expected int, got 'fifteen'"),
        ("threads", True, "threads: expected int, got True"),
        (f"{V}.learning_rate", "2e-3", "expected a number, got '2e-3' (YAML reads it as text"),
        ("tracking", ["fashion-mnist"], "tracking: expected a mapping, got ['fashion-mnist']"),
        (f"{V}.dropout", 1.0, f"{V}.dropout: must be in [0, 1)"),
        (f"{V}.batch_size", 0, f"{V}.batch_size: must be at least 1"),
        ("data.val_fraction", 1.5, "data.val_fraction: must be between 0 and 1 (exclusive)"),
        (f"{V}.model", "cnnn", f"{V}.model: must be one of mlp, cnn; did you"),
    ],
)
def test_a_bad_value_stops_the_stage_with_one_line_naming_key_and_rule(repo, key, value, message):
    _set(repo, key, value)
    assert message in _assert_one_line_error(_run(repo, "pipeline.train", FIRST_VARIANT, SEED))


def test_a_variant_missing_from_params_is_named_with_the_known_ones(repo):
    line = _assert_one_line_error(_run(repo, "pipeline.train", "nosuch", SEED))
    known = ", ".join(_params(repo)["variants"])
    assert line == f"error: params.yaml: variants.nosuch: no such variant (known: {known})"
    typo = FIRST_VARIANT[:-1] + "x" + FIRST_VARIANT[-1]
    line = _assert_one_line_error(_run(repo, "pipeline.evaluate", typo, SEED))
    assert f"variants.{typo}: no such variant; did you mean '{FIRST_VARIANT}'?" in line
    line = _assert_one_line_error(_run(repo, "pipeline.export", typo))  # export takes the variant alone
    assert f"variants.{typo}: no such variant; did you mean '{FIRST_VARIANT}'?" in line


@pytest.mark.parametrize("stage", ["fetch", "preprocess", "train", "evaluate", "export", "compare", "gate"])
def test_params_are_checked_before_the_stage_imports_tensorflow(repo, stage):
    _misspell_seed(repo)
    args = {"train": [FIRST_VARIANT, SEED], "evaluate": [FIRST_VARIANT, SEED], "export": [FIRST_VARIANT]}.get(stage, [])
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"pipeline.{stage}", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *imports, line = result.stderr.splitlines()  # `-X importtime` lists every module imported, on stderr
    assert result.returncode == 2 and line.startswith("error: params.yaml: sed: unknown key; did you mean 'seed'?")
    imported = {entry.rsplit("|", 1)[-1].strip().split(".")[0] for entry in imports}
    assert "pipeline" in imported and not imported & {"tensorflow", "keras", "mlflow", "matplotlib"}


def test_help_and_plain_imports_work_even_with_bad_params(repo):
    _misspell_seed(repo)
    result = _run(repo, "pipeline.gate", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: ")
    imported = subprocess.run(
        [sys.executable, "-c", "import pipeline.core.config"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert (imported.returncode, imported.stderr) == (0, "")


def test_train_and_evaluate_take_a_variant_and_a_training_seed(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train", "cnn", "2"])
    assert cli.parse_variant_seed(None) == ("cnn", 2)
    for args, problem in (
        (["cnn"], "the following arguments are required: seed"),
        (["cnn", "two"], "argument seed: invalid int value: 'two'"),
    ):
        monkeypatch.setattr(sys, "argv", ["train", *args])
        with pytest.raises(SystemExit) as exited:
            cli.parse_variant_seed(None)
        assert exited.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1].endswith(problem)


def _run_stage(body: str) -> subprocess.CompletedProcess:
    """Run `pipeline.core.cli.run(main)` in a fresh interpreter, `main` being defined by `body`."""
    header = "from pipeline.core import cli\nfrom pipeline.core.errors import PipelineError\n"
    script = header + textwrap.dedent(body) + "\ncli.run(main)\n"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_stage_error_is_one_line_on_stderr_with_exit_code_2():
    result = _run_stage(
        """
        def main():
            raise PipelineError("params.yaml: variants.cnn.dropuot: unknown key")
        """
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: params.yaml: variants.cnn.dropuot: unknown key\n"
    assert "Traceback" not in result.stderr


def test_successful_stage_exits_zero():
    result = _run_stage(
        """
        def main():
            print("done")
        """
    )
    assert result.returncode == 0
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_unexpected_errors_are_not_disguised_as_user_errors():
    result = _run_stage(
        """
        def main():
            raise RuntimeError("a real bug")
        """
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "RuntimeError: a real bug" in result.stderr
