"""End to end: the real `dvc repro` on a temporary copy of the repository with a tiny configuration.

Uses the real Fashion-MNIST files (the Debian package that `make setup` installs), capped to
3,000 training images and one epoch per variant.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
import yaml
from ai_edge_litert.interpreter import Interpreter
from conftest import (
    FOLDER_CLASSES,
    REPOSITORY,
    command_env,
    copy_project,
    edit_params,
    free_port,
    init_git,
    run_command,
    stop_process_group,
    wait_for,
    write_image_folder,
)

from pipeline import cpu

pytestmark = pytest.mark.slow  # the real `dvc repro` on a copy of the project

VARIANTS = tuple(yaml.safe_load((REPOSITORY / "params.yaml").read_text())["variants"])


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _tiny(params: dict) -> None:
    params["data"]["limit"] = 3000
    for spec in params["variants"].values():
        spec["epochs"] = 1


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("project"))
    edit_params(root, _tiny)
    init_git(root)
    result = run_command(["dvc", "repro"], root)
    return root, result.stdout


def _tflite_files(root: Path, variant: str) -> list[Path]:
    names = ("model.tflite", "model_dynamic_range.tflite", "model_float16.tflite", "model_int8.tflite")
    return [root / "models" / variant / name for name in names]


def test_repro_runs_every_stage_of_every_variant(project):
    root, output = project
    expected = {"fetch", "preprocess", "compare"} | {
        f"{s}@{v}" for s in ("train", "evaluate", "export") for v in VARIANTS
    }
    assert _stages_run(output) == expected
    for variant in VARIANTS:
        for path in ("model.keras", "mlflow_run.json", *(f.name for f in _tflite_files(root, variant))):
            assert (root / "models" / variant / path).is_file()
        reports = root / "reports" / "variants" / variant
        for path in ("history.csv", "training.json", "metrics.json", "tflite.json", "confusion.csv"):
            assert (reports / path).is_file()
        for picture in ("confusion.png", "predictions.png", "learning_curves.png"):
            assert (reports / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "reports" / "data" / "samples.png").is_file()
    table = (root / "reports" / "comparison.md").read_text()
    for variant in VARIANTS:
        assert re.search(rf"^\| (\*\*)?{variant}(\*\* ★)? \| {variant.split('_')[0]} \|", table, re.M)


def test_metrics_are_well_above_chance_and_tflite_agrees(project):
    root, _ = project
    summary = json.loads((root / "reports" / "data" / "summary.json").read_text())
    assert summary["counts"]["train"]["total"] + summary["counts"]["val"]["total"] == 3000
    assert summary["counts"]["test"]["total"] == 10_000
    for variant in VARIANTS:
        reports = root / "reports" / "variants" / variant
        metrics = json.loads((reports / "metrics.json").read_text())
        tflite = json.loads((reports / "tflite.json").read_text())
        assert metrics["test_accuracy"] > 0.6, variant
        assert set(metrics["per_class"]["Ankle boot"]) == {"precision", "recall", "f1"}
        assert tflite["float32"]["top1_agreement"] >= 0.999
        assert tflite["float32"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=0.001)
        for flavour, path in zip(("float32", "dynamic_range", "float16", "int8"), _tflite_files(root, variant)):
            assert tflite[flavour]["size_bytes"] == path.stat().st_size
            assert tflite[flavour]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=0.02), flavour
            assert 0 < tflite[flavour]["latency_ms_median"] <= tflite[flavour]["latency_ms_p95"]
        assert tflite["int8"]["size_bytes"] < 0.3 * tflite["float32"]["size_bytes"]
        history = (reports / "history.csv").read_text().splitlines()
        assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(history) == 2


def test_the_precision_used_and_the_cpu_are_recorded(project):
    """`precision: auto` trains in bfloat16 only where this CPU runs it natively (never emulated, as
    on an AVX2-only CPU); training.json, MLflow and the comparison say which precision and which CPU."""
    root, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["fashion-mnist"]).set_index("tags.mlflow.runName")
    for variant in VARIANTS:
        expected = cpu.resolve_precision(params["variants"][variant].get("precision", "auto"))
        training = json.loads((root / "reports" / "variants" / variant / "training.json").read_text())
        assert training["precision"] == expected, variant
        assert (training["cpu_isa"], training["cpu_model"]) == (cpu.isa_class(), cpu.model())
        assert runs.loc[variant, "params.precision_used"] == expected
        assert runs.loc[variant, "tags.cpu_isa"] == cpu.isa_class()
    assert f"Trained on {cpu.model()} (`{cpu.isa_class()}`)." in (root / "reports" / "comparison.md").read_text()


def test_mlflow_has_one_finished_run_per_variant(project):
    root, _ = project
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    all_runs = mlflow.search_runs(experiment_names=["fashion-mnist"])
    assert set(all_runs["status"]) == {"FINISHED"}
    runs = all_runs[all_runs["tags.run_type"] != "comparison"]
    assert sorted(runs["tags.mlflow.runName"]) == sorted(VARIANTS)
    client = mlflow.MlflowClient()
    for _, run in runs.iterrows():
        assert run["metrics.test_accuracy"] > 0.6
        assert run["metrics.tflite.float32.top1_agreement"] >= 0.999
        assert run["metrics.tflite.int8.size_bytes"] > 0
        assert run["params.tflite.int8.input"].startswith("int8[batch, 28, 28]")
        assert run["params.variant.model"] in ("mlp", "cnn")
        assert len(run["tags.data_sha256"]) == 64
        assert len(client.get_metric_history(run["run_id"], "epoch_val_accuracy")) == 1
        artifacts = {artifact.path for artifact in client.list_artifacts(run["run_id"])}
        assert {"model.tflite", "model_int8.tflite", "labels.txt", "history.csv", "predictions.png"} <= artifacts
        _check_logged_model_and_datasets(root, client, run)
    assert (root / "mlartifacts").is_dir()
    (comparison,) = all_runs[all_runs["tags.run_type"] == "comparison"].itertuples()
    artifacts = {artifact.path for artifact in client.list_artifacts(comparison.run_id)}
    assert artifacts == {"comparison.md", "comparison.json", "comparison.png"}


def _check_logged_model_and_datasets(root: Path, client, run) -> None:
    """The run's model is an MLflow model with its evaluation linked to it; its inputs are the splits."""
    variant = run["tags.variant"]
    recorded = json.loads((root / "models" / variant / "mlflow_run.json").read_text())
    full = client.get_run(run["run_id"])
    assert [output.model_id for output in full.outputs.model_outputs] == [recorded["model_id"]]
    inputs = {i.dataset.name: (i.dataset.digest, [t.value for t in i.tags]) for i in full.inputs.dataset_inputs}
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["preprocess"]["outs"]
    (prepared,) = [out for out in lock if out["path"] == "data/prepared"]
    manifest = root / ".dvc" / "cache" / "files" / "md5" / prepared["md5"][:2] / prepared["md5"][2:]
    dvc_hashes = {entry["relpath"]: entry["md5"] for entry in json.loads(manifest.read_text())}
    assert inputs == {
        f"fashion_mnist-{split}": (dvc_hashes[f"{split}.npz"], [context])
        for split, context in (("train", "training"), ("val", "validation"), ("test", "testing"))
    }
    logged = client.get_logged_model(recorded["model_id"])
    assert (logged.name, logged.source_run_id) == (variant, run["run_id"])
    linked = {(m.key, m.dataset_name) for m in logged.metrics}
    assert {("test_accuracy", "fashion_mnist-test"), ("train_accuracy", "fashion_mnist-train")} <= linked
    assert ("tflite.int8.accuracy", "fashion_mnist-test") in linked
    metrics = json.loads((root / "reports" / "variants" / variant / "metrics.json").read_text())
    assert {m.key: m.value for m in logged.metrics}["test_accuracy"] == metrics["test_accuracy"]


