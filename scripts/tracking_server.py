"""A shared MLflow tracking server on PostgreSQL, its artifacts served by MLflow; for a team, with logins and TLS.

    python scripts/tracking_server.py [start] [--dir DIR] [--host 127.0.0.1] [--port 5000] [--db-port PORT]
        [--allowed-hosts NAME,...] [--auth/--no-auth] [--tls/--no-tls] [--tls-cert CRT --tls-key KEY]
    python scripts/tracking_server.py user NAME --role edit|read [--dir DIR]
    python scripts/tracking_server.py stop [--dir DIR]

`start` (the default, `make tracking-server`) creates, the first time, a PostgreSQL cluster in DIR/pgdata
(Debian's `postgresql` binaries; listening on 127.0.0.1 only, passwords checked with scram-sha-256, made
here and kept in DIR/secrets, mode 0600) with a role and a database `mlflow`, starts it on --db-port (a
free port unless given), then runs `mlflow server` with the artifacts in DIR/artifacts, and prints the
`export MLFLOW_TRACKING_URI=...` line to use. On loopback (the default --host) that is all, as before.
Beyond loopback (--host 10.0.0.5, or 0.0.0.0 with --allowed-hosts) MLflow's basic-auth app is on (members
only: team_server/members.py) and nginx serves HTTPS in front of it (team_server/tls.py); MLflow itself
then listens on loopback only. Listening beyond loopback without either is refused. It stays in the
foreground: Ctrl-C (or SIGTERM) stops nginx, MLflow, then PostgreSQL. Started again on the same DIR it
reuses the cluster, the users and the certificate, so runs, registry and members are kept.
`user` adds a member to the running server (or changes its role) and prints its password once.
`stop` stops what a `start` that was killed outright left running. PostgreSQL refuses to run as root:
as root its commands run as the `postgres` user (`runuser`), who must be able to reach DIR.
"""

import argparse
import dataclasses
import grp
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
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
from scripts.team_server import SetupError, members, tls  # noqa: E402
from scripts.team_server.secret_files import stored_secret, write_private  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".tracking-server"
DB_USER = "postgres"  # the OS user PostgreSQL runs as under root, and the cluster's superuser
DATABASE = "mlflow"  # the role and the database MLflow uses
START_SECONDS = 120  # a first start runs MLflow's database migrations: about 15 s on 2 busy cores
CLUSTER_CONFIG = """
# tracking_server.py: local TCP only, no Unix socket (its default directory is not ours to write)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
password_encryption = 'scram-sha-256'
"""
ACCESS_RULES = """# scripts/tracking_server.py writes this file on every start: TCP from this machine, with a password.
host    all    all    127.0.0.1/32    scram-sha-256
"""
SUPERUSER_PASSWORD = Path("secrets") / "postgres-superuser.password"  # in DIR, mode 0600
MLFLOW_DB_PASSWORD = Path("secrets") / "postgres-mlflow.password"
SERVER_FILE = "server.json"  # where the running server is, for `user`


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
    """DIR/pgdata, a PostgreSQL cluster: made with initdb the first time (its superuser's password from
    DIR/secrets, checked with scram-sha-256), reused after."""
    check_reachable(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pgdata = directory / "pgdata"
    if (pgdata / "PG_VERSION").exists():
        return pgdata
    print(f"== creating a PostgreSQL cluster in {pgdata}", flush=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    own(pgdata)
    password_file = directory / ".initdb-password"  # initdb reads it as the `postgres` user; removed at once
    write_private(password_file, stored_secret(directory / SUPERUSER_PASSWORD) + "\n", DB_USER if as_root() else None)
    command = db_command(
        bindir, "initdb", "-D", str(pgdata), "-U", DB_USER, "--auth=scram-sha-256", f"--pwfile={password_file}",
        "-E", "UTF8", "--no-locale",
    )  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit {result.returncode}"]
        raise SetupError(f"initdb failed in {pgdata}: {lines[0].removeprefix('initdb: ')}")
    with (pgdata / "postgresql.conf").open("a") as config:
        config.write(CLUSTER_CONFIG)
    return pgdata


def check_port(port: int, what: str, option: str, host: str = "127.0.0.1") -> None:
    """Fail when something already listens on `host`:`port`."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
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


def reload_cluster(bindir: Path, pgdata: Path) -> None:
    """Have the running cluster read its pg_hba.conf again."""
    subprocess.run(db_command(bindir, "pg_ctl", "reload", "-D", str(pgdata)), capture_output=True, check=True)


def ensure_database(port: int, directory: Path) -> str:
    """The role and the database `mlflow`, created when missing; the role's password (and the superuser's)
    set from DIR/secrets. A cluster made before passwords (trust) gets them here. The role's password."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise SetupError("psycopg is not installed: pip install -r requirements.lock (or make setup)") from None
    superuser = stored_secret(directory / SUPERUSER_PASSWORD)
    password = stored_secret(directory / MLFLOW_DB_PASSWORD)
    connection = {"host": "127.0.0.1", "port": port, "user": DB_USER, "password": superuser, "dbname": "postgres"}
    try:
        with psycopg.connect(**connection, autocommit=True) as db:
            if not db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DATABASE,)).fetchone():
                db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(DATABASE)))
            for role, secret in ((DB_USER, superuser), (DATABASE, password)):
                db.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(secret)))
            if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                db.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(*[sql.Identifier(DATABASE)] * 2))
    except psycopg.Error as error:
        raise SetupError(f"could not set up the role and database '{DATABASE}': {error}".strip()) from None
    return password


