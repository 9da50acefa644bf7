"""`python -m pipeline.check_params`: params.yaml validated on demand, as every stage validates it."""

import subprocess
import sys

import yaml

from pipeline.core.paths import PARAMS_FILE, ROOT


def _check_params(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.check_params", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_the_repository_params_are_reported_valid_with_the_variants_to_run_and_their_seeds():
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    variants, seeds = raw["run_variants"], len(raw["seeds"])
    result = _check_params()
    assert (result.returncode, result.stderr) == (0, "")
    each = f"{seeds} seed{'' if seeds == 1 else 's'} each"
    assert result.stdout == f"params.yaml is valid: {len(variants)} variants to run ({', '.join(variants)}), {each}\n"


def test_a_bad_file_is_rejected_with_one_line_and_exit_code_2(tmp_path):
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    name = next(iter(raw["variants"]))
    raw["variants"][name]["model"] = "cnnn"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = _check_params("--params", str(bad))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: params.yaml: variants.{name}.model: must be one of mlp, cnn; did you mean 'cnn'?\n"


def test_another_file_is_reported_with_its_own_variants_to_run_and_seeds(tmp_path):
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    name = raw["run_variants"][-1]
    raw |= {"seeds": [1, 2, 3], "run_variants": [name]}
    other = tmp_path / "sweep.yaml"
    other.write_text(yaml.safe_dump(raw))
    result = _check_params("--params", str(other))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{other} is valid: 1 variant to run ({name}), 3 seeds each\n"