def test_comparison_has_a_row_per_variant_and_names_the_best(project):
    root, output = project
    comparison = json.loads((root / "reports" / "comparison.json").read_text())
    rows = {row["variant"]: row for row in comparison["variants"]}
    assert list(rows) == list(VARIANTS)
    for variant, row in rows.items():
        metrics = json.loads((root / "reports" / "variants" / variant / "metrics.json").read_text())
        assert row["test_accuracy"] == metrics["test_accuracy"]
        assert row["epochs"] == 1 and row["model"] == variant.split("_")[0]
    best = max(rows.values(), key=lambda row: row["test_accuracy"])["variant"]
    assert comparison["best_by"] == "test_accuracy" and comparison["best"] == best
    assert f"| **{best}** ★ |" in (root / "reports" / "comparison.md").read_text()
    assert (root / "reports" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert f"best by test_accuracy: {best}" in output


def test_dvc_shows_metrics_and_plots_of_every_variant(project):
    root, _ = project
    metrics = json.loads(run_command(["dvc", "metrics", "show", "--json"], root).stdout)
    files = {path for revision in metrics.values() for path in revision["data"]}
    for variant in VARIANTS:
        assert f"reports/variants/{variant}/metrics.json" in files
        assert f"reports/variants/{variant}/tflite.json" in files
    run_command(["dvc", "plots", "show", "-o", "plots_html"], root)
    page = (root / "plots_html" / "index.html").read_text()
    assert page.count("vegaEmbed(") == 2 * len(VARIANTS)  # an interactive curve and confusion matrix each
    images = {path.name for path in (root / "plots_html" / "static").iterdir()}
    for variant in VARIANTS:
        assert f"{variant} validation accuracy per epoch" in page
        assert f"{variant} confusion matrix (test set)" in page
        assert f"workspace_reports_variants_{variant}_learning_curves.png" in images
        assert f"workspace_reports_variants_{variant}_confusion.png" in images
    assert "workspace_reports_comparison.png" in images


def test_exported_tflite_runs_in_litert_on_raw_pixels(project):
    root, _ = project
    with np.load(root / "data" / "prepared" / "test.npz", allow_pickle=False) as test:
        images, labels = test["images"][:500], test["labels"][:500]
    interpreter = Interpreter(model_path=str(root / "models" / "cnn" / "model.tflite"))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [len(images), 28, 28])
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images.astype(np.float32))
    interpreter.invoke()
    logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert (logits.argmax(axis=1) == labels).mean() > 0.6


