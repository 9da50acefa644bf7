"""Where a stage's time goes, in its MLflow run: the stage process's wall seconds (its imports included) as
`stage_seconds.<stage>`, and for training MLflow's system metrics (CPU and memory utilisation), so a slow
machine shows why."""

import logging
import sys
import time

import mlflow
import psutil

from pipeline.tracking import mirror

SYSTEM_METRICS_SECONDS = 5  # between samples of MLflow's system metrics while a stage trains


def stage_name() -> str:
    """The stage this process runs, e.g. `train` for `python -m pipeline.train`; `stage` when not run that way."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = spec.name if spec else ""
    return module.removeprefix("pipeline.") if module.startswith("pipeline.") else "stage"


def process_seconds() -> float:
    """Wall seconds since this process started: interpreter start-up and imports included, as DVC times a stage."""
    return time.time() - psutil.Process().create_time()


def log_stage_seconds() -> None:
    """`stage_seconds.<stage>`: this stage process's wall seconds so far, in the active run."""
    mirror.log_metrics({f"stage_seconds.{stage_name()}": round(process_seconds(), 2)})


def sample_system_metrics() -> None:
    """Have the runs MLflow starts with `log_system_metrics=True` sample the machine every
    SYSTEM_METRICS_SECONDS. Its monitor's own warnings stay quiet: a store that goes away mid-run is the
    stage's one-line error already, not a second line from a background thread."""
    mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_SECONDS)
    logging.getLogger("mlflow.system_metrics").setLevel(logging.ERROR)
