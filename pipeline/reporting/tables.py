"""The comparison's Markdown tables: the variants' results, their exported files under LiteRT and in an app
under MediaPipe, and the CPUs that trained them."""

from pipeline.core import config
from pipeline.core.paths import APP_FLAVOURS

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


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _head(titles: list[str]) -> list[str]:
    """A table's title line and the line under it."""
    return [_line(titles), "|" + "---|" * len(titles)]


def device_table(rows: list[dict], threads: int, throughput_batch: int) -> str:
    """Every exported file of every variant as LiteRT ran it: what an app developer picks from."""
    lines = _head(["variant", "file", *(title for title, _ in DEVICE_COLUMNS.values()), "Keras predict ms"])
    for row in rows:
        for flavour, measured in row["on_device"].items():
            values = [form.format(measured[key]) for key, (_, form) in DEVICE_COLUMNS.items()]
            keras_ms = f"{row['keras_predict_latency_ms_median']:.1f}" if flavour == "float32" else ""
            lines.append(_line([row["variant"], flavour, *values, keras_ms]))
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
    lines = _head([*header, "ms/image", "p95 ms"])
    for row in rows:
        app = row["app"]
        for build in sorted(APP_FLAVOURS, key=lambda build: build != app["flavour"]):
            measured = app[build]
            cells = [row["variant"], build, "✓" if build == app["flavour"] else "", f"{measured['size_bytes']:,}"]
            cells += _app_cells(measured["rgb"]) + _app_cells(measured.get("photo_like"))
            cells += [f"{measured['rgb']['latency_ms_median']:.2f}", f"{measured['rgb']['latency_ms_p95']:.2f}"]
            lines.append(_line(cells))
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


def _cell(key: str, row: dict) -> str:
    if key == "test_accuracy" and row.get("test_accuracy_sd") is not None:
        return f"{row['test_accuracy']:.4f} ± {row['test_accuracy_sd']:.4f}"
    if key == "per_seed":
        return ", ".join(f"{seed['test_accuracy']:.4f}" for seed in row.get("seeds", []))
    value = row[key]
    return FORMATS.get(key, "{:.4f}" if isinstance(value, float) else "{}").format(value)


def markdown_table(rows: list[dict], best: str) -> str:
    """The rows as a Markdown table with the columns of COLUMNS, the best variant starred."""
    lines = _head(list(COLUMNS.values()))
    for row in rows:
        cells = [_cell(key, row) for key in COLUMNS]
        if row["variant"] == best:
            cells[0] = f"**{cells[0]}** ★"
        lines.append(_line(cells))
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
