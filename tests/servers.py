"""Real servers that tests start on free loopback ports and always stop (`serving`): the team's tracking
server (scripts/tracking_server.py: PostgreSQL, `mlflow server` and, with TLS, nginx), and what finds their
processes; and a stand-in HTTP server for a store's probe (`answering_twice`)."""

import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from conftest import REPOSITORY, SERVER_START_SECONDS, command_env, free_port, stop_process_group, wait_for

TRACKING_SERVER = REPOSITORY / "scripts" / "tracking_server.py"


def running(pattern: str, *options: str) -> list[str]:
    """`pgrep -a`'s lines for the processes that still run (a zombie, exited but not yet reaped, does not)."""
    result = subprocess.run(["pgrep", "-a", *options, pattern], capture_output=True, text=True)
    found = []
    for line in result.stdout.splitlines():
        with contextlib.suppress(OSError):  # gone meanwhile
            if Path(f"/proc/{line.split()[0]}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(line)
    return found


class TrackingServer:
    """scripts/tracking_server.py as a user runs it, in a process group of its own, on free ports: on
    loopback over HTTP, or on `host` with `options` (--auth --tls: logins, and nginx with the certificate
    the first start makes)."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", options: tuple[str, ...] = ()) -> None:
        self.directory, self.process, self.starts, self.mlflow_groups = directory, None, 0, []
        self.host, self.options = host, options

    @property
    def artifacts(self) -> Path:
        return self.directory / "artifacts"

    @property
    def tls(self) -> bool:
        return "--tls" in self.options

    @property
    def certificate(self) -> Path:
        return self.directory / "tls" / "server.crt"

    def start(self) -> None:
        self.port, self.db_port, self.starts = free_port(), free_port(), self.starts + 1
        self.log = self.directory / f"start-{self.starts}.log"
        command = [sys.executable, str(TRACKING_SERVER), "start", "--dir", str(self.directory), "--host", self.host]
        command += ["--port", str(self.port), "--db-port", str(self.db_port), *self.options]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command, env=command_env(), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.uri = f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"
        if not self.tls:  # nginx's certificate is made by the start
            wait_for(f"{self.uri}/health", self.process, self.log)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while f"export MLFLOW_TRACKING_URI={self.uri}\n" not in self.log.read_text():  # printed once it answers
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)
        self.mlflow_groups.append((self.directory / "mlflow.pid").read_text().strip())
        if self.tls:
            self.mlflow_groups.append((self.directory / "nginx" / "nginx.pid").read_text().strip())

    def stop(self) -> None:
        """SIGTERM to its process group, as a user's Ctrl-C; then `stop`, for what a start killed after 10 s left."""
        if self.process is not None:
            stop_process_group(self.process)
        stop = [sys.executable, str(TRACKING_SERVER), "stop", "--dir", str(self.directory)]
        subprocess.run(stop, capture_output=True)

    def survivors(self) -> list[str]:
        """Every process still running that belongs to it: PostgreSQL's (its data directory is on their
        command line) and the mlflow server's process groups (uvicorn, job runners)."""
        found = running(str(self.directory), "-f")
        for group in self.mlflow_groups:
            found += running(".", "-g", group)
        return found


@contextlib.contextmanager
def serving(server, name: str) -> Iterator:
    """`server` (anything with start, stop and survivors) started, and stopped at the end even when the
    test fails; whatever of it still runs then is killed, and fails the test."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
        survivors = server.survivors()
        for line in survivors:
            subprocess.run(["kill", "-9", line.split()[0]], capture_output=True)
        assert not survivors, f"still running after {name} stopped: {survivors}"


@contextlib.contextmanager
def tracking_server(host: str = "127.0.0.1", options: tuple[str, ...] = ()) -> Iterator[TrackingServer]:
    """A running tracking server (`serving`). Its directory is one the `postgres` user can reach
    (pytest's own temporary directories are private to root), removed at the end with everything in it."""
    directory = Path(tempfile.mkdtemp(prefix="tracking-server-"))
    directory.chmod(0o755)
    try:
        with serving(TrackingServer(directory, host, options), "the tracking server") as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def answering_twice(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stand-in server on a free loopback port that answers two requests (a store probe's two) with
    `handler` in a thread; its address. Closed at the end."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=lambda: [server.handle_request() for _ in range(2)])
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        thread.join(timeout=10)
        server.server_close()