def secure_cluster(bindir: Path, pgdata: Path) -> None:
    """Only scram-sha-256 logins over TCP from this machine (pg_hba.conf, rewritten; no `trust`)."""
    (pgdata / "pg_hba.conf").write_text(ACCESS_RULES)
    own(pgdata / "pg_hba.conf")
    reload_cluster(bindir, pgdata)


@dataclasses.dataclass(frozen=True)
class Exposure:
    """Where clients reach the server, and what guards it there."""

    host: str
    port: int
    names: tuple[str, ...]  # the addresses and names clients use (MLflow's --allowed-hosts, the certificate's)
    auth: bool
    tls: bool
    certificate: tuple[Path, Path] | None  # the team's certificate and key

    @property
    def uri(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.names[0]}:{self.port}"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def is_every_address(host: str) -> bool:
    """Whether `host` is 0.0.0.0 or ::, which listen on every address."""
    with suppress(ValueError):
        return ipaddress.ip_address(host).is_unspecified
    return False


def exposure(args: argparse.Namespace) -> Exposure:
    """What --host, --allowed-hosts, --auth, --tls and the certificate ask for; beyond loopback, a server
    without a login or without TLS is refused in one line."""
    local = is_loopback(args.host)
    auth, tls = (not local if args.auth is None else args.auth), (not local if args.tls is None else args.tls)
    if not local and not auth:
        raise SetupError(
            f"refusing to listen on {args.host} without authentication: anyone who reaches it could read, change "
            "and delete every run and model; drop --no-auth (it is on by default beyond loopback)"
        )
    if not local and not tls:
        raise SetupError(
            f"refusing to listen on {args.host} without TLS: passwords and models would cross the network in "
            "clear; drop --no-tls (give the team's certificate with --tls-cert and --tls-key, or one is made)"
        )
    names = [name.strip() for name in (args.allowed_hosts or "").split(",") if name.strip()]
    if not names and is_every_address(args.host):
        raise SetupError(
            f"--host {args.host} listens on every address: name the addresses and host names clients use, "
            "with --allowed-hosts (e.g. mlflow.team.lan,10.0.0.5)"
        )
    certificate = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key and args.tls_cert.is_file() and args.tls_key.is_file()):
            raise SetupError("--tls-cert and --tls-key go together, each an existing PEM file (certificate, its key)")
        certificate = (args.tls_cert.resolve(), args.tls_key.resolve())
    return Exposure(args.host, args.port, tuple(names or [args.host]), auth, tls, certificate)


def allowed_hosts(served: Exposure, mlflow_port: int) -> list[str]:
    """MLflow's --allowed-hosts: the Host headers clients send (name:port), and this machine's own on the
    port MLflow listens on (the admin's `user` command, nginx's health check)."""
    hosts = [f"{name}:{served.port}" for name in served.names]
    hosts += list(served.names) if served.port == (443 if served.tls else 80) else []
    return hosts + [f"127.0.0.1:{mlflow_port}", f"localhost:{mlflow_port}"]


