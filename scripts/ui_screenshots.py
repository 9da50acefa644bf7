"""Screenshot the MLflow UI as a person sees it, using headless Chromium.

Use this to check what a user actually lands on after the pipeline has logged
to MLflow: the runs table (Model training view), the experiment's logged
models, the registered model page and a compare-runs view of the latest run of
each variant (the parent run its seed runs are nested under).

    python scripts/ui_screenshots.py --store sqlite:////abs/path/mlflow.db --out DIR \
        [--experiment fashion-mnist] [--model fashion-mnist-classifier] [--window-size 1600,1000]

For a sqlite store an `mlflow ui` is started on a free local port (artifacts
are served from `mlartifacts/` beside the database) and always stopped again.
For an http(s) store the running tracking server is screenshotted as is.
Nothing is installed: Chromium must already be at /usr/bin/chromium.

The UI is a React SPA: without `--virtual-time-budget` Chromium captures only
the loading skeleton, so each page gets a 15 s virtual-time budget (~3 s is
enough locally). `workflowType=machine_learning` makes the UI open in "Model
training" instead of the GenAI view. Each capture uses a fresh profile, so the
MLflow Assistant panel (auto-opened on a local server's first visit) is shown.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

# Run as `python scripts/<name>.py`, whose folder alone is on sys.path: the repository's `pipeline` too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.core.ports import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ML = "workflowType=machine_learning"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=15000"]


def sqlite_path(store: str) -> Path:
    """sqlite:////abs/x.db -> /abs/x.db (relative paths resolve against the cwd)."""
    return Path(store[len("sqlite:///") :]).resolve()


def ui_command(store: str, port: int) -> list[str]:
    artifacts = sqlite_path(store).parent / "mlartifacts"
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        store,
        "--default-artifact-root",
        artifacts.as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow ui exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow ui not healthy at {base} after {timeout:.0f}s")


@contextmanager
def mlflow_ui(store: str, log_file: Path):
    """Yield the base URL of a UI for `store`; start (and always stop) one for sqlite."""
    if store.startswith(("http://", "https://")):
        yield store.rstrip("/")
        return
    port = free_port()
    with open(log_file, "w") as log:
        proc = subprocess.Popen(
            ui_command(store, port),
            cwd=sqlite_path(store).parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        yield base
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the UI's whole process group (uvicorn workers, huey job runners too),
    wait until every member is gone, SIGKILL whatever is left after `timeout`."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()  # reap our direct child so it does not linger as a zombie
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def latest_run_per_variant(client, experiment_id: str) -> list[str]:
    """Each variant's latest parent run (its seeds' mean and spread), else its latest run."""
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])
    parents = [run for run in runs if run.data.tags.get("run_type") == "variant"]
    latest: dict[str, str] = {}
    for run in parents or runs:
        variant = run.data.tags.get("variant")
        if variant and variant not in latest:
            latest[variant] = run.info.run_id
    return [latest[v] for v in sorted(latest)]


def compare_route(run_ids: list[str], experiment_id: str) -> str:
    def q(ids: list[str]) -> str:
        return urllib.parse.quote(json.dumps(ids, separators=(",", ":")))

    return f"#/compare-runs?runs={q(run_ids)}&experiments={q([experiment_id])}&{ML}"


def pages(client, experiment_id: str, model: str) -> list[tuple[str, str]]:
    """(file stem, hash route) for every page worth a screenshot."""
    from mlflow.exceptions import MlflowException

    result = [
        ("runs", f"#/experiments/{experiment_id}/runs?{ML}"),
        ("logged-models", f"#/experiments/{experiment_id}/models?{ML}"),
    ]
    try:
        client.get_registered_model(model)
        result.append(("registered-model", f"#/models/{urllib.parse.quote(model)}?{ML}"))
    except MlflowException:
        print(f"note: no registered model {model!r}; skipping its page")
    run_ids = latest_run_per_variant(client, experiment_id)
    if run_ids:
        result.append(("compare-runs", compare_route(run_ids, experiment_id)))
    else:
        print("note: no runs with a 'variant' tag; skipping compare-runs")
    return result


def screenshot(url: str, out_file: Path, window: str = "1600,1000") -> None:
    """One fresh-profile Chromium capture, i.e. what a first-time visitor sees."""
    with tempfile.TemporaryDirectory(prefix="ui-shot-profile-") as profile:
        cmd = [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--window-size={window}",
            f"--user-data-dir={profile}",
            f"--screenshot={out_file}",
            url,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not out_file.exists():
        raise RuntimeError(f"chromium failed for {url}:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="sqlite:////abs/mlflow.db or http(s)://server")
    ap.add_argument("--out", required=True, type=Path, help="directory for the PNGs")
    ap.add_argument("--experiment", default="fashion-mnist")
    ap.add_argument("--model", default="fashion-mnist-classifier")
    ap.add_argument(
        "--window-size",
        default="1600,1000",
        help="W,H; the auto-opened Assistant panel hides the right-most run columns (Models) below ~2200 px wide",
    )
    args = ap.parse_args(argv)

    if not Path(CHROMIUM).exists():
        print("error: chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=args.store)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        print(f"error: experiment {args.experiment!r} not found in {args.store}", file=sys.stderr)
        return 1
    todo = pages(client, experiment.experiment_id, args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    with mlflow_ui(args.store, args.out / "mlflow-ui.log") as base:
        for stem, route in todo:
            out_file = args.out / f"{stem}.png"
            screenshot(f"{base}/{route}", out_file, args.window_size)
            print(f"{out_file}  {base}/{route}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
