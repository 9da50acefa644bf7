import json

import pytest

from pipeline.core import config, paths
from pipeline.core.paths import VariantPaths
from pipeline.reporting.results import SEED_METRICS, TRAINING_KEYS, variant_summary
from pipeline.reporting.tables import COLUMNS, app_table, device_table, machines_line, markdown_table, tables

ROWS = [
    {
        "variant": "mlp",
        "model": "mlp",
        "dropout": 0.0,
        "parameters": 101_770,
        "epochs": 10,
        "precision": "float32",
        "train_seconds": 23.04,
        "val_accuracy": 0.87,
        "test_accuracy": 0.86,
        "test_loss": 0.39,
        "train_test_gap": 0.03,
        "tflite_accuracy": 0.86,
        "tflite_size_bytes": 409_788,
        "cpu_model": "AMD EPYC 7763 64-Core Processor",
        "cpu_isa": "avx2",
        "test_accuracy_sd": None,
        "seeds": [
            {"seed": 1, "test_accuracy": 0.86, "cpu_model": "AMD EPYC 7763 64-Core Processor", "cpu_isa": "avx2"}
        ],
    },
    {
        "variant": "cnn",
        "model": "cnn",
        "dropout": 0.3,
        "parameters": 421_642,
        "epochs": 10,
        "precision": "mixed_bfloat16",
        "train_seconds": 180.0,
        "val_accuracy": 0.92,
        "test_accuracy": 0.915,
        "test_loss": 0.24,
        "train_test_gap": 0.034,
        "tflite_accuracy": 0.915,
        "tflite_size_bytes": 1_691_300,
        "cpu_model": "Intel(R) Xeon(R) Processor",
        "cpu_isa": "amx",
        "test_accuracy_sd": None,
        "seeds": [{"seed": 1, "test_accuracy": 0.915, "cpu_model": "Intel(R) Xeon(R) Processor", "cpu_isa": "amx"}],
    },
]
FIGURES = {
    "accuracy": 0.915,
    "accuracy_drop": 0.0,
    "top1_agreement": 1.0,
    "max_abs_probability_diff": 1e-6,
    "size_bytes": 1_691_300,
    "size_vs_float32": 1.0,
    "latency_ms_median": 0.0331,
    "latency_ms_p95": 0.0349,
    "throughput_images_per_s": 33382.0,
}
ON_DEVICE = {
    "float32": FIGURES,
    "dynamic_range": FIGURES | {"accuracy": 0.914, "size_bytes": 430_536, "size_vs_float32": 0.2546},
    "float16": FIGURES | {"size_bytes": 849_360, "size_vs_float32": 0.5022},
    "int8": FIGURES | {"accuracy": 0.9127, "top1_agreement": 0.9961, "size_bytes": 433_224, "size_vs_float32": 0.2561},
}


def _rgb(accuracy: float, agreement: float, ms: float) -> dict:
    """The RGB set: LiteRT on the whole test set, MediaPipe's latency and check on the sample."""
    return {
        "accuracy": accuracy,
        "top1_agreement": agreement,
        "images": 10000,
        "mediapipe_images": 1000,
        "mediapipe_top1_agreement_with_litert": 1.0,
        "mediapipe_max_abs_score_diff": 0.0,
        "latency_ms_median": ms,
        "latency_ms_p95": 2 * ms,
    }


def _photo(accuracy: float, agreement: float, interval: tuple[float, float]) -> dict:
    """The photo-like set: MediaPipe on the sample, the accuracy with its interval."""
    low, high = interval
    return {"accuracy": accuracy, "accuracy_ci_low": low, "accuracy_ci_high": high, "top1_agreement": agreement}


APP = {  # tflite.json's `app`, as export writes it
    "flavour": "int8",
    "reason": "int8's largest accuracy drop against float32 is 0.0010 (photo_like): within 0.005",
    "max_int8_accuracy_drop": 0.005,
    "float32": {
        "size_bytes": 1_697_361,
        "rgb": _rgb(0.915, 1.0, 0.73),
        "photo_like": _photo(0.918, 0.963, (0.8990, 0.9345)),
    },
    "int8": {
        "size_bytes": 441_305,
        "rgb": _rgb(0.9145, 0.994, 0.89),
        "photo_like": _photo(0.917, 0.96, (0.898, 0.9336)),
    },
    "test_images": 10000,
    "mediapipe_images": 1000,
    "confidence": 0.95,
    "mediapipe_version": "1.2.2",
    "accuracy_drop": 0.0005,
}


def test_table_has_a_row_per_variant_and_stars_the_best():
    lines = markdown_table(ROWS, best="cnn").splitlines()
    assert lines[0].startswith("| variant | model | dropout | params |")
    assert lines[2] == (
        "| mlp | mlp | 0 | 101,770 | 10 | float32 | 23.0 | 0.8700 | 0.8600 | 0.8600 | 0.3900 | 0.0300 | 0.8600 "
        "| 409,788 |"
    )
    assert lines[3].startswith("| **cnn** ★ | cnn | 0.3 | 421,642 |")
    assert len(lines) == 4


def test_the_report_names_the_cpus_that_trained_the_variants():
    assert machines_line(ROWS) == (
        "Trained on AMD EPYC 7763 64-Core Processor (`avx2`); Intel(R) Xeon(R) Processor (`amx`)."
    )
    assert machines_line(ROWS[:1] * 2) == "Trained on AMD EPYC 7763 64-Core Processor (`avx2`)."