def mlflow_command(directory: Path, served: Exposure, mlflow_port: int) -> list[str]:
    """`mlflow server` on loopback (behind nginx with TLS, else on --host, which is then loopback)."""
    scheme = "https" if served.tls else "http"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--artifacts-destination", str(directory / "artifacts"),
        "--serve-artifacts",
        "--host", "127.0.0.1" if served.tls else served.host, "--port", str(mlflow_port),
        "--workers", "1",
        "--allowed-hosts", ",".join(allowed_hosts(served, mlflow_port)),
        "--cors-allowed-origins", ",".join(f"{scheme}://{name}:{served.port}" for name in served.names),
    ]  # fmt: skip
    return command + (["--app-name", "basic-auth"] if served.auth else [])


def mlflow_environment(directory: Path, served: Exposure, db_port: int, db_password: str) -> dict[str, str]:
    """The server's environment: its store's address with the role's password (read by no other user,
    unlike a command line), and basic-auth's settings."""
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = f"postgresql://{DATABASE}:{db_password}@127.0.0.1:{db_port}/{DATABASE}"
    if served.auth:
        env |= members.auth_environment(directory)
    return env


def wait_healthy(uri: str, process: subprocess.Popen, name: str, verify: bool = True) -> None:
    """Wait until `process` (`name`) answers `uri`/health; one line if it exits or stays silent."""
    context = ssl.create_default_context()
    if not verify:  # nginx's own address, before clients check its certificate
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"{name} exited with {process.returncode} (its output is above)")
        with suppress(OSError), urllib.request.urlopen(f"{uri}/health", timeout=2, context=context) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise SetupError(f"{name} did not answer {uri}/health within {START_SECONDS} s")


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


def start_mlflow(directory: Path, served: Exposure, db_port: int, db_password: str, started: list) -> int:
    """`mlflow server` (appended to `started`), answering on loopback; with authentication, the `editors`
    role in place. Its port."""
    mlflow_port = free_port() if served.tls else served.port
    command = mlflow_command(directory, served, mlflow_port)
    # In a session of its own so that stopping it stops its uvicorn worker too.
    mlflow = subprocess.Popen(command, env=mlflow_environment(directory, served, db_port, db_password),
                              start_new_session=True)  # fmt: skip
    started.append(mlflow)
    (directory / "mlflow.pid").write_text(f"{mlflow.pid}\n")
    local = f"http://127.0.0.1:{mlflow_port}"
    wait_healthy(local, mlflow, "mlflow server")
    if served.auth:
        with members.admin_client(local, directory) as client:
            members.ensure_editors_role(client)
    return mlflow_port


def start_nginx(directory: Path, served: Exposure, mlflow_port: int, started: list) -> Path:
    """nginx (appended to `started`) serving HTTPS on --host:--port in front of MLflow; the certificate
    clients trust."""
    certificate, key = served.certificate or tls.self_signed(directory, list(served.names))
    listen = f"[{served.host}]:{served.port}" if ":" in served.host else f"{served.host}:{served.port}"
    command = tls.nginx_command(directory, listen, mlflow_port, certificate, key)
    nginx = subprocess.Popen(command, start_new_session=True)
    started.insert(0, nginx)  # stopped first
    probe = "127.0.0.1" if is_every_address(served.host) else served.host
    wait_healthy(f"https://{probe}:{served.port}", nginx, "nginx", verify=False)
    return certificate


def announce(directory: Path, served: Exposure, mlflow_port: int, certificate: Path | None) -> None:
    """Print how to log to the server, and write it to DIR/server.json for `user`."""
    info = {"uri": served.uri, "local_uri": f"http://127.0.0.1:{mlflow_port}", "auth": served.auth}
    (directory / SERVER_FILE).write_text(json.dumps(info | {"certificate": certificate and str(certificate)}) + "\n")
    guard = "anyone on this machine may log to it"
    if served.auth:
        admin = directory / members.ADMIN_PASSWORD
        guard = f"members only (make tracking-user NAME=... ROLE=edit|read; the admin's password: {admin})"
    print(f"== MLflow on {served.uri}, {guard}; artifacts in {directory / 'artifacts'}; Ctrl-C stops it all.")
    print("Log to it with (and MLFLOW_TRACKING_USERNAME/_PASSWORD, or ~/.mlflow/credentials):" if served.auth
          else "Log to it with:")  # fmt: skip
    if certificate:
        print(f"export MLFLOW_TRACKING_SERVER_CERT_PATH={certificate}")
    print(f"export MLFLOW_TRACKING_URI={served.uri}", flush=True)


