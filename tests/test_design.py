"""The default design in params.yaml answers its question: every pair under `compare.effects` differs in
its factor alone, both model types share one training recipe, and the pairs span the run variants.
Read from the params, so a tuned params.yaml is checked as it is."""

import dataclasses

import pytest
import yaml

from pipeline.core import config
from pipeline.core.errors import PipelineError

PARAMS = config.load_params()
PAIRS = [(factor, pair) for factor, pairs in PARAMS.compare.effects.items() for pair in pairs]
RECIPE = [f.name for f in dataclasses.fields(config.VariantParams) if f.name not in config.ARCHITECTURE_FIELDS]


@pytest.mark.parametrize(("factor", "pair"), PAIRS, ids=[f"{factor}:{a}->{b}" for factor, (a, b) in PAIRS])
def test_each_pair_differs_in_its_factor_alone(factor, pair):
    first, second = (PARAMS.variants[name] for name in pair)
    assert config.confounders(first, second, factor) == [], f"{pair} differ in more than {factor}"
    differing = [f for f in config.FACTOR_FIELDS[factor] if getattr(first, f) != getattr(second, f)]
    assert differing, f"{pair} do not differ in {factor} at all"


def test_the_design_is_a_two_by_two_over_the_run_variants():
    in_pairs = {name for _, pair in PAIRS for name in pair}
    assert set(PARAMS.compare.effects) == {"dropout", "model"}
    assert in_pairs <= set(PARAMS.run_variants)
    models = {PARAMS.variants[name].model for name in in_pairs}
    rates = {PARAMS.variants[name].dropout for name in in_pairs}
    assert len(models) == 2 and len(rates) == 2 and len(in_pairs) == 4


def test_both_model_types_train_with_one_recipe():
    """Everything but the architecture (dropout included, within a dropout setting) is shared."""
    recipes = {
        tuple(getattr(PARAMS.variants[name], f) for f in RECIPE if f != "dropout") for _, pair in PAIRS for name in pair
    }
    assert len(recipes) == 1, f"the design's variants train with {len(recipes)} recipes"


def test_a_pair_that_differs_in_more_than_its_factor_is_named():
    """What the design test would catch: dropout plus wider layers is not an effect of dropout."""
    cnn = PARAMS.variants["cnn"] if "cnn" in PARAMS.variants else next(iter(PARAMS.variants.values()))
    wider = dataclasses.replace(cnn, dropout=0.3, hidden_units=(512,), epochs=cnn.epochs + 4)
    assert config.confounders(cnn, wider, "dropout") == ["hidden_units", "epochs"]
    assert config.confounders(cnn, wider, "model") == ["dropout", "epochs"]


def _raw_params() -> dict:
    return yaml.safe_load(config.PARAMS_FILE.read_text())


def test_an_effect_naming_an_unknown_variant_or_factor_is_refused():
    raw = _raw_params()
    raw["compare"]["effects"] = {"dropout": [["mlp", "mlp_dropot"]]}
    with pytest.raises(PipelineError, match=r"compare\.effects\.dropout\[0\]: mlp_dropot: no such variant"):
        config.parse_params(raw)
    raw["compare"]["effects"] = {"width": [["mlp", "cnn"]]}
    with pytest.raises(PipelineError, match=r"compare\.effects\.width"):
        config.parse_params(raw)


def test_seeds_and_run_variants_are_validated():
    raw = _raw_params()
    for key, value, message in (
        ("seeds", [], "seeds: must list at least one training seed"),
        ("seeds", [1, 1], "seeds: must not repeat a seed"),
        ("run_variants", ["mlp", "cnm"], "run_variants: cnm: no such variant"),
    ):
        with pytest.raises(PipelineError, match=message):
            config.parse_params(raw | {key: value})
