"""Which variant is best and what each factor of the design does: the variants ranked by a metric, and
`compare.effects`' pairs and the best against the runner-up measured (pipeline/reporting/effects.py)."""

from pipeline.core import config
from pipeline.reporting import effects


def ranked(rows: list[dict], metric: str) -> list[str]:
    """The variants from best to worst by their mean `metric`: lowest first for costs, highest otherwise."""
    sign = -1 if metric in config.LOWER_IS_BETTER else 1
    return [row["variant"] for row in sorted(rows, key=lambda row: -sign * row[metric])]


def best_variant(rows: list[dict], metric: str) -> str:
    """The variant with the best mean value of `metric`."""
    return ranked(rows, metric)[0]


def effect_label(factor: str, baseline: config.VariantParams, changed: config.VariantParams) -> str:
    """What a pair's change is, in words: `dropout 0.2 on the CNN`, `CNN instead of MLP, no dropout`."""
    if factor == "dropout":
        return f"dropout {changed.dropout:g} on the {changed.model.upper()}"
    if factor == "model":
        rate = f"dropout {changed.dropout:g}" if changed.dropout else "no dropout"
        return f"{changed.model.upper()} instead of {baseline.model.upper()}, {rate}"
    return f"{factor} on {changed.model.upper()}"


def design_effects(params: config.Params, correct: dict) -> list[effects.Effect]:
    """Every pair of `compare.effects` whose two variants both ran, measured; a pair that differs in
    more than its factor is still measured, and flagged with what else differs."""
    measured = []
    for factor, pairs in params.compare.effects.items():
        for baseline, changed in pairs:
            if baseline not in correct or changed not in correct:
                continue
            specs = params.variants[baseline], params.variants[changed]
            confounders = config.confounders(*specs, factor)
            label = effect_label(factor, *specs)
            pair = (baseline, changed)
            measured.append(effects.measure_effect(label, pair, correct, params.compare.confidence, confounders))
    return measured


def best_against_runner_up(rows: list[dict], metric: str, correct: dict, confidence: float) -> effects.Effect | None:
    """The best variant's test accuracy against the runner-up's (by `metric`), None with one variant."""
    order = ranked(rows, metric)
    if len(order) < 2:
        return None
    return effects.measure_effect("the best against the runner-up", (order[1], order[0]), correct, confidence)
