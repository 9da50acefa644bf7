"""A shared MLflow tracking server: PostgreSQL as its backend store, the artifacts served by MLflow.

    python scripts/tracking_server.py [start] [--dir DIR] [--port 5000] [--db-port PORT]
    python scripts/tracking_server.py stop [--dir DIR]

`start` (the default, `make tracking-server`) creates, the first time, a throwaway PostgreSQL cluster in
DIR/pgdata (Debian's `postgresql` binaries; listening on 127.0.0.1 only, trust authentication) with a
role and a database `mlflow`, starts it on --db-port (a free port unless given), then runs
`mlflow server` on 127.0.0.1:--port with the artifacts in DIR/artifacts, and prints the
`export MLFLOW_TRACKING_URI=...` line to use. It stays in the foreground: Ctrl-C (or SIGTERM) stops
MLflow, then PostgreSQL. Started again on the same DIR it reuses the cluster, so the runs are kept.
`stop` stops what a `start` that was killed outright left running. PostgreSQL refuses to run as root:
as root its commands run as the `postgres` user (`runuser`), who must be able to reach DIR.
"""

import argparse
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

# Run as `python scripts/<name>.py`, whose folder alone is on sys.path: the repository's `pipeline` too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.core.ports import free_port  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".tracking-server"
DB_USER = "postgres"  # the OS user PostgreSQL runs as under root, and the cluster's superuser
DATABASE = "mlflow"  # the role and the database MLflow uses
START_SECONDS = 120  # a first start runs MLflow's database migrations: about 15 s on 2 busy cores
CLUSTER_CONFIG = """
# tracking_server.py: local TCP only, no Unix socket (its default directory is not ours to write)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
"""


class SetupError(Exception):
    """A situation the user must fix, told in one line."""


class Stop(Exception):
    """SIGTERM, raised where the script waits."""


def postgres_bindir() -> Path:
    """The directory of `initdb`, `pg_ctl` and `postgres`: Debian's newest /usr/lib/postgresql/<ver>/bin."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    candidates = [path.parent for path in versions]
    with suppress(OSError, subprocess.CalledProcessError):
        candidates.append(
            Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, check=True, text=True).stdout.strip())
        )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise SetupError(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install it: apt-get install postgresql"
    )


def as_root() -> bool:
    return os.geteuid() == 0


def db_command(bindir: Path, program: str, *args: str) -> list[str]:
    """`program` of PostgreSQL with `args`, run as the `postgres` user when we are root."""
    command = [str(bindir / program), *args]
    return ["runuser", "-u", DB_USER, "--", *command] if as_root() else command


def check_reachable(directory: Path) -> None:
    """Fail, naming it, on a parent of `directory` that the `postgres` user cannot enter (only as root)."""
    if not as_root():
        return
    try:
        user = pwd.getpwnam(DB_USER)
    except KeyError:
        raise SetupError(
            f"no '{DB_USER}' user to run PostgreSQL as (it refuses root): apt-get install postgresql"
        ) from None
    groups = {user.pw_gid} | {group.gr_gid for group in grp.getgrall() if DB_USER in group.gr_mem}
    for parent in [path for path in (directory, *directory.parents) if path.exists()]:
        mode = parent.stat()
        if mode.st_uid == user.pw_uid:
            allowed = mode.st_mode & stat.S_IXUSR
        elif mode.st_gid in groups:
            allowed = mode.st_mode & stat.S_IXGRP
        else:
            allowed = mode.st_mode & stat.S_IXOTH
        if not allowed:
            raise SetupError(
                f"{parent} is not reachable by the '{DB_USER}' user, who runs PostgreSQL (it refuses root): "
                f"chmod o+x {parent}, or pick a --dir elsewhere"
            )


def own(path: Path) -> None:
    """Hand `path` to the `postgres` user when we are root."""
    if as_root():
        shutil.chown(path, DB_USER, DB_USER)


def ensure_cluster(bindir: Path, directory: Path) -> Path:
    """DIR/pgdata, a PostgreSQL cluster: made with initdb the first time, reused after."""
    check_reachable(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pgdata = directory / "pgdata"
    if (pgdata / "PG_VERSION").exists():
        return pgdata
    print(f"== creating a PostgreSQL cluster in {pgdata}", flush=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    own(pgdata)
    command = db_command(
        bindir, "initdb", "-D", str(pgdata), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-locale"
    )
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit {result.returncode}"]
        raise SetupError(f"initdb failed in {pgdata}: {lines[0].removeprefix('initdb: ')}")
    with (pgdata / "postgresql.conf").open("a") as config:
        config.write(CLUSTER_CONFIG)
    return pgdata


def check_port(port: int, what: str, option: str) -> None:
    """Fail when something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise SetupError(
                f"port {port} for {what} is taken ({error.strerror}): pick another with {option}"
            ) from None


def cluster_running(bindir: Path, pgdata: Path) -> bool:
    return (
        subprocess.run(db_command(bindir, "pg_ctl", "status", "-D", str(pgdata)), capture_output=True).returncode == 0
    )


