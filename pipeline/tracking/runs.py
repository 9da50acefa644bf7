"""The MLflow runs the stages share: one per variant and seed, nested under a parent run per recipe, and
summary runs for results that span the variants.

DVC owns the files; the stages mirror them into these runs. The run id, and the id of the model
train logged, are persisted in a train output (`models/<variant>/mlflow_run.json`), so evaluate
and export add to the same run, and link their metrics to that model, even when DVC skipped or
restored train.
"""

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.core.files import read_json, write_json
from pipeline.core.paths import ROOT
from pipeline.tracking.experiments import open_experiment, store_errors, store_lock
from pipeline.tracking.orphans import process_tags
from pipeline.tracking.stage_time import log_stage_seconds, sample_system_metrics
from pipeline.tracking.store import tracking_uri

PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under the run it names


def git_commit() -> str:
    """The repository's HEAD commit, or "unknown" outside git."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def provenance_tags() -> dict[str, str]:
    """Where a run comes from: the git commit, and the DVC experiment (`dvc exp run` names it
    in $DVC_EXP_NAME)."""
    tags = {"git_commit": git_commit()}
    if name := os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = name
    return tags


@dataclasses.dataclass
class VariantRun:
    """The variant's run, and the MLflow model train logged in it (None until then, or when unknown)."""

    run_id: str
    experiment_id: str
    model_id: str | None = None


def _recorded_run(run_file: Path) -> dict | None:
    """What train recorded in `run_file`, if that run is still in the current store."""
    if not run_file.exists():
        return None
    recorded = read_json(run_file)
    try:
        mlflow.get_run(recorded.get("run_id"))
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        print(
            f"warning: MLflow run {recorded.get('run_id')} from {run_file} is not in {tracking_uri()}; "
            "starting a new run",
            file=sys.stderr,
        )
        return None
    return recorded


def variant_parent(experiment_id: str, variant: str, recipe: str) -> str:
    """The run that groups a variant's seed runs, one per recipe (`recipe`: training.summary.recipe_digest
    of the variant's params, the data, the precision and the training code), created FINISHED by its first
    seed: `mlflow ui` shows the seeds nested under it, and compare logs their mean and spread to it. An
    edited variant is a new recipe, so a new parent."""
    query = f"tags.run_type = 'variant' and tags.variant = '{variant}' and tags.recipe = '{recipe}'"
    with store_lock(mlflow.get_tracking_uri()):
        found = mlflow.MlflowClient().search_runs(
            [experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time ASC"]
        )
        client = mlflow.MlflowClient()
        if found:
            if found[0].info.status == "RUNNING":  # its creator died between creating and closing it
                client.set_terminated(found[0].info.run_id)
            return found[0].info.run_id
        tags = {"run_type": "variant", "variant": variant, "recipe": recipe, **provenance_tags()}
        parent = client.create_run(experiment_id, run_name=variant, tags=tags)
        client.set_terminated(parent.info.run_id)
        return parent.info.run_id


def parent_of(run_file: Path) -> str | None:
    """The parent run that the seed run recorded in `run_file` is nested under; None when that run is in
    another store (a run-cache restore, another machine) or has no parent."""
    run_id = read_json(run_file).get("run_id")
    if not run_id:
        return None
    try:
        return mlflow.MlflowClient().get_run(run_id).data.tags.get(PARENT_TAG)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None


def seed_run_name(variant: str, seed: int) -> str:
    """The name of a variant's run for one seed, as the UI lists it."""
    return f"{variant} seed {seed}"


@contextmanager
def variant_run(
    variant: str,
    seed: int,
    run_file: Path,
    experiment: str,
    *,
    new: bool,
    tags: dict[str, str],
    recipe: str | None = None,
) -> Iterator[VariantRun]:
    """The MLflow run of one variant trained with one seed: a new one (train, which sets `model_id` once
    it logged the model; nested under the variant's parent run of `recipe`), or the one train recorded
    (evaluate, export).

    A stage that raises leaves the run FAILED, not RUNNING.
    """
    with store_errors():
        experiment_id = open_experiment(experiment)
        recorded = None if new else _recorded_run(run_file)
        run_id = recorded and recorded["run_id"]
        all_tags = {"variant": variant, "seed": str(seed), **provenance_tags(), **process_tags(), **tags}
        if new and recipe:
            all_tags[PARENT_TAG] = variant_parent(experiment_id, variant, recipe)
        run_name = seed_run_name(variant, seed)
        if new:  # train: MLflow samples CPU and memory utilisation while it runs
            sample_system_metrics()
        with mlflow.start_run(
            run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=all_tags, log_system_metrics=new
        ) as run:
            opened = VariantRun(run.info.run_id, experiment_id, recorded and recorded.get("model_id"))
            yield opened
            log_stage_seconds()
            if new:
                write_json(run_file, dataclasses.asdict(opened))


@contextmanager
def summary_run(name: str, experiment: str, tags: dict[str, str]) -> Iterator[Any]:
    """A run of its own for results that span the variants, such as the comparison."""
    with store_errors():
        experiment_id = open_experiment(experiment)
        all_tags = {**provenance_tags(), **process_tags(), **tags}
        with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=all_tags) as run:
            yield run
            log_stage_seconds()


def logged_model_exists(model_id: str) -> bool:
    """Whether the current store holds the logged model `model_id` (a run file may come from another)."""
    try:
        mlflow.MlflowClient().get_logged_model(model_id)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True
