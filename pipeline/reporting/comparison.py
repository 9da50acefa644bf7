"""What compare says about the variants: comparison.md's text (the design's effects in sentences, then
the tables) and the numbers its MLflow run logs."""

from pipeline.core import config
from pipeline.reporting import effects
from pipeline.reporting.tables import app_table, device_table, machines_line, tables


def _against_runner_up(best: effects.Effect, metric: str) -> str:
    if not best.distinguishable:
        verdict = "is **not** distinguishable in test accuracy from"
    else:
        verdict = f"is distinguishably {'better' if best.difference > 0 else 'worse'} in test accuracy than"
    return f"**{best.changed}** {verdict} **{best.baseline}**, the runner-up by `{metric}`: "


def effects_section(
    found: list[effects.Effect],
    best: effects.Effect | None,
    test_images: int,
    seeds: tuple[int, ...],
    metric: str = "test_accuracy",
) -> str:
    """The design's effects, one quotable sentence each, then whether the best variant is better."""
    count = len(seeds)
    lines = [
        f"Each variant is trained with {count} seed{'s' if count > 1 else ''} ({', '.join(map(str, seeds))}); "
        "a pair of the 2 × 2 differs in its factor alone. Differences are in points of test accuracy "
        "(mean over seeds, second minus first). "
        + (
            "The interval accounts for seed-to-seed spread (Welch's t over seeds); McNemar's exact test "
            "compares each seed's two models on the same test images."
            if count > 1
            else "**One seed**: only the test images' noise is accounted for (McNemar's exact test and its exact "
            "interval); seed-to-seed spread is not measured. For that: "
            f"`dvc exp run -S 'seeds=[{seeds[0]},{seeds[0] + 1},{seeds[0] + 2}]'`."
        ),
        "",
    ]
    lines += [f"- {effects.describe(effect, test_images)}" for effect in found] or ["- (no pair of the design ran)"]
    if best is not None:
        lines += ["", _against_runner_up(best, metric) + effects.describe(best, test_images, named=False)]
    return "\n".join(lines) + "\n"


def report(
    rows: list[dict],
    best: str,
    metric: str,
    found: list[effects.Effect],
    runner_up: effects.Effect | None,
    params: config.Params,
    images: int,
) -> str:
    """comparison.md: the effects first (the question), then the variants, then what they do on device."""
    in_design = {name for pairs in params.compare.effects.values() for pair in pairs for name in pair}
    return (
        f"# Variant comparison\n\n## Effects\n\n{effects_section(found, runner_up, images, params.seeds, metric)}\n"
        f"## Variants\n\nBest by `{metric}` (mean over seeds): **{best}** ★\n\n"
        f"{tables(rows, best, in_design)}\n{machines_line(rows)}\n\n"
        f"## On device\n\nThe exported files are each variant's seed {params.shipped_seed} model "
        "(the first of `seeds`).\n\n"
        f"### LiteRT interpreter\n\n{device_table(rows, params.threads, params.export.throughput_batch)}\n"
        f"### In an app (MediaPipe ImageClassifier, `model_app.tflite`)\n\n{app_table(rows, params.export.app)}"
    )


def comparison_metrics(
    rows: list[dict], found: list[effects.Effect], runner_up: effects.Effect | None
) -> dict[str, float]:
    """What the comparison run logs: each variant's mean and sd, each effect's difference, interval and tests."""
    logged = {}
    for row in rows:
        for key in ("test_accuracy", "test_accuracy_sd", "val_accuracy", "train_seconds"):
            if row.get(key) is not None:
                logged[f"{row['variant']}.{key}"] = row[key]
    for effect in [*found, *([runner_up] if runner_up else [])]:
        key = f"effect.{effect.baseline}_to_{effect.changed}"
        logged[f"{key}.difference"] = effect.difference
        logged[f"{key}.distinguishable"] = float(effect.distinguishable)
        for bound, value in zip(("ci_low", "ci_high"), effect.interval or effect.image_interval):
            logged[f"{key}.{bound}"] = value
        for seed, p in effect.mcnemar.items():
            logged[f"{key}.mcnemar_p.seed_{seed}"] = p
    return logged
