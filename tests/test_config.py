import copy
import subprocess
import sys
import textwrap

import pytest
import yaml

from pipeline import config
from pipeline.cli import PipelineError
from pipeline.config import DataParams, Params, VariantParams, load_params, parse_params


@pytest.fixture
def raw_params():
    """The repository's params.yaml as a plain dict, to be broken one key at a time."""
    return copy.deepcopy(yaml.safe_load(config.PARAMS_FILE.read_text()))


def _error(raw) -> str:
    with pytest.raises(PipelineError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_repository_params_load_with_the_four_variants():
    params = load_params()
    assert isinstance(params, Params)
    assert list(params.variants) == ["mlp", "mlp_dropout", "cnn", "cnn_dropout"]
    cnn_dropout = params.variant("cnn_dropout")
    assert (cnn_dropout.model, cnn_dropout.dropout, cnn_dropout.filters) == ("cnn", 0.3, (32, 64))
    assert cnn_dropout.precision == "mixed_bfloat16" and cnn_dropout.lr_schedule == "cosine"
    assert params.variant("mlp").model == "mlp"
    assert params.data == DataParams(source_dir=None, val_fraction=0.1, limit=None)
    assert params.tracking.experiment == "fashion-mnist"


def test_lists_become_tuples_and_ints_are_accepted_as_floats(raw_params):
    raw_params["variants"]["cnn"]["filters"] = [8, 16, 32]
    raw_params["variants"]["cnn"]["learning_rate"] = 1
    params = parse_params(raw_params)
    assert params.variant("cnn").filters == (8, 16, 32)
    assert params.variant("cnn").learning_rate == 1.0
    assert isinstance(params.variant("cnn").learning_rate, float)


def test_omitted_optional_keys_take_their_defaults(raw_params):
    for section in ("tracking", "compare", "gate"):
        del raw_params[section]
    raw_params["variants"] = {"tiny": {"model": "mlp"}}
    params = parse_params(raw_params)
    assert params.tracking.experiment == "fashion-mnist"
    assert params.compare.best_by == "test_accuracy"
    assert params.gate.min_test_accuracy_by_variant == {}
    assert params.variant("tiny") == VariantParams(model="mlp")


def test_unknown_top_level_key_is_named(raw_params):
    raw_params["sed"] = 1
    message = _error(raw_params)
    assert message.startswith("params.yaml: sed: unknown key")
    assert "seed" in message  # the known keys are listed


def test_unknown_nested_key_is_named_with_its_full_path(raw_params):
    raw_params["variants"]["cnn"]["dropuot"] = 0.5
    message = _error(raw_params)
    assert "variants.cnn.dropuot: unknown key" in message
    assert "dropout" in message


def test_unknown_key_in_data_section_is_named(raw_params):
    raw_params["data"]["val_fracton"] = 0.2
    assert "params.yaml: data.val_fracton: unknown key" in _error(raw_params)


def test_wrong_type_names_the_key_and_the_value(raw_params):
    raw_params["variants"]["mlp"]["epochs"] = "ten"
    message = _error(raw_params)
    assert "variants.mlp.epochs" in message
    assert "expected int" in message
    assert "'ten'" in message


def test_bool_is_not_accepted_as_an_int(raw_params):
    raw_params["threads"] = True
    message = _error(raw_params)
    assert message == "params.yaml: threads: expected int, got True"


def test_bool_is_not_accepted_as_a_float(raw_params):
    raw_params["variants"]["cnn"]["dropout"] = False
    assert "variants.cnn.dropout: expected a number, got False" in _error(raw_params)


def test_wrong_type_inside_a_list_names_the_index(raw_params):
    raw_params["variants"]["cnn"]["filters"] = [32, "64"]
    assert "variants.cnn.filters[1]: expected int" in _error(raw_params)


def test_a_section_that_is_not_a_mapping_is_named(raw_params):
    raw_params["data"] = [0.1]
    assert "params.yaml: data: expected a mapping" in _error(raw_params)


@pytest.mark.parametrize(
    ("section", "key", "value", "rule"),
    [
        ("variants.cnn", "dropout", 1.0, "must be in [0, 1)"),
        ("variants.cnn", "dropout", -0.1, "must be in [0, 1)"),
        ("variants.mlp", "epochs", 0, "must be at least 1"),
        ("variants.mlp", "batch_size", 0, "must be at least 1"),
        ("variants.mlp", "hidden_units", 0, "must be at least 1"),
        ("variants.mlp", "learning_rate", 0.0, "must be positive"),
        ("variants.cnn", "filters", [32, 0], "must be positive"),
        ("variants.mlp", "model", "transformer", "must be one of mlp, cnn"),
        ("data", "val_fraction", 0, "must be between 0 and 1 (exclusive)"),
        ("data", "val_fraction", 1.0, "must be between 0 and 1 (exclusive)"),
        ("data", "limit", 99, "must be null or at least 100"),
    ],
)
def test_out_of_range_value_names_the_key_and_the_rule(raw_params, section, key, value, rule):
    target = raw_params
    for part in section.split("."):
        target = target[part]
    target[key] = value
    assert _error(raw_params) == f"params.yaml: {section}.{key}: {rule}"


def test_threads_below_one_is_rejected(raw_params):
    raw_params["threads"] = 0
    assert _error(raw_params) == "params.yaml: threads: must be at least 1"


def test_no_variants_is_rejected(raw_params):
    raw_params["variants"] = {}
    assert _error(raw_params) == "params.yaml: variants: must declare at least one variant"


@pytest.mark.parametrize(("path", "key"), [((), "seed"), (("variants", "cnn"), "model")])
def test_missing_required_key_is_named(raw_params, path, key):
    target = raw_params
    for part in path:
        target = target[part]
    del target[key]
    full_key = ".".join((*path, key))
    assert _error(raw_params) == f"params.yaml: {full_key}: missing"


def test_unknown_variant_lists_the_known_ones():
    params = load_params()
    with pytest.raises(PipelineError) as caught:
        params.variant("nope")
    message = str(caught.value)
    assert "variants.nope: no such variant" in message
    assert "known: mlp, mlp_dropout, cnn, cnn_dropout" in message


def test_unreadable_or_invalid_params_file_is_a_one_line_error(tmp_path):
    with pytest.raises(PipelineError, match="cannot read .*missing.yaml"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("seed: [1,\nthreads: 2\n")
    with pytest.raises(PipelineError) as caught:
        load_params(broken)
    assert str(caught.value).startswith("params.yaml is not valid YAML:")
    assert "\n" not in str(caught.value)


def _run_stage(body: str) -> subprocess.CompletedProcess:
    """Run `pipeline.cli.run(main)` in a fresh interpreter, `main` being defined by `body`."""
    script = "from pipeline import cli\n" + textwrap.dedent(body) + "\ncli.run(main)\n"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=config.ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_stage_error_is_one_line_on_stderr_with_exit_code_2():
    result = _run_stage(
        """
        def main():
            raise cli.PipelineError("params.yaml: variants.cnn.dropuot: unknown key")
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


def test_a_gate_bound_for_an_unknown_variant_is_named(raw_params):
    raw_params["gate"]["min_test_accuracy_by_variant"] = {"cnn_dropuot": 0.9}
    assert _error(raw_params) == "params.yaml: gate.min_test_accuracy_by_variant.cnn_dropuot: names no variant"


def test_a_gate_accuracy_above_one_is_rejected(raw_params):
    raw_params["gate"]["min_test_accuracy"] = 90
    assert _error(raw_params) == "params.yaml: gate.min_test_accuracy: must be an accuracy between 0 and 1"


def test_best_by_must_be_a_comparison_column(raw_params):
    raw_params["compare"]["best_by"] = "accuracy"
    message = _error(raw_params)
    assert message.startswith("params.yaml: compare.best_by: must be one of")
    assert "test_accuracy" in message


@pytest.mark.parametrize("key", ["precision", "lr_schedule"])
def test_unknown_precision_or_schedule_lists_the_choices(raw_params, key):
    raw_params["variants"]["cnn"][key] = "fast"
    assert _error(raw_params).startswith(f"params.yaml: variants.cnn.{key}: must be one of")


def test_a_negative_seed_is_rejected(raw_params):
    raw_params["seed"] = -1
    assert _error(raw_params) == "params.yaml: seed: must be at least 0"
