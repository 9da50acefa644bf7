import copy

import pytest
import yaml

from pipeline.core import config
from pipeline.core.config import Params, VariantParams, load_params, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PARAMS_FILE, ROOT


@pytest.fixture
def raw_params():
    """The repository's params.yaml as a plain dict, to be broken one key at a time."""
    return copy.deepcopy(yaml.safe_load(PARAMS_FILE.read_text()))


def _error(raw) -> str:
    with pytest.raises(PipelineError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_the_repository_params_load_as_written(raw_params):
    params = load_params()
    assert isinstance(params, Params)
    assert list(params.variants) == list(raw_params["variants"])
    for name, raw in raw_params["variants"].items():
        spec = params.variant(name)
        assert spec.model == raw["model"] and spec.epochs == raw.get("epochs", VariantParams.epochs)
        assert spec.hidden_units == tuple(raw.get("hidden_units", VariantParams.hidden_units))
        # A variant that names no precision picks it from the CPU: bfloat16 only where it is native.
        assert spec.precision == raw.get("precision", "auto")
    assert params.data.val_fraction == raw_params["data"]["val_fraction"]
    assert params.tracking.experiment == raw_params["tracking"]["experiment"]
    assert params.seeds == tuple(raw_params["seeds"]) and params.run_variants == tuple(raw_params["run_variants"])


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
    raw_params["run_variants"] = ["tiny"]
    params = parse_params(raw_params)
    assert (params.tracking.experiment, params.tracking.registered_model) == (None, None)
    assert params.experiment == raw_params["data"]["dataset"].replace("_", "-")  # named after the dataset
    assert params.compare.best_by == "test_accuracy"
    assert (params.compare.effects, params.compare.confidence) == ({}, 0.95)
    assert params.gate.min_test_accuracy_by_variant == {}
    assert params.variant("tiny") == VariantParams(model="mlp")
    assert params.variant("tiny").precision == "auto"


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


@pytest.mark.parametrize(
    ("path", "typo", "meant"),
    [
        ((), "sed", "seed"),
        (("data",), "val_fracton", "val_fraction"),
        (("tracking",), "experimnt", "experiment"),
        (("compare",), "bestby", "best_by"),
        (("gate",), "min_test_acuracy", "min_test_accuracy"),
        (("variants", "cnn"), "dropuot", "dropout"),
    ],
)
def test_unknown_key_at_any_level_suggests_the_closest_known_one(raw_params, path, typo, meant):
    target = raw_params
    for part in path:
        target = target[part]
    target[typo] = target.pop(meant, 1)
    key = ".".join((*path, typo))
    assert _error(raw_params).startswith(f"params.yaml: {key}: unknown key; did you mean {meant!r}? (known: ")


def test_unknown_key_like_no_known_one_gets_only_the_list(raw_params):
    raw_params["variants"]["mlp"]["optimizer"] = "sgd"
    message = _error(raw_params)
    assert message.startswith("params.yaml: variants.mlp.optimizer: unknown key (known: model, dropout,")
    assert "did you mean" not in message


@pytest.mark.parametrize(
    ("section", "key", "typo", "meant"),
    [
        ("variants.mlp", "model", "cnnn", "cnn"),
        ("variants.mlp", "lr_schedule", "cosin", "cosine"),
        ("variants.cnn", "precision", "bfloat16", "mixed_bfloat16"),
        ("compare", "best_by", "test_acc", "test_accuracy"),
    ],
)
def test_a_mistyped_choice_suggests_the_closest_one(raw_params, section, key, typo, meant):
    target = raw_params
    for part in section.split("."):
        target = target[part]
    target[key] = typo
    message = _error(raw_params)
    assert message.startswith(f"params.yaml: {section}.{key}: must be one of ")
    assert message.endswith(f"; did you mean {meant!r}?")


def test_a_mistyped_variant_name_suggests_the_closest_one():
    params = load_params()
    name = max(params.variants, key=len)
    typo = name[:-2] + name[-1] + name[-2]  # the last two letters swapped
    with pytest.raises(PipelineError) as caught:
        params.variant(typo)
    assert str(caught.value) == (
        f"params.yaml: variants.{typo}: no such variant; did you mean '{name}'? (known: {', '.join(params.variants)})"
    )


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
    ("raw", "got"), [(None, ""), (["seed", "threads"], ", got ['seed', 'threads']"), ("seed", ", got 'seed'")]
)
def test_an_empty_file_or_a_top_level_list_is_named_once(raw, got):
    required = "a mapping with at least seed, seeds, threads, data, run_variants, variants"
    expected = f"params.yaml: empty; expected {required}" if raw is None else f"params.yaml: expected {required}{got}"
    assert _error(raw) == expected