def test_the_mean_shows_its_spread_and_every_seed():
    row = ROWS[1] | {
        "test_accuracy_sd": 0.0021,
        "seeds": [{"seed": s, "test_accuracy": a} for s, a in ((1, 0.913), (2, 0.917))],
    }
    line = markdown_table([row], best="cnn").splitlines()[2]
    assert "| 0.9150 ± 0.0021 | 0.9130, 0.9170 |" in line


@pytest.fixture
def variant_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "VARIANT_REPORTS_DIR", tmp_path)
    variant = VariantPaths("cnn")
    seed = variant.seed(1)
    seed.reports_dir.mkdir(parents=True)
    row = ROWS[1]
    seed.training.write_text(json.dumps({k: row[k] for k in TRAINING_KEYS}))
    metrics = {k: row.get(k, 0.95) for k in SEED_METRICS}  # the rows have no train accuracy
    seed.metrics.write_text(json.dumps(metrics))
    variant.tflite_metrics.write_text(
        json.dumps(ON_DEVICE | {"keras_accuracy": 0.915, "keras_predict_latency_ms_median": 41.5, "app": APP})
    )
    return variant


def _row(variant_reports) -> dict:
    return variant_summary("cnn", config.VariantParams(model="cnn", dropout=0.3), (1,))


def test_device_table_lists_every_file_of_every_variant(variant_reports):
    lines = device_table([_row(variant_reports)], threads=2, throughput_batch=256).splitlines()
    assert lines[0].startswith("| variant | file | accuracy | agreement | bytes | size | ms/image |")
    assert lines[2] == "| cnn | float32 | 0.9150 | 100.00% | 1,691,300 | 100% | 0.033 | 0.035 | 33,382 | 41.5 |"
    assert lines[5].startswith("| cnn | int8 | 0.9127 | 99.61% | 433,224 | 26% |")
    assert "2 threads" in lines[-1] and "batch 256" in lines[-1]


def test_app_table_shows_both_builds_of_the_app_flavour_the_shipped_one_first(variant_reports):
    lines = app_table([_row(variant_reports)], config.AppParams()).splitlines()
    assert lines[0] == (
        "| variant | build | shipped | bytes | RGB acc | RGB agreement | photo acc (95% CI) | photo agreement "
        "| ms/image | p95 ms |"
    )
    assert lines[2] == "| cnn | int8 | ✓ | 441,305 | 0.9145 | 99.40% | 0.9170 (0.8980–0.9336) | 96.00% | 0.89 | 1.78 |"
    assert lines[3] == (
        "| cnn | float32 |  | 1,697,361 | 0.9150 | 100.00% | 0.9180 (0.8990–0.9345) | 96.30% | 0.73 | 1.46 |"
    )


def test_the_app_tables_note_says_what_was_measured_how_and_on_how_many_images(variant_reports):
    note = app_table([_row(variant_reports)], config.AppParams()).splitlines()[-1]
    assert (
        "all 10,000 test images as RGB images" in note
        and "224×224" in note
        and "by LiteRT running the very file" in note
    )
    assert "class-stratified sample of 1,000 of them" in note and "320×320" in note and "Clopper-Pearson" in note
    assert "MediaPipe gave the same scores on the sample" in note
    assert "The ImageClassifier of MediaPipe 1.2.2 itself" in note  # the release export recorded


def test_the_app_tables_note_shows_where_mediapipe_scored_otherwise_than_litert(variant_reports):
    row = _row(variant_reports)
    differing = {"mediapipe_top1_agreement_with_litert": 0.998, "mediapipe_max_abs_score_diff": 0.25}
    row["app"]["int8"] = row["app"]["int8"] | {"rgb": row["app"]["int8"]["rgb"] | differing}
    note = app_table([row], config.AppParams()).splitlines()[-1]
    assert "MediaPipe's scores on the sample DIFFER from LiteRT's" in note
    assert "cnn int8: top-1 agreement 99.80%, scores up to 0.25 apart" in note and "cnn float32" not in note


def test_variants_outside_the_design_get_a_section_of_their_own():
    text = tables(ROWS, "cnn", in_design={"cnn"})
    design, extras = text.split("### Beyond the 2 × 2")
    assert "| **cnn** ★ |" in design and "| mlp |" not in design
    assert "| mlp |" in extras


def test_the_table_has_a_column_per_key_and_names_a_missing_one():
    lines = markdown_table(ROWS, best="cnn").splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS.values()) + " |" and lines[1] == "|" + "---|" * len(COLUMNS)
    without_size = {key: value for key, value in ROWS[0].items() if key != "tflite_size_bytes"}
    with pytest.raises(KeyError, match="tflite_size_bytes"):
        markdown_table([without_size], best="cnn")


def test_an_image_folder_model_without_a_photo_like_set_leaves_its_cells_empty(variant_reports):
    row = _row(variant_reports)
    row["app"] = row["app"] | {build: row["app"][build] | {"photo_like": None} for build in ("int8", "float32")}
    line = app_table([row], config.AppParams()).splitlines()[2]
    assert line == "| cnn | int8 | ✓ | 441,305 | 0.9145 | 99.40% |  |  | 0.89 | 1.78 |"
