"""Stage `compare`: which variant is best, what each factor of the design does, and whether that is
more than noise.

Reads every variant's seeds (train, evaluate) and its exported files (export). Writes
`reports/comparison.md`, `.json` and `.png` (each seed's test accuracy and validation curves),
`reports/metrics.json` (the headline per variant, what `dvc metrics show` lists) and
`reports/curves.csv` (every history, for dvc.yaml's overlay plots); mirrors them to a `comparison`
run in MLflow and each variant's mean and spread to the run its seed runs are nested under. The
effects are `compare.effects`' pairs, measured by pipeline/effects.py. Registers the best variant's
shipped seed's model under the registered model, and points the alias `champion` at it when it clears
the merge gate.
"""

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import mlflow
from mlflow.exceptions import MlflowException

from pipeline import config, effects, registry, results, tracking
from pipeline.artifacts import read_json, save_figure, signals_deferred, staged_outputs, write_json, write_text
from pipeline.errors import missing
from pipeline.gate import gate_checks, gated_values
from pipeline.paths import APP_FLAVOURS, COMPARISON, CURVES, HEADLINE_METRICS, SeedPaths
from pipeline.plots import plot_comparison

COLUMNS = {
    "variant": "variant",
    "model": "model",
    "dropout": "dropout",
    "parameters": "params",
    "epochs": "epochs",
    "precision": "precision",
    "train_seconds": "train s",
    "val_accuracy": "val acc",
    "test_accuracy": "test acc (mean ± sd)",
    "per_seed": "test acc per seed",
    "test_loss": "test loss",
    "train_test_gap": "train−test",
    "tflite_accuracy": "tflite acc (shipped seed)",
    "tflite_size_bytes": "tflite bytes",
}
DEVICE_COLUMNS = {
    "accuracy": ("accuracy", "{:.4f}"),
    "top1_agreement": ("agreement", "{:.2%}"),
    "size_bytes": ("bytes", "{:,}"),
    "size_vs_float32": ("size", "{:.0%}"),
    "latency_ms_median": ("ms/image", "{:.3f}"),
    "latency_ms_p95": ("p95 ms", "{:.3f}"),
    "throughput_images_per_s": ("images/s", "{:,.0f}"),
}
FORMATS = {"dropout": "{:g}", "train_seconds": "{:.1f}", "parameters": "{:,}", "tflite_size_bytes": "{:,}"}