@pytest.mark.parametrize(("value", "written"), [("1e-3", "0.001"), ("2.5E+2", "250")])
def test_a_number_yaml_read_as_text_says_how_to_write_it(raw_params, value, written):
    raw_params["variants"]["mlp"]["learning_rate"] = value
    expected = f"params.yaml: variants.mlp.learning_rate: expected a number, got {value!r}"
    assert _error(raw_params) == f"{expected} (YAML reads it as text; write {written})"


def test_a_variant_name_that_is_not_text_is_refused(raw_params):
    raw_params["variants"][1] = {"model": "mlp"}
    assert _error(raw_params) == "params.yaml: variants.1: expected a name as the key, got 1"


def test_a_long_wrong_value_is_cut_to_keep_one_line(raw_params):
    raw_params["variants"]["mlp"]["epochs"] = "x\n" * 100
    message = _error(raw_params)
    assert message.startswith("params.yaml: variants.mlp.epochs: expected int, got 'x\\nx\\n")
    assert message.endswith("...") and len(message) < 120 and "\n" not in message


@pytest.mark.parametrize(
    ("section", "key", "value", "rule"),
    [
        ("variants.cnn", "dropout", 1.0, "must be in [0, 1)"),
        ("variants.cnn", "dropout", -0.1, "must be in [0, 1)"),
        ("variants.mlp", "epochs", 0, "must be at least 1"),
        ("variants.mlp", "batch_size", 0, "must be at least 1"),
        ("variants.mlp", "hidden_units", [64, 0], "must be positive"),
        ("variants.mlp", "learning_rate", 0.0, "must be positive"),
        ("variants.cnn", "filters", [32, 0], "must be positive"),
        ("variants.mlp", "model", "transformer", "must be one of mlp, cnn"),
        ("data", "val_fraction", 0, "must be between 0 and 1 (exclusive)"),
        ("data", "val_fraction", 1.0, "must be between 0 and 1 (exclusive)"),
        ("data", "limit", 99, "must be null or at least 100"),
        ("export.app", "test_images", 19, "must be null or >= 20"),
        ("export.app", "mediapipe_images", 19, "must be at least 20"),
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


@pytest.mark.parametrize(
    ("path", "key"), [((), "seed"), ((), "seeds"), ((), "run_variants"), (("variants", "cnn"), "model")]
)
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
    assert f"known: {', '.join(params.variants)}" in message


def test_unreadable_or_invalid_params_file_is_a_one_line_error(tmp_path):
    with pytest.raises(PipelineError, match="cannot read .*missing.yaml"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("seed: [1,\nthreads: 2\n")
    with pytest.raises(PipelineError) as caught:
        load_params(broken)
    problem = "expected ',' or ']', but got '<stream end>' at line 3, column 1"
    assert str(caught.value) == f"params.yaml is not valid YAML: {problem}"  # one line, where the problem is
    broken.write_bytes(b"seed: \xff\n")
    with pytest.raises(PipelineError, match=r"cannot read .*params.yaml: not UTF-8 text \(byte 6\)"):
        load_params(broken)


def test_errors_in_another_params_file_name_that_file(tmp_path):
    other = tmp_path / "sweep.yaml"
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["sed"] = raw.pop("seed")
    other.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineError) as caught:
        load_params(other)
    assert str(caught.value).startswith("sweep.yaml: sed: unknown key; did you mean 'seed'?")


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


def test_the_training_seeds_are_a_list_and_the_first_is_the_shipped_one(raw_params):
    raw_params["seeds"] = [7, 3, 5]
    params = parse_params(raw_params)
    assert params.seeds == (7, 3, 5) and params.shipped_seed == 7
    assert params.seed == raw_params["seed"]  # the data split's seed is another setting


@pytest.mark.parametrize(
    ("seeds", "rule"),
    [
        ([], "must list at least one training seed"),
        ([1, -1], "must be between 0 and 2**32 - 1"),
        ([2**32], "must be between 0 and 2**32 - 1"),  # what Keras's set_random_seed takes
        ([2, 1, 2], "must not repeat a seed"),
    ],
)
def test_bad_training_seeds_are_named(raw_params, seeds, rule):
    raw_params["seeds"] = seeds
    assert _error(raw_params) == f"params.yaml: seeds: {rule}"


def test_an_image_folder_whose_name_cannot_name_an_experiment_is_refused(raw_params):
    raw_params["data"] |= {"dataset": "image_folder", "image_folder": {"directory": "photos/Bob's shoes"}}
    assert _error(raw_params).startswith(
        "params.yaml: data.image_folder.directory: its folder's name \"Bob's shoes\" names the MLflow experiment"
    )
    raw_params["tracking"] = {"experiment": "shoes"}
    assert parse_params(raw_params).registered_model == "shoes-classifier"


def test_the_run_variants_are_selected_in_their_order_and_the_others_stay_declared(raw_params):
    declared = list(raw_params["variants"])
    raw_params["run_variants"] = [declared[-1], declared[0]]
    params = parse_params(raw_params)
    assert list(params.selected) == [declared[-1], declared[0]]
    assert params.selected[declared[0]] == params.variant(declared[0])
    assert list(params.variants) == declared


@pytest.mark.parametrize(
    ("run_variants", "rule"),
    [([], "must name at least one variant"), (["mlp", "cnn", "mlp"], "must not repeat a variant")],
)
def test_an_empty_or_repeating_run_variants_is_refused(raw_params, run_variants, rule):
    raw_params["run_variants"] = run_variants
    assert _error(raw_params) == f"params.yaml: run_variants: {rule}"


def test_a_run_variant_that_is_not_declared_is_named_with_the_known_ones(raw_params):
    raw_params["run_variants"] = ["mlp", "cnn_dropuot"]
    known = ", ".join(raw_params["variants"])
    assert _error(raw_params) == (
        f"params.yaml: run_variants: cnn_dropuot: no such variant; did you mean 'cnn_dropout'? (known: {known})"
    )


@pytest.mark.parametrize(
    ("data", "experiment"),
    [
        ({"dataset": "fashion_mnist"}, "fashion-mnist"),
        ({"dataset": "mnist"}, "mnist"),
        ({"dataset": "image_folder", "image_folder": {"directory": "photos/flowers"}}, "flowers"),
        ({"dataset": "image_folder", "image_folder": {"directory": "/data/tulips/"}}, "tulips"),
    ],
)
def test_the_experiment_and_registered_model_are_named_after_the_dataset(raw_params, data, experiment):
    raw_params["data"] = data
    raw_params["tracking"] = {"experiment": None, "registered_model": None}
    params = parse_params(raw_params)
    assert (params.experiment, params.registered_model) == (experiment, f"{experiment}-classifier")


def test_a_named_experiment_or_registered_model_is_used_as_written(raw_params):
    raw_params["tracking"] = {"experiment": "sweeps"}
    params = parse_params(raw_params)
    assert (params.experiment, params.registered_model) == ("sweeps", "sweeps-classifier")
    raw_params["tracking"]["registered_model"] = "shoes"
    assert parse_params(raw_params).registered_model == "shoes"
    raw_params["tracking"]["registered_model"] = "a/b"
    assert _error(raw_params) == ("params.yaml: tracking.registered_model: must be a name without '/', ':' or quotes")


def test_a_mistyped_dataset_suggests_the_closest_one(raw_params):
    raw_params["data"]["dataset"] = "minst"
    assert _error(raw_params) == (
        "params.yaml: data.dataset: must be one of fashion_mnist, mnist, image_folder; did you mean 'mnist'?"
    )


def test_an_image_folder_dataset_needs_its_directory(raw_params):
    raw_params["data"]["dataset"] = "image_folder"
    raw_params["data"]["image_folder"]["directory"] = None
    assert _error(raw_params).startswith("params.yaml: data.image_folder.directory: must name the folder of images")


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("image_size", [64], "must be [height, width]"),
        ("color_mode", "rbg", "must be one of rgb, grayscale; did you mean 'rgb'?"),
        ("test_fraction", 1.0, "must be between 0 and 1 (exclusive)"),
    ],
)
def test_image_folder_settings_are_validated(raw_params, key, value, rule):
    raw_params["data"]["image_folder"][key] = value
    assert _error(raw_params) == f"params.yaml: data.image_folder.{key}: {rule}"


def test_an_image_folders_relative_directory_is_the_repositorys(raw_params):
    raw_params["data"] |= {"dataset": "image_folder", "image_folder": {"directory": "photos", "image_size": [32, 48]}}
    folder = parse_params(raw_params).data.image_folder
    assert folder.path == ROOT / "photos" and folder.image_size == (32, 48)
    assert str(config.ImageFolderParams(directory="/data/photos").path) == "/data/photos"
