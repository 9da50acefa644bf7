"""Whether the committed `dvc.lock` still describes the code and params: if not, the committed
metrics were not produced by them (someone changed code or `params.yaml` without `dvc repro`).

Read from `dvc status --json`. Stale is: a stage's command changed; a dependency that no stage
produces (code, `params.yaml`'s values, your own data) was modified or added; or an output is
there but differs from the lock (a hand-edited metrics file). Missing data, models or outputs, as
on a fresh clone without `dvc pull`, are not staleness, and neither is a stage's input that another
stage produces: that one is judged where it is produced.
"""

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.paths import ROOT

CHANGED = ("modified", "new")


def produced_paths(lock: Mapping) -> set[PurePosixPath]:
    """Every output path of every stage in a parsed `dvc.lock`."""
    return {PurePosixPath(out["path"]) for stage in lock.get("stages", {}).values() for out in stage.get("outs", [])}


def _produced(path: str, produced: set[PurePosixPath]) -> bool:
    """Whether `path` is a stage's output, inside one, or a directory holding some."""
    path = PurePosixPath(path)
    return any(path == out or path in out.parents or out in path.parents for out in produced)


def stale_reasons(status: Mapping[str, Sequence], lock: Mapping) -> dict[str, list[str]]:
    """For each stale stage of a `dvc status --json` answer, given the parsed `dvc.lock`, what changed
    ("pipeline/train.py", "params variants.cnn", "command", "output reports/…/metrics.json", or
    "not in dvc.lock" for a stage that never ran)."""
    produced, locked = produced_paths(lock), set(lock.get("stages", {}))
    stale = {}
    for stage, changes in status.items():
        if stage not in locked:
            stale[stage] = ["not in dvc.lock"]
            continue
        reasons = []
        for change in changes:
            if change == "changed command":
                reasons.append("command")
            elif isinstance(change, Mapping):
                for path, state in change.get("changed deps", {}).items():
                    if isinstance(state, Mapping):  # a params file: {key: state}
                        reasons += [f"params {key}" for key, value in state.items() if value in CHANGED]
                    elif state in CHANGED and not _produced(path, produced):
                        reasons.append(path)
                for path, state in change.get("changed outs", {}).items():
                    if state == "modified":
                        reasons.append(f"output {path}")
        if reasons:
            stale[stage] = reasons
    return stale


def stale_stages(root=ROOT) -> dict[str, list[str]]:
    """The stale stages of the project at `root`, asking DVC (`dvc status --json`)."""
    try:
        result = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise PipelineError(
            "`dvc` is not on PATH, so `dvc status` cannot run: activate the project's virtual environment "
            "(`source .venv/bin/activate`, after `make setup`)"
        ) from error
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"`dvc status` failed ({reason}): is this a DVC repository with dvc installed?")
    lock_file = root / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text()) if lock_file.exists() else {}
    return stale_reasons(json.loads(result.stdout or "{}"), lock or {})


def describe(stale: Mapping[str, list[str]]) -> str:
    """One line naming every stale stage and what changed, and the fix."""

    def changed(reasons: list[str]) -> str:
        return ", ".join(reasons[:3]) + (f" and {len(reasons) - 3} more" if len(reasons) > 3 else "")

    stages = "; ".join(f"{stage} ({changed(reasons)})" for stage, reasons in stale.items())
    return (
        f"dvc.lock is stale, so the committed metrics are not this code's and params': {stages}: "
        "run `dvc repro` and commit dvc.lock with the metrics"
    )
