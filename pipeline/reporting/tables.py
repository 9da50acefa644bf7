"""The comparison's Markdown tables: the variants' results, their exported files under LiteRT, the app flavour
as an app's MediaPipe runs it, and the CPUs that trained them."""

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
SCORE_TOLERANCE = 1e-6  # MediaPipe's and LiteRT's scores of an image further apart than this differ
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
    """Accuracy (with its interval where the set was measured on a sample) and top-1 agreement with Keras."""
    if set_report is None:  # an image folder's model has no photo-like set
        return ["", ""]
    interval = ""
    if "accuracy_ci_low" in set_report:
        interval = f" ({set_report['accuracy_ci_low']:.4f}–{set_report['accuracy_ci_high']:.4f})"
    return [f"{set_report['accuracy']:.4f}{interval}", f"{set_report['top1_agreement']:.2%}"]


def _mediapipe_check(rows: list[dict]) -> str:
    """Whether MediaPipe scored the sample's RGB images as LiteRT did, and where it did not."""
    differing = [
        f"{row['variant']} {build}: top-1 agreement {rgb['mediapipe_top1_agreement_with_litert']:.2%}, "
        f"scores up to {rgb['mediapipe_max_abs_score_diff']:.2g} apart"
        for row in rows
        for build in APP_FLAVOURS
        if (rgb := row["app"][build]["rgb"])["mediapipe_top1_agreement_with_litert"] < 1
        or rgb["mediapipe_max_abs_score_diff"] > SCORE_TOLERANCE
    ]
    if differing:
        return "MediaPipe's scores on the sample DIFFER from LiteRT's, so the RGB figures are not MediaPipe's: " + (
            "; ".join(differing)
        )
    return f"MediaPipe gave the same scores on the sample (to {SCORE_TOLERANCE:g})"


def app_table(rows: list[dict], app_params: config.AppParams) -> str:
    """Each variant's app flavour, `model_app.tflite`, as an app's MediaPipe ImageClassifier runs it: both of
    its builds, the shipped one first."""
    confidence = rows[0]["app"]["confidence"] if rows else 0.95
    header = ["variant", "build", "shipped", "bytes", "RGB acc", "RGB agreement"]
    header += [f"photo acc ({confidence:.0%} CI)", "photo agreement", "ms/image", "p95 ms"]
    lines = _head(header)
    for row in rows:
        app = row["app"]
        for build in sorted(APP_FLAVOURS, key=lambda build: build != app["flavour"]):
            measured = app[build]
            cells = [row["variant"], build, "✓" if build == app["flavour"] else "", f"{measured['size_bytes']:,}"]
            cells += _app_cells(measured["rgb"]) + _app_cells(measured.get("photo_like"))
            cells += [f"{measured['rgb']['latency_ms_median']:.2f}", f"{measured['rgb']['latency_ms_p95']:.2f}"]
            lines.append(_line(cells))
    return "\n".join(lines) + "\n" + _app_note(rows, app_params)


def _app_note(rows: list[dict], app_params: config.AppParams) -> str:
    """What the app table's figures are, how each was measured, and on how many images."""
    count, sample = (rows[0]["app"]["test_images"], rows[0]["app"]["mediapipe_images"]) if rows else (0, 0)
    releases = sorted({row["app"].get("mediapipe_version") or "(release not recorded)" for row in rows})
    side, photo = app_params.input_size, app_params.photo_size
    return (
        f"\nRGB acc and agreement: all {count:,} test images as RGB images (each pixel a block, {side}×{side}), "
        "classified by LiteRT running the very file one image a call, as MediaPipe does: at the model's input "
        f"size it neither resizes nor normalizes them. The ImageClassifier of MediaPipe {', '.join(releases)} "
        "itself on a seeded, "
        f"class-stratified sample of {sample:,} of them: the RGB images ({_mediapipe_check(rows)}; ms/image, "
        f"p95 ms: one RGB image per call), and photo-like ones (dark on light, {photo}×{photo}, tinted, noisy, "
        "JPEG), their accuracy with its exact (Clopper-Pearson) interval. Agreement: top-1 against Keras on "
        "the original images. The shipped build is int8 when it stays within "
        "`export.app.max_int8_accuracy_drop` of float32 on both sets (photo-like: on the same sample).\n"
    )


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
