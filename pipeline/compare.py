"""Stage `compare`: one table of every variant's results, as Markdown and JSON under `reports/`."""

from pipeline import cli, config
from pipeline.artifacts import read_json, write_json, write_text

COLUMNS = {
    "variant": "variant",
    "model": "model",
    "dropout": "dropout",
    "parameters": "params",
    "epochs": "epochs",
    "train_seconds": "train s",
    "val_accuracy": "val acc",
    "test_accuracy": "test acc",
    "test_loss": "test loss",
    "train_test_gap": "train−test",
    "tflite_accuracy": "tflite acc",
    "tflite_size_bytes": "tflite bytes",
}


def variant_row(name: str, spec: config.VariantParams) -> dict:
    """One variant's comparison row, read from the files its stages wrote."""
    paths = config.VariantPaths(name)
    training, metrics, tflite = (read_json(p) for p in (paths.training, paths.metrics, paths.tflite_metrics))
    row = {"variant": name, "model": spec.model, "dropout": spec.dropout}
    row |= {key: training[key] for key in ("parameters", "epochs", "train_seconds")}
    row |= {key: metrics[key] for key in ("val_accuracy", "test_accuracy", "test_loss", "train_test_gap")}
    row |= {key: tflite[key] for key in ("tflite_accuracy", "tflite_size_bytes")}
    return row


FORMATS = {"dropout": "{:g}", "train_seconds": "{:.1f}", "parameters": "{:,}", "tflite_size_bytes": "{:,}"}


def _cell(key: str, value) -> str:
    return FORMATS.get(key, "{:.4f}" if isinstance(value, float) else "{}").format(value)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table with the columns of COLUMNS."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(key, row[key]) for key in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    params = config.load_params()
    rows = [variant_row(name, spec) for name, spec in params.variants.items()]
    table = markdown_table(rows)
    write_json(config.REPORTS_DIR / "comparison.json", {"variants": rows})
    write_text(config.REPORTS_DIR / "comparison.md", "# Variant comparison\n\n" + table)
    print(table, end="")


if __name__ == "__main__":
    cli.run(main)