def device_table(rows: list[dict], threads: int, throughput_batch: int) -> str:
    """Every exported file of every variant as LiteRT ran it: what an app developer picks from."""
    header = ["variant", "file", *(title for title, _ in DEVICE_COLUMNS.values()), "Keras predict ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        for flavour, measured in row["on_device"].items():
            values = [form.format(measured[key]) for key, (_, form) in DEVICE_COLUMNS.items()]
            cells = [row["variant"], flavour, *values]
            keras_ms = f"{row['keras_predict_latency_ms_median']:.1f}" if flavour == "float32" else ""
            lines.append("| " + " | ".join([*cells, keras_ms]) + " |")
    note = (
        f"\nLatency: one image per call through the `serving_default` signature runner, median and 95th percentile; "
        f"images/s at batch {throughput_batch}; LiteRT with {threads} threads. Keras predict: `model.predict` on "
        "one image.\n"
    )
    return "\n".join(lines) + "\n" + note


def _app_cells(set_report: dict | None) -> list[str]:
    if set_report is None:  # an image folder's model has no photo-like set
        return ["", ""]
    return [f"{set_report['accuracy']:.4f}", f"{set_report['top1_agreement']:.2%}"]


def app_table(rows: list[dict], app_params: config.AppParams) -> str:
    """Each variant's app flavour, `model_app.tflite`, as MediaPipe's ImageClassifier ran it: both of its
    builds, the shipped one first."""
    header = ["variant", "build", "shipped", "bytes", "RGB acc", "RGB agreement", "photo acc", "photo agreement"]
    header += ["ms/image", "p95 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        app = row["app"]
        for build in sorted(APP_FLAVOURS, key=lambda build: build != app["flavour"]):
            measured = app[build]
            cells = [row["variant"], build, "✓" if build == app["flavour"] else "", f"{measured['size_bytes']:,}"]
            cells += _app_cells(measured["rgb"]) + _app_cells(measured.get("photo_like"))
            cells += [f"{measured['rgb']['latency_ms_median']:.2f}", f"{measured['rgb']['latency_ms_p95']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    count = rows[0]["app"]["test_images"] if rows else 0
    note = (
        f"\nMediaPipe 1.2.2's ImageClassifier on {count:,} test images: as RGB images (each pixel a block, "
        f"{app_params.input_size}×{app_params.input_size}), and photo-like (dark on light, "
        f"{app_params.photo_size}×{app_params.photo_size}, tinted, noisy, JPEG). Agreement: top-1 against "
        "Keras on the original images. Latency: one RGB image per call. The shipped build is int8 when it "
        "stays within `export.app.max_int8_accuracy_drop` of float32 on both sets.\n"
    )
    return "\n".join(lines) + "\n" + note


def machines_line(rows: list[dict]) -> str:
    """Which CPUs trained the variants, and their classes: timings and bfloat16 results hold for those."""
    machines = sorted({(seed["cpu_model"], seed["cpu_isa"]) for row in rows for seed in row.get("seeds", [row])})
    return "Trained on " + "; ".join(f"{model} (`{isa}`)" for model, isa in machines) + "."


def ranked(rows: list[dict], metric: str) -> list[str]:
    """The variants from best to worst by their mean `metric`: lowest first for costs, highest otherwise."""
    sign = -1 if metric in config.LOWER_IS_BETTER else 1
    return [row["variant"] for row in sorted(rows, key=lambda row: -sign * row[metric])]


def best_variant(rows: list[dict], metric: str) -> str:
    """The variant with the best mean value of `metric`."""
    return ranked(rows, metric)[0]


def _cell(key: str, row: dict) -> str:
    if key == "test_accuracy" and row.get("test_accuracy_sd") is not None:
        return f"{row['test_accuracy']:.4f} ± {row['test_accuracy_sd']:.4f}"
    if key == "per_seed":
        return ", ".join(f"{seed['test_accuracy']:.4f}" for seed in row.get("seeds", []))
    value = row[key]
    return FORMATS.get(key, "{:.4f}" if isinstance(value, float) else "{}").format(value)


def markdown_table(rows: list[dict], best: str) -> str:
    """The rows as a Markdown table with the columns of COLUMNS, the best variant starred."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [_cell(key, row) for key in COLUMNS]
        if row["variant"] == best:
            cells[0] = f"**{cells[0]}** ★"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
        lines += ["", _against_runner_up(best, metric) + effects.describe(best, test_images)]
    return "\n".join(lines) + "\n"


def tables(rows: list[dict], best: str, in_design: set[str]) -> str:
    """The 2 × 2's variants, then any others (the tutorials' extras) under their own heading."""
    design = [row for row in rows if row["variant"] in in_design]
    others = [row for row in rows if row["variant"] not in in_design]
    text = markdown_table(design, best) if design else ""
    if others:
        text += (
            "\n### Beyond the 2 × 2\n\nNot in `compare.effects`, so no effect above is about them; "
            f"they still count for the best variant.\n\n{markdown_table(others, best)}"
        )
    return text


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


def register_best(best: str, row: dict, metric: str, params: config.Params) -> str:
    """Register the best variant's shipped seed's logged model (the one export measured on device); `champion`
    moves to it only if the variant clears the gate. One line saying what was registered and where
    `champion` points."""
    name, seed = params.registered_model, params.shipped_seed
    run_file = SeedPaths(best, seed).run_file
    if not run_file.exists():
        raise missing(run_file, f"train@{best}-{seed}")
    model_id = read_json(run_file).get("model_id")
    if not (model_id and tracking.logged_model_exists(model_id)):
        return (
            f"registry: {best}'s model is not a logged model in {tracking.tracking_uri()}, so it is not registered: "
            f"retrain it (dvc repro -f train@{best}-{seed})"
        )
    failed = [check.name for check in gate_checks({best: gated_values(row)}, params.gate) if not check.passed]
    tags = {"variant": best, "seed": str(seed), metric: str(row[metric]), **tracking.provenance_tags()}
    registered = registry.register(name, model_id, tags, make_champion=not failed)
    line = f"registry: {name} version {registered.version} is {best}'s seed {seed} model"
    line += " (new)" if registered.created else " (registered before)"
    if failed:
        where = f"stays at version {registered.champion}" if registered.champion else "is not set"
        return f"{line}; `{registry.CHAMPION}` {where}: {best} fails the gate on {', '.join(failed)}"
    return f"{line}; `{registry.CHAMPION}` → version {registered.version}"


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


def log_to_parents(rows: list[dict]) -> None:
    """Each variant's mean and spread over seeds onto the parent run its seed runs are nested under."""
    client = mlflow.MlflowClient()
    for row in rows:
        run_file = SeedPaths(row["variant"], row["seeds"][0]["seed"]).run_file
        run_id = read_json(run_file).get("run_id")
        if not run_id:
            continue
        try:
            run = client.get_run(run_id)
        except MlflowException as error:  # trained into another store (a run-cache restore, another machine)
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            continue
        parent = run.data.tags.get(tracking.PARENT_TAG)
        if not parent:
            continue
        values = {key: row[key] for key in (*results.MEANS, "test_accuracy_sd") if row.get(key) is not None}
        values["seeds"] = len(row["seeds"])
        for key, value in values.items():
            client.log_metric(parent, key, float(value))


def save_outputs(rows: list[dict], best: str, metric: str, outputs: dict, logged: dict, params) -> tuple:
    """Write the comparison, log it to its own MLflow run, then put the files in place together (an
    interrupted or failing compare leaves the old ones as they were); then register the best
    model. The registry's line and the runs' address in the MLflow UI."""
    tags = {"best_variant": best, "run_type": "comparison"}
    with tracking.summary_run("comparison", params.experiment, tags=tags) as run:
        with staged_outputs(*outputs) as staged:
            for path, content in outputs.items():
                if isinstance(content, str):
                    write_text(staged[path], content)
                elif isinstance(content, dict):
                    write_json(staged[path], content)
                else:
                    save_figure(staged[path], content)
            variants = ",".join(params.run_variants)
            tracking.log_params({"best_by": metric, "variants": variants, "seeds": ",".join(map(str, params.seeds))})
            tracking.log_metrics(logged)
            tracking.log_artifacts(*staged.values())
        log_to_parents(rows)
        best_row = next(row for row in rows if row["variant"] == best)
        registered = register_best(best, best_row, metric, params)
    return registered, tracking.runs_url(run.info.experiment_id)


def main() -> None:
    params = config.load_params()
    tracking.check_reachable()  # before writing the reports, not after
    seeds = params.seeds
    rows = [results.variant_summary(name, spec, seeds) for name, spec in params.selected.items()]
    correct = {name: results.correct_images(name, seeds) for name in params.run_variants}
    metric = params.compare.best_by
    best = best_variant(rows, metric)
    found = design_effects(params, correct)
    runner_up = best_against_runner_up(rows, metric, correct, params.compare.confidence)
    histories = {name: results.histories(name, seeds) for name in params.run_variants}
    accuracy = {row["variant"]: {s["seed"]: s["test_accuracy"] for s in row["seeds"]} for row in rows}
    images = len(correct[best][seeds[0]])
    text = report(rows, best, metric, found, runner_up, params, images)
    summary = {"best_by": metric, "best": best, "seeds": list(seeds), "shipped_seed": params.shipped_seed}
    summary |= {"effects": [e.as_json() for e in found], "best_vs_runner_up": runner_up and runner_up.as_json()}
    outputs = {
        COMPARISON["json"]: summary | {"variants": rows},
        COMPARISON["md"]: text,
        COMPARISON["png"]: plot_comparison(histories, accuracy, best),
        HEADLINE_METRICS: results.headline(rows),
        CURVES: results.curves_csv(histories),
    }
    with signals_deferred():  # Ctrl-C from here on: the comparison is finished (and shown) first, then the stage exits
        registered, runs_url = save_outputs(
            rows, best, metric, outputs, comparison_metrics(rows, found, runner_up), params
        )
        print(text.split("## On device")[0], flush=True)
        print(registered, flush=True)
        ui = "" if tracking.is_server(tracking.tracking_uri()) else " (after `mlflow ui`)"
        print(f"the runs in MLflow{ui}: {runs_url}", flush=True)


if __name__ == "__main__":
    cli.run(main)
