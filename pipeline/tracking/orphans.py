"""Runs left RUNNING by a process that is gone (killed outright), marked KILLED by the next stage on that host.

Every run records the host and process that opened it last. A stage killed outright (SIGKILL: the OOM killer,
a cancelled CI job) cannot close its run; the next stage that opens a run on that host marks such a run KILLED
once its process is gone. A run of a live process (a parallel queued experiment), or of another host, stays.
"""

import os
import socket
import sys
from pathlib import Path

import mlflow

# Where a run's process is, so a run whose process was killed outright can be told from a live one.
HOST_TAG, PID_TAG, STARTED_TAG = "process.host", "process.pid", "process.started"


def _process_started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux), to tell it from a later
    process given the same pid; "" where that is not known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, `starttime`


def process_tags() -> dict[str, str]:
    """The host and process that open a run, recorded as tags of the run."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: _process_started(pid)}


def _process_alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return not started or _process_started(pid) in ("", started)


def mark_orphans_killed(experiment_id: str) -> list[str]:
    """Mark KILLED the experiment's RUNNING runs opened on this host by a process that is gone; their
    ids. A run of a live process (a parallel queued experiment), or of another host, is left alone."""
    client = mlflow.MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    orphans = []
    for run in running:
        tags = run.data.tags
        if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
            continue
        if _process_alive(int(tags[PID_TAG]), tags.get(STARTED_TAG, "")):
            continue
        client.set_terminated(run.info.run_id, "KILLED")
        orphans.append(run.info.run_id)
        print(
            f"note: MLflow run {run.info.run_id} ({run.info.run_name}) was left RUNNING by process "
            f"{tags[PID_TAG]}, which is gone: marked it KILLED",
            file=sys.stderr,
        )
    return orphans