def start(directory: Path, served: Exposure, db_port: int | None) -> int:
    bindir = postgres_bindir()
    check_port(served.port, "the tracking server", "--port", "127.0.0.1" if served.host == "localhost" else served.host)
    if db_port is None:
        db_port = free_port()
    else:
        check_port(db_port, "PostgreSQL", "--db-port")
    pgdata = ensure_cluster(bindir, directory)
    start_cluster(bindir, pgdata, db_port)
    signal.signal(signal.SIGTERM, _terminated)
    servers = []
    try:
        print(f"== PostgreSQL on 127.0.0.1:{db_port}, data in {pgdata}", flush=True)
        db_password = ensure_database(db_port, directory)
        secure_cluster(bindir, pgdata)
        mlflow_port = start_mlflow(directory, served, db_port, db_password, servers)
        certificate = start_nginx(directory, served, mlflow_port, servers) if served.tls else None
        announce(directory, served, mlflow_port, certificate)
        code = servers[-1].wait()
        print(f"error: mlflow server exited with {code}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        print("== stopping the tracking server and PostgreSQL", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave PostgreSQL running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in servers:
            stop_group(server)
        for name in ("mlflow.pid", SERVER_FILE):
            (directory / name).unlink(missing_ok=True)
        stop_cluster(bindir, pgdata)


def add_member(directory: Path, name: str, role: str) -> int:
    """Add member `name` with `role` to the server running on DIR (or change its role); print its password."""
    try:
        running = json.loads((directory / SERVER_FILE).read_text())
    except FileNotFoundError:
        raise SetupError(f"no tracking server runs on {directory}: start it first (make tracking-server)") from None
    if not running["auth"]:
        raise SetupError(f"the tracking server on {directory} runs without logins: restart it with --auth")
    members.check_member(name, role, os.environ.get("TRACKING_USER_PASSWORD"))
    with members.admin_client(running["local_uri"], directory) as client:
        password = members.add_member(client, name, role, os.environ.get("TRACKING_USER_PASSWORD"))
    print(f"== {name} is a member of {running['uri']} with role {role}")
    if password:
        print("Give them these lines (shown once), for their shell or ~/.mlflow/credentials:")
        print(f"MLFLOW_TRACKING_USERNAME={name}\nMLFLOW_TRACKING_PASSWORD={password}", flush=True)
    return 0


def _stop_pid_group(pid_file: Path, program: bytes) -> None:
    """SIGTERM, then SIGKILL, to the process group of the `program` whose pid `pid_file` holds."""
    with suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pid_file.read_text())
        if program in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.killpg(pid, signal.SIGTERM)
            for _ in range(30):
                time.sleep(0.5)
                os.killpg(pid, 0)  # ProcessLookupError once the group is gone
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def stop(directory: Path) -> int:
    """Stop nginx, the mlflow server and the cluster that a killed `start` left running in `directory`."""
    _stop_pid_group(directory / "nginx" / "nginx.pid", b"nginx")
    _stop_pid_group(directory / "mlflow.pid", b"mlflow")
    (directory / SERVER_FILE).unlink(missing_ok=True)
    stopped = stop_cluster(postgres_bindir(), directory / "pgdata")
    print(f"== PostgreSQL in {directory / 'pgdata'} {'stopped' if stopped else 'was not running'}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("start", "stop", "user"), default="start")
    parser.add_argument("name", nargs="?", help="user: the member's name")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the cluster, artifacts and logs live")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="the tracking server's port (default 5000)")
    parser.add_argument("--db-port", type=int, help="PostgreSQL's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--allowed-hosts", help="the addresses and host names clients use, comma-separated")
    parser.add_argument("--auth", action=argparse.BooleanOptionalAction, help="logins (default: beyond loopback)")
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, help="HTTPS (default: beyond loopback)")
    parser.add_argument("--tls-cert", type=Path, help="the team's certificate (PEM; default: a self-signed one)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--role", choices=members.ROLES, help="user: edit (log, register) or read (look only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    directory = args.dir.expanduser().resolve()
    try:
        if args.command == "user":
            return add_member(directory, args.name or "", args.role or "")
        if args.command == "stop":
            return stop(directory)
        return start(directory, exposure(args), args.db_port)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