def start_cluster(bindir: Path, pgdata: Path, port: int) -> None:
    """Start the cluster on 127.0.0.1:`port` and wait until it accepts connections; its log is DIR/postgres.log."""
    if cluster_running(bindir, pgdata):
        raise SetupError(
            f"a PostgreSQL server already runs on {pgdata} (a killed start?): "
            f"python scripts/tracking_server.py stop --dir {pgdata.parent}"
        )
    log = pgdata.parent / "postgres.log"
    log.touch()
    own(log)
    start = db_command(
        bindir, "pg_ctl", "start", "-w", "-t", "60", "-D", str(pgdata), "-l", str(log), "-o", f"-p {port}"
    )
    if subprocess.run(start, capture_output=True, text=True).returncode != 0:
        raise SetupError(f"PostgreSQL did not start ({log}): {failure_reason(log)}")


def failure_reason(log: Path) -> str:
    """What the last PostgreSQL process wrote to its log (the lines of its pid, without their prefix)."""
    lines = log.read_text(errors="replace").strip().splitlines()
    if not lines:
        return "its log is empty"
    last = re.match(r".*? (\[\d+\]) ", lines[-1])
    ours = [line for line in lines[-20:] if last and last.group(1) in line] or lines[-1:]
    return "; ".join(re.sub(r"^.*?\[\d+\] [A-Z]+:\s+", "", line).strip() for line in ours)


def stop_cluster(bindir: Path, pgdata: Path) -> bool:
    """Stop the cluster (fast shutdown: sessions are ended); False if it was not running."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    stop = db_command(bindir, "pg_ctl", "stop", "-w", "-m", "fast", "-D", str(pgdata))
    return subprocess.run(stop, capture_output=True).returncode == 0


def ensure_database(port: int) -> None:
    """The role and the database `mlflow`, created when missing."""
    try:
        import psycopg
    except ImportError:
        raise SetupError("psycopg is not installed: pip install -r requirements.lock (or make setup)") from None
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres", autocommit=True) as db:
            if not db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DATABASE,)).fetchone():
                db.execute(f"CREATE ROLE {DATABASE} LOGIN")
            if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                db.execute(f"CREATE DATABASE {DATABASE} OWNER {DATABASE}")
    except psycopg.Error as error:
        raise SetupError(f"could not create the role and database '{DATABASE}': {error}".strip()) from None


def mlflow_command(directory: Path, port: int, db_port: int) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"postgresql://{DATABASE}@127.0.0.1:{db_port}/{DATABASE}",
        "--artifacts-destination", str(directory / "artifacts"),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def wait_healthy(uri: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"mlflow server exited with {process.returncode} (its output is above)")
        with suppress(OSError), urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise SetupError(f"mlflow server did not answer {uri}/health within {START_SECONDS} s")


def stop_group(process: subprocess.Popen, seconds: float = 8) -> None:
    """Stop a process started in a session of its own and all it started: SIGTERM, then SIGKILL."""
    with suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=seconds)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _terminated(signum, frame) -> None:
    raise Stop


def start(directory: Path, port: int, db_port: int | None) -> int:
    bindir = postgres_bindir()
    check_port(port, "mlflow server", "--port")
    if db_port is None:
        db_port = free_port()
    else:
        check_port(db_port, "PostgreSQL", "--db-port")
    pgdata = ensure_cluster(bindir, directory)
    start_cluster(bindir, pgdata, db_port)
    signal.signal(signal.SIGTERM, _terminated)
    mlflow = None
    try:
        print(f"== PostgreSQL on 127.0.0.1:{db_port}, data in {pgdata}", flush=True)
        ensure_database(db_port)
        uri = f"http://127.0.0.1:{port}"
        # In a session of its own so that stopping it stops its uvicorn worker too.
        mlflow = subprocess.Popen(mlflow_command(directory, port, db_port), start_new_session=True)
        (directory / "mlflow.pid").write_text(f"{mlflow.pid}\n")
        wait_healthy(uri, mlflow)
        print(f"== MLflow on {uri}, artifacts in {directory / 'artifacts'}; Ctrl-C stops both. Log to it with:")
        print(f"export MLFLOW_TRACKING_URI={uri}", flush=True)
        code = mlflow.wait()
        print(f"error: mlflow server exited with {code}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        print("== stopping MLflow and PostgreSQL", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave PostgreSQL running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if mlflow is not None:
            stop_group(mlflow)
            (directory / "mlflow.pid").unlink(missing_ok=True)
        stop_cluster(bindir, pgdata)


def stop(directory: Path) -> int:
    """Stop the mlflow server and the cluster that a killed `start` left running in `directory`."""
    pid_file = directory / "mlflow.pid"
    with suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pid_file.read_text())
        if b"mlflow" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.killpg(pid, signal.SIGTERM)
            for _ in range(30):
                time.sleep(0.5)
                os.killpg(pid, 0)  # ProcessLookupError once the group is gone
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    stopped = stop_cluster(postgres_bindir(), directory / "pgdata")
    print(f"== PostgreSQL in {directory / 'pgdata'} {'stopped' if stopped else 'was not running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("start", "stop"), default="start")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the cluster, artifacts and logs live")
    parser.add_argument("--port", type=int, default=5000, help="mlflow server's port (default 5000)")
    parser.add_argument("--db-port", type=int, help="PostgreSQL's port (default: a free one)")
    args = parser.parse_args(argv)
    directory = args.dir.expanduser().resolve()
    try:
        return start(directory, args.port, args.db_port) if args.command == "start" else stop(directory)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
