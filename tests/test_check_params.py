"""`python -m pipeline.check_params`: params.yaml validated on demand, as every stage validates it."""

import subprocess
import sys

import yaml

from pipeline.paths import PARAMS_FILE, ROOT


def _check_params(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.check_params", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_the_repository_params_are_reported_valid_with_their_variants():
    variants = list(yaml.safe_load(PARAMS_FILE.read_text())["variants"])
    result = _check_params()
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"params.yaml is valid: {len(variants)} variants ({', '.join(variants)})\n"


def test_a_bad_file_is_rejected_with_one_line_and_exit_code_2(tmp_path):
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    name = next(iter(raw["variants"]))
    raw["variants"][name]["model"] = "cnnn"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = _check_params("--params", str(bad))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: params.yaml: variants.{name}.model: must be one of mlp, cnn; did you mean 'cnn'?\n"
