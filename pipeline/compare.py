"""Stage `compare`: which variant is best, and by how much.

Writes `reports/comparison.md`, `.json` and `.png` (all variants' learning curves on shared
axes beside their test accuracy), and mirrors them to a `comparison` run in MLflow. Registers the
best variant's logged model under `tracking.registered_model`, and points the alias `champion` at
it when it clears the merge gate.
"""

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

from pipeline import config, registry, tracking
from pipeline.artifacts import (
    read_history,
    read_json,
    save_figure,
    signals_deferred,
    staged_outputs,
    write_json,
    write_text,
)
from pipeline.errors import missing
from pipeline.gate import gate_checks, read_metrics
from pipeline.paths import APP_FLAVOURS, COMPARISON, TFLITE_FLAVOURS, VariantPaths
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
    "test_accuracy": "test acc",
    "test_loss": "test loss",
    "train_test_gap": "train−test",
    "tflite_accuracy": "tflite acc",
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
TRAINING_COLUMNS = ("parameters", "epochs", "precision", "train_seconds", "cpu_model", "cpu_isa")  # of training.json
FORMATS = {"dropout": "{:g}", "train_seconds": "{:.1f}", "parameters": "{:,}", "tflite_size_bytes": "{:,}"}


def variant_row(name: str, spec: config.VariantParams) -> dict:
    """One variant's comparison row, read from the files its stages wrote."""
    paths = VariantPaths(name)
    training, metrics, tflite = (read_json(p) for p in (paths.training, paths.metrics, paths.tflite_metrics))
    row = {"variant": name, "model": spec.model, "dropout": spec.dropout}
    row |= {key: training[key] for key in TRAINING_COLUMNS}
    row |= {key: metrics[key] for key in ("val_accuracy", "test_accuracy", "test_loss", "train_test_gap")}
    row |= {"tflite_accuracy": tflite["float32"]["accuracy"], "tflite_size_bytes": tflite["float32"]["size_bytes"]}
    row["on_device"] = {flavour: tflite[flavour] for flavour in TFLITE_FLAVOURS}
    row["keras_predict_latency_ms_median"] = tflite["keras_predict_latency_ms_median"]
    row["app"] = tflite["app"]
    return row


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
    machines = sorted({(row["cpu_model"], row["cpu_isa"]) for row in rows})
    return "Trained on " + "; ".join(f"{model} (`{isa}`)" for model, isa in machines) + "."


def best_variant(rows: list[dict], metric: str) -> str:
    """The variant with the best value of `metric`: lowest for costs, highest otherwise."""
    sign = -1 if metric in config.LOWER_IS_BETTER else 1
    return max(rows, key=lambda row: sign * row[metric])["variant"]


def _cell(key: str, value) -> str:
    return FORMATS.get(key, "{:.4f}" if isinstance(value, float) else "{}").format(value)


def markdown_table(rows: list[dict], best: str) -> str:
    """The rows as a Markdown table with the columns of COLUMNS, the best variant starred."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [_cell(key, row[key]) for key in COLUMNS]
        if row["variant"] == best:
            cells[0] = f"**{cells[0]}** ★"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def register_best(best: str, row: dict, metric: str, params: config.Params) -> str:
    """Register the best variant's logged model; `champion` moves to it only if it clears the gate.
    One line saying what was registered and where `champion` points."""
    name, run_file = params.tracking.registered_model, VariantPaths(best).run_file
    if not run_file.exists():
        raise missing(run_file, f"train@{best}")
    model_id = read_json(run_file).get("model_id")
    if not (model_id and tracking.logged_model_exists(model_id)):
        return (
            f"registry: {best}'s model is not a logged model in {tracking.tracking_uri()}, so it is not registered: "
            f"retrain it (dvc repro -f train@{best})"
        )
    failed = [check.name for check in gate_checks(read_metrics([best]), params.gate) if not check.passed]
    tags = {"variant": best, metric: str(row[metric]), **tracking.provenance_tags()}
    registered = registry.register(name, model_id, tags, make_champion=not failed)
    line = f"registry: {name} version {registered.version} is {best}'s model"
    line += " (new)" if registered.created else " (registered before)"
    if failed:
        where = f"stays at version {registered.champion}" if registered.champion else "is not set"
        return f"{line}; `{registry.CHAMPION}` {where}: {best} fails the gate on {', '.join(failed)}"
    return f"{line}; `{registry.CHAMPION}` → version {registered.version}"


def save_outputs(rows: list[dict], best: str, metric: str, figure, report: str, params: config.Params) -> tuple:
    """Write the comparison, log it to its own MLflow run, then put the three files in place together
    (an interrupted or failing compare leaves the old ones as they were); then register the best
    model. The registry's line and the runs' address in the MLflow UI."""
    tags = {"best_variant": best, "run_type": "comparison"}
    with tracking.summary_run("comparison", params.tracking.experiment, tags=tags) as run:
        with staged_outputs(*COMPARISON.values()) as staged:
            write_json(staged[COMPARISON["json"]], {"best_by": metric, "best": best, "variants": rows})
            write_text(staged[COMPARISON["md"]], report)
            save_figure(staged[COMPARISON["png"]], figure)
            tracking.log_params({"best_by": metric, "variants": ",".join(params.variants)})
            tracking.log_metrics({f"{row['variant']}.{metric}": row[metric] for row in rows})
            tracking.log_artifacts(*staged.values())
        best_row = next(row for row in rows if row["variant"] == best)
        registered = register_best(best, best_row, metric, params)
    return registered, tracking.runs_url(run.info.experiment_id)


def main() -> None:
    params = config.load_params()
    tracking.check_reachable()  # before writing the reports, not after
    rows = [variant_row(name, spec) for name, spec in params.variants.items()]
    metric = params.compare.best_by
    best = best_variant(rows, metric)
    table = markdown_table(rows, best)
    histories = {name: read_history(VariantPaths(name).history) for name in params.variants}
    figure = plot_comparison(histories, {row["variant"]: row["test_accuracy"] for row in rows}, best)
    devices = device_table(rows, params.threads, params.export.throughput_batch)
    report = (
        f"# Variant comparison\n\nBest by `{metric}`: **{best}** ★\n\n{table}\n{machines_line(rows)}\n\n"
        f"## On device\n\n### LiteRT interpreter\n\n{devices}\n"
        f"### In an app (MediaPipe ImageClassifier, `model_app.tflite`)\n\n"
        f"{app_table(rows, params.export.app)}"
    )
    with signals_deferred():  # Ctrl-C from here on: the comparison is finished (and shown) first, then the stage exits
        registered, runs_url = save_outputs(rows, best, metric, figure, report, params)
        print(f"best by {metric}: {best}\n{table}{registered}", flush=True)
        ui = "" if tracking.is_server(tracking.tracking_uri()) else " (after `mlflow ui`)"
        print(f"the runs in MLflow{ui}: {runs_url}", flush=True)


if __name__ == "__main__":
    cli.run(main)