def test_second_repro_does_nothing(project):
    root, _ = project
    result = run_command(["dvc", "repro"], root)
    assert _stages_run(result.stdout) == set()
    assert "up to date" in result.stdout


def test_forced_rerun_gives_identical_metrics(project):
    root, _ = project
    reports = root / "reports" / "variants" / "cnn_dropout"

    def outputs():
        tflite = json.loads((reports / "tflite.json").read_text())
        timings = ("latency_ms_median", "latency_ms_p95", "throughput_images_per_s")
        results = {f: {k: v for k, v in tflite[f].items() if k not in timings} for f in ("float32", "int8")}
        return [(reports / name).read_text() for name in ("metrics.json", "history.csv")], results

    before = outputs()
    result = run_command(["dvc", "repro", "--force", "export@cnn_dropout", "evaluate@cnn_dropout"], root)
    assert "train@cnn_dropout" in _stages_run(result.stdout)
    assert outputs() == before


def test_changing_one_variant_reruns_only_that_variant(project):
    root, _ = project

    def widen_mlp(params):
        params["variants"]["mlp"]["hidden_units"] = [64]

    edit_params(root, widen_mlp)
    result = run_command(["dvc", "repro"], root)
    assert _stages_run(result.stdout) == {"train@mlp", "evaluate@mlp", "export@mlp", "compare"}
    assert json.loads((root / "reports" / "variants" / "mlp" / "training.json").read_text())["parameters"] == 50_890


def test_bad_params_stop_the_stage_with_a_one_line_error(project):
    root, _ = project
    original = (root / "params.yaml").read_text()

    def break_dropout(params):
        params["variants"]["cnn"]["dropout"] = 1.5

    edit_params(root, break_dropout)
    try:
        result = run_command([sys.executable, "-m", "pipeline.train", "cnn"], root, check=False)
    finally:
        (root / "params.yaml").write_text(original)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: params.yaml: variants.cnn.dropout: must be in [0, 1)"


def _check(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The gate on the metrics alone: this test edits params and metrics without `dvc repro`."""
    return run_command([sys.executable, "-m", "pipeline.gate", "--skip-lock-check", *args], root, check=False)


def test_gate_fails_below_the_thresholds_and_passes_above(project):
    root, _ = project
    failing = _check(root)  # one epoch on 3,000 images is below the repository's 0.88
    assert failing.returncode == 1
    assert re.search(r"^cnn_dropout\s+test_accuracy\s+0\.\d{4}\s+≥ 0\.9200\s+FAIL$", failing.stdout, re.M)
    assert "checks passed: the gate FAILS" in failing.stdout

    def lenient(params):
        params["gate"] = {
            "min_test_accuracy": 0.5,
            "max_tflite_accuracy_drop": 0.002,
            "max_quantized_accuracy_drop": 0.05,  # one epoch on 3,000 images: an unsure model
            "max_tflite_size_bytes": 2_000_000,
        }

    original = (root / "params.yaml").read_text()
    edit_params(root, lenient)
    try:
        passing = _check(root)
        assert passing.returncode == 0, passing.stdout
        checks = 9 * len(VARIANTS)  # test accuracy; float32 drop, agreement, size; 3 quantized drops; int8 size; app
        assert f"{checks} of {checks} checks passed: the gate passes" in passing.stdout

        run_command(["git", "add", "reports", "params.yaml", "dvc.lock"], root)
        run_command(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "baseline"], root)
        metrics_file = root / "reports" / "variants" / "mlp" / "metrics.json"
        metrics = json.loads(metrics_file.read_text())
        metrics["test_accuracy"] -= 0.02
        metrics_file.write_text(json.dumps(metrics))
        regressed = _check(root, "--against", "HEAD")
        assert regressed.returncode == 1
        assert re.search(r"^mlp\s+test_accuracy_vs_baseline\s.*FAIL$", regressed.stdout, re.M)

        metrics_file.unlink()
        missing = _check(root)
        assert missing.returncode == 2
        assert missing.stderr.strip() == "error: reports/variants/mlp/metrics.json is missing: run `dvc repro` first"
        assert _check(root, "--against", "no-such-rev").stderr.strip().endswith("not a git revision of this repository")
    finally:
        (root / "params.yaml").write_text(original)
        run_command(["git", "checkout", "HEAD", "--", "reports"], root)


REGISTERED = "fashion-mnist-classifier"


def _versions(client) -> dict[str, tuple[str, str]]:
    """Each registered version: the variant and the logged model it holds."""
    found = client.search_model_versions(f"name = '{REGISTERED}'")
    return {str(v.version): (v.tags["variant"], v.source.removeprefix("models:/")) for v in found}


def _champion(client) -> str | None:
    aliases = client.get_registered_model(REGISTERED).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def _lenient_gate(params: dict) -> None:
    params["gate"] = {"min_test_accuracy": 0.5, "max_quantized_accuracy_drop": 0.05, "max_tflite_accuracy_drop": 0.01}


def test_compare_registers_the_best_model_and_champion_moves_only_to_a_model_that_clears_the_gate(project):
    root, output = project
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    best = json.loads((root / "reports" / "comparison.json").read_text())["best"]

    def model_id(variant: str) -> str:
        return json.loads((root / "models" / variant / "mlflow_run.json").read_text())["model_id"]

    # The first repro registered the best model as version 1, below the repository's gate: no champion. Since
    # then the tests retrained the best variant (a new model: a new version) and reran compare.
    assert re.search(rf"registry: {REGISTERED} version 1 is {best}'s model \(new\); `champion` is not set: ", output)
    before = _versions(client)
    latest = str(len(before))
    assert before[latest] == (best, model_id(best)) and _champion(client) is None

    edit_params(root, _lenient_gate)  # the same best model now clears the gate: no new version, champion → it
    result = run_command(["dvc", "repro"], root)
    assert _stages_run(result.stdout) == {"compare"}
    registered = f"registry: {REGISTERED} version {latest} is {best}'s model (registered before)"
    assert f"{registered}; `champion` → version {latest}" in result.stdout
    assert _versions(client) == before and _champion(client) == latest
    ui = r"http://127.0.0.1:5000/#/experiments/\d+/runs\?workflowType=machine_learning"
    assert re.search(rf"^the runs in MLflow \(after `mlflow ui`\): {ui}$", result.stdout, re.M)

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    champion = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
    with np.load(root / "data" / "prepared" / "test.npz") as test:
        logits = champion.predict(test["images"])
        accuracy = float((np.asarray(logits).argmax(axis=1) == test["labels"]).mean())
    metrics = json.loads((root / "reports" / "variants" / best / "metrics.json").read_text())
    assert round(accuracy, 6) == metrics["test_accuracy"]

    edit_params(root, lambda params: params["compare"].update(best_by="train_seconds"))  # another best variant
    result = run_command(["dvc", "repro"], root)
    fastest = json.loads((root / "reports" / "comparison.json").read_text())["best"]
    new = str(len(before) + 1)
    assert fastest != best
    registered = f"registry: {REGISTERED} version {new} is {fastest}'s model (new)"
    assert f"{registered}; `champion` → version {new}" in result.stdout
    assert _versions(client) == before | {new: (fastest, model_id(fastest))}  # the old champion's version stays
    assert _champion(client) == new


def test_the_champion_is_served_over_http_with_scores_for_real_images(project):
    root, _ = project
    port = free_port()
    command = ["mlflow", "models", "serve", "-m", f"models:/{REGISTERED}@champion", "--env-manager", "local"]
    log = root / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=root,
            env=command_env(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}"),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", server, log)
        with np.load(root / "data" / "prepared" / "test.npz") as test:
            images, labels = test["images"][:8], test["labels"][:8]
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", json={"inputs": images.tolist()}, timeout=60)
        assert answer.status_code == 200, answer.text
        scores = np.asarray(answer.json()["predictions"])
        assert scores.shape == (8, 10)
        champion = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
        np.testing.assert_allclose(scores, champion.predict(images), atol=1e-5)
        print(f"served: top classes {scores.argmax(axis=1).tolist()} for labels {labels.tolist()}")
    finally:
        stop_process_group(server)


def test_the_gate_fails_a_stale_lock_but_not_a_fresh_clone(project, tmp_path):
    root, _ = project
    gate = [sys.executable, "-m", "pipeline.gate"]
    run_command(["git", "add", "-A"], root)
    run_command(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "results"], root)
    clone = tmp_path / "clone"
    run_command(["git", "clone", "-q", str(root), str(clone)], tmp_path)
    fresh = run_command(gate, clone, check=False)  # no data, models or DVC cache: missing is not stale
    assert "stale" not in fresh.stderr and "checks passed" in fresh.stdout, fresh.stderr

    original = (root / "params.yaml").read_text()
    edit_params(root, lambda params: params["variants"]["mlp"].update(learning_rate=0.0123))
    try:
        stale = run_command(gate, root, check=False)
    finally:
        (root / "params.yaml").write_text(original)
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.splitlines() == [
        "error: dvc.lock is stale, so the committed metrics are not this code's and params': "
        "train@mlp (params variants.mlp); compare (params variants): "
        "run `dvc repro` and commit dvc.lock with the metrics"
    ]
    metrics = root / "reports" / "variants" / "cnn" / "metrics.json"
    metrics.write_text(
        metrics.read_text().replace('"test_accuracy": 0.', '"test_accuracy": 1.')
    )  # a hand-edited result
    try:
        edited = run_command(gate, root, check=False)
    finally:
        run_command(["git", "checkout", "--", "reports"], root)
    assert "evaluate@cnn (output reports/variants/cnn/metrics.json)" in edited.stderr
    assert run_command(gate, root, check=False).returncode == 0  # fresh again


# The same pipeline on a folder of your own images: 16×16 RGB pictures in three classes.

FOLDER_VARIANTS = {
    "mlp": {"model": "mlp", "hidden_units": [32], "epochs": 2, "batch_size": 16, "learning_rate": 0.003},
    "cnn": {"model": "cnn", "filters": [8, 16], "hidden_units": [16], "epochs": 2, "batch_size": 16},
}


def _on_folder(directory: Path):
    def edit(params: dict) -> None:
        folder = {"directory": str(directory), "image_size": [16, 16], "color_mode": "rgb", "test_fraction": 0.2}
        params["data"] |= {"dataset": "image_folder", "limit": None, "image_folder": folder}
        params["variants"] = FOLDER_VARIANTS
        params["gate"]["min_test_accuracy_by_variant"] = {}
        params["export"] = {"representative_images": 50, "latency_runs": 20, "throughput_batch": 32}

    return edit


@pytest.fixture(scope="module")
def folder_project(tmp_path_factory):
    base = tmp_path_factory.mktemp("folder")
    folder = write_image_folder(base / "shapes", per_class=40, size=16)
    root = copy_project(base / "project")
    edit_params(root, _on_folder(folder))
    init_git(root)
    result = run_command(["dvc", "repro"], root)
    return root, folder, result.stdout


def test_an_image_folder_runs_through_every_stage_with_its_class_names(folder_project):
    root, _, output = folder_project
    stages = {f"{stage}@{v}" for stage in ("train", "evaluate", "export") for v in FOLDER_VARIANTS}
    assert _stages_run(output) == {"fetch", "preprocess", "compare"} | stages
    dataset = json.loads((root / "data" / "prepared" / "dataset.json").read_text())
    assert dataset["class_names"] == list(FOLDER_CLASSES) and dataset["image_shape"] == [16, 16, 3]
    comparison = json.loads((root / "reports" / "comparison.json").read_text())
    assert [row["variant"] for row in comparison["variants"]] == list(FOLDER_VARIANTS)
    for variant in FOLDER_VARIANTS:
        reports = root / "reports" / "variants" / variant
        metrics = json.loads((reports / "metrics.json").read_text())
        assert sorted(metrics["per_class"]) == sorted(FOLDER_CLASSES)
        assert set((reports / "confusion.csv").read_text().split()[1:]) <= {
            f"{actual},{predicted}" for actual in FOLDER_CLASSES for predicted in FOLDER_CLASSES
        }
        assert (root / "models" / variant / "labels.txt").read_text().splitlines() == list(FOLDER_CLASSES)
    assert run_command(["dvc", "status"], root).stdout.strip().endswith("up to date.")


def test_an_image_folder_model_runs_in_litert_and_predict_names_a_folder_class(folder_project):
    root, folder, _ = folder_project
    model = root / "models" / "cnn" / "model.tflite"
    interpreter = Interpreter(model_path=str(model))
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 16, 16, 3]
    with np.load(root / "data" / "prepared" / "test.npz", allow_pickle=False) as test:
        images = test["images"]
    logits = interpreter.get_signature_runner()(pixels=images.astype(np.float32))["logits"]
    assert logits.shape == (len(images), len(FOLDER_CLASSES))
    picture = folder / "red_squares" / "000.png"
    result = run_command([sys.executable, "-m", "pipeline.predict", str(picture), "--model", str(model)], root)
    shown = re.fullmatch(
        rf"{re.escape(str(picture))}: (\w+) \d+\.\d%, (\w+) \d+\.\d%, (\w+) \d+\.\d%", result.stdout.strip()
    )
    assert shown and sorted(shown.groups()) == sorted(FOLDER_CLASSES), result.stdout
