"""A team's tracking server (`make tracking-server` beyond loopback), used from another machine: members only, over TLS.

scripts/tracking_server.py listens on this machine's side of a veth pair (tests/network.py) with logins
and TLS on (nginx, with the self-signed certificate its first start makes); the network namespace on the
other side is a team member's laptop. From there, requests without a login, with a wrong password, from a
reader who writes and with a forged Host are refused; a stage without the certificate, without a login,
with a wrong one or as a reader stops in one line and writes nothing; an editor's `dvc repro` of the small
two-MLP pipeline logs and registers everything. PostgreSQL takes no login without a password and cannot
be reached from the namespace; after both servers restart, members, roles, runs and registry are all there.
"""

import json
import os
import re
import subprocess
import sys

import psycopg
import pytest
import yaml
from conftest import REPOSITORY, command_env, copy_project, edit_params, init_git, small_pipeline
from mlflow import MlflowClient
from network import second_machine
from servers import TRACKING_SERVER, tracking_server

from pipeline.core.paths import SYSTEM_DATA_DIR

SEED = yaml.safe_load((REPOSITORY / "params.yaml").read_text())["seeds"][0]  # small_pipeline's only seed
MODEL = "fashion-mnist-classifier"
EXPERIMENT = "fashion-mnist"
MEMBERS = {"alice": "edit", "bob": "read"}
WRONG = ("alice", "not-alices-password")
# Requests from the other machine, with their answers printed as JSON: [status or error name, body's start].
PROBE = """
import json, sys, requests
answers = []
for method, url, login, headers, body, verify in json.loads(sys.argv[1]):
    try:
        answer = requests.request(method, url, auth=tuple(login) if login else None, headers=headers, json=body,
                                  verify=verify, timeout=60)
        answers.append([answer.status_code, answer.text[:200]])
    except requests.RequestException as error:
        answers.append([type(error).__name__, str(error)[:300]])
print(json.dumps(answers))
"""


def _run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRACKING_SERVER), *args], capture_output=True, text=True)


def test_listening_beyond_loopback_without_a_login_or_tls_is_refused_in_one_line(tmp_path):
    start = ["start", "--dir", str(tmp_path / "server"), "--host", "10.213.0.1"]
    refusals = {
        "--no-auth": "error: refusing to listen on 10.213.0.1 without authentication: anyone who reaches it could "
        "read, change and delete every run and model; drop --no-auth (it is on by default beyond loopback)\n",
        "--no-tls": "error: refusing to listen on 10.213.0.1 without TLS: passwords and models would cross the "
        "network in clear; drop --no-tls (give the team's certificate with --tls-cert and --tls-key, or one is "
        "made)\n",
    }
    for option, line in refusals.items():
        result = _run_script(*start, option)
        assert (result.returncode, result.stderr) == (2, line)
    result = _run_script("start", "--dir", str(tmp_path / "server"), "--host", "0.0.0.0")
    assert (result.returncode, result.stderr) == (
        2,
        "error: --host 0.0.0.0 listens on every address: name the addresses and host names clients use, with "
        "--allowed-hosts (e.g. mlflow.team.lan,10.0.0.5)\n",
    )
    assert not (tmp_path / "server").exists()


def test_a_member_needs_a_plain_name_a_known_role_and_an_ascii_password():
    from scripts.team_server import SetupError
    from scripts.team_server.members import check_member

    check_member("alice", "edit", None)
    for name, role, password, message in [
        ("al ice", "edit", None, "member name 'al ice'"),
        ("alice", "admin", None, "role 'admin'"),
        ("alice", "read", "pässwörd-with-umlauts", "at least 12 ASCII characters"),
    ]:
        with pytest.raises(SetupError, match=message):
            check_member(name, role, password)


@pytest.fixture(scope="module")
def machine():
    with second_machine() as other:
        yield other


@pytest.fixture(scope="module")
def server(machine):
    with tracking_server(machine.host_address, ("--auth", "--tls")) as running:
        yield running


@pytest.fixture(scope="module")
def team(server) -> dict[str, str]:
    """The members (`make tracking-user`), each with the password the command printed once."""
    passwords = {}
    for name, role in MEMBERS.items():
        result = _run_script("user", name, "--role", role, "--dir", str(server.directory))
        assert result.returncode == 0, result.stderr
        assert f"== {name} is a member of {server.uri} with role {role}" in result.stdout
        passwords[name] = re.search(r"^MLFLOW_TRACKING_PASSWORD=(\S+)$", result.stdout, re.M).group(1)
    again = _run_script("user", "bob", "--role", "read", "--dir", str(server.directory))  # kept, not shown again
    assert again.returncode == 0 and "MLFLOW_TRACKING_PASSWORD" not in again.stdout
    passwords["admin"] = (server.directory / "secrets" / "admin.password").read_text().strip()
    return passwords


def _laptop_env(server, tmp_path, login: tuple[str, str] | None = None, certificate: bool = True, **more) -> dict:
    """A member's environment on the other machine: the server's address, its certificate, a login."""
    env = command_env(MLFLOW_TRACKING_URI=server.uri, HOME=str(tmp_path), FASHION_MNIST_DIR=str(SYSTEM_DATA_DIR))
    if certificate:
        env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(server.certificate)
    if login:
        env |= {"MLFLOW_TRACKING_USERNAME": login[0], "MLFLOW_TRACKING_PASSWORD": login[1]}
    return env | more


@pytest.fixture(scope="module")
def project(machine, server, team, tmp_path_factory):
    """A git copy of the project after an editor's `dvc repro` on the other machine, the login in
    ~/.mlflow/credentials; its root."""
    root = copy_project(tmp_path_factory.mktemp("project")).resolve()
    edit_params(root, small_pipeline)
    init_git(root)
    home = tmp_path_factory.mktemp("alice-home")
    (home / ".mlflow").mkdir()
    credentials = f"[mlflow]\nmlflow_tracking_username = alice\nmlflow_tracking_password = {team['alice']}\n"
    (home / ".mlflow" / "credentials").write_text(credentials)
    result = machine.run(["dvc", "repro"], root, _laptop_env(server, home))
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return root


def _admin(server, team, monkeypatch) -> MlflowClient:
    for name, value in {"USERNAME": "admin", "PASSWORD": team["admin"]}.items():
        monkeypatch.setenv(f"MLFLOW_TRACKING_{name}", value)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(server.certificate))
    return MlflowClient(tracking_uri=server.uri)


@pytest.mark.slow
def test_an_editors_dvc_repro_from_another_machine_logs_and_registers_everything(server, team, project, monkeypatch):
    client = _admin(server, team, monkeypatch)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    seed_runs = [run for run in runs if run.info.run_name in {f"{v} seed {SEED}" for v in ("mlp", "mlp_dropout")}]
    assert sorted(run.info.run_name for run in runs) == sorted(
        ["mlp", "mlp_dropout", f"mlp seed {SEED}", f"mlp_dropout seed {SEED}", "comparison"]
    )
    assert {run.info.status for run in runs} == {"FINISHED"}
    for run in seed_runs:
        assert {i.dataset.name for i in run.inputs.dataset_inputs} == {
            f"fashion_mnist-{s}" for s in ("train", "val", "test")
        }
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert sorted(m.source_run_id for m in models) == sorted(run.info.run_id for run in seed_runs)
    (version,) = client.search_model_versions(f"name = '{MODEL}'")  # compare's, as alice (EDIT)
    best = json.loads((project / "reports" / "comparison.json").read_text())["best"]
    recorded = json.loads((project / "models" / best / f"seed-{SEED}" / "mlflow_run.json").read_text())
    assert version.source == f"models:/{recorded['model_id']}"
    # A one-epoch MLP on 3,000 images fails the gate: `champion` is not set here; an editor sets it below.
    assert len(list(server.artifacts.rglob("model.tflite"))) == len(seed_runs)
    assert not list(project.rglob("mlflow.db")) and not list(project.rglob("mlartifacts"))


def _ask(machine, server, requests: list) -> list:
    """Send `requests` (method, path, login, headers, body) from the other machine, trusting the certificate."""
    spec = [
        [m, f"{server.uri}{path}", login, headers, body, str(server.certificate)]
        for m, path, login, headers, body in requests
    ]
    result = machine.run([sys.executable, "-c", PROBE, json.dumps(spec)], REPOSITORY, command_env(HOME="/nonexistent"))
    assert result.returncode == 0, result.stderr
    return [tuple(answer) for answer in json.loads(result.stdout)]


@pytest.mark.slow
def test_from_another_machine_only_members_get_in_each_as_far_as_their_role(
    machine, server, team, project, monkeypatch
):
    experiment_id = _admin(server, team, monkeypatch).get_experiment_by_name(EXPERIMENT).experiment_id
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    alias = {"name": MODEL, "alias": "champion", "version": "1"}
    reader, editor = ("bob", team["bob"]), ("alice", team["alice"])
    asked = {
        "health, open to all": ("GET", "/health", None, {}, None),
        "REST API without a login": ("GET", search, None, {}, None),
        "UI's AJAX API without a login": ("GET", search.replace("/api/", "/ajax-api/"), None, {}, None),
        "artifact proxy without a login": ("GET", "/api/2.0/mlflow-artifacts/artifacts", None, {}, None),
        "artifact upload without a login": ("PUT", "/api/2.0/mlflow-artifacts/artifacts/x.txt", None, {}, None),
        "a wrong password": ("GET", search, WRONG, {}, None),
        "a reader reads": ("GET", search, reader, {}, None),
        "a reader's new run": ("POST", "/api/2.0/mlflow/runs/create", reader, {}, {"experiment_id": experiment_id}),
        "a reader moves @champion": ("POST", "/api/2.0/mlflow/registered-models/alias", reader, {}, alias),
        "an editor moves @champion": ("POST", "/api/2.0/mlflow/registered-models/alias", editor, {}, alias),
        "a forged Host": ("GET", search, editor, {"Host": f"mlflow.attacker.example:{server.port}"}, None),
    }
    answers = dict(zip(asked, _ask(machine, server, list(asked.values()))))
    statuses = {what: answer[0] for what, answer in answers.items()}
    assert statuses == {
        "health, open to all": 200,
        "REST API without a login": 401,
        "UI's AJAX API without a login": 401,
        "artifact proxy without a login": 401,
        "artifact upload without a login": 401,
        "a wrong password": 401,
        "a reader reads": 200,
        "a reader's new run": 403,
        "a reader moves @champion": 403,
        "an editor moves @champion": 200,  # EDIT on the registered model moves an alias
        "a forged Host": 403,
    }, answers
    assert "Invalid Host header" in answers["a forged Host"][1]
    without_certificate = [["GET", f"{server.uri}/health", None, {}, None, True]]  # the system's CAs only
    result = machine.run([sys.executable, "-c", PROBE, json.dumps(without_certificate)], REPOSITORY, command_env())
    ((error, message),) = json.loads(result.stdout)
    assert error == "SSLError" and "certificate verify failed" in message


# A stage on the other machine that the server refuses: what is missing, the stage, the line's pattern.
REFUSALS = {
    "no certificate": (
        {"login": "alice", "certificate": False},
        "train",
        r"error: MLflow tracking server {uri} presents a TLS certificate this machine does not trust "
        r"\(self[- ]signed certificate[^)]*\): set MLFLOW_TRACKING_SERVER_CERT_PATH to the server's certificate "
        r"\(tls/server\.crt in its directory\) or to the CA that signed it",
    ),
    "no login": (
        {},
        "train",
        r"error: MLflow tracking server {uri} refused a request without a login \(HTTP 401, GET "
        r"/api/2\.0/mlflow/experiments/search\): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD \(or "
        r"write them to ~/\.mlflow/credentials\) to the ones the server's admin gave you",
    ),
    "a wrong password": (
        {"login": "wrong"},
        "train",
        r"error: MLflow tracking server {uri} refused user 'alice' \(HTTP 401, GET /api/2\.0/mlflow/experiments/"
        r"search: wrong user name or password\): set MLFLOW_TRACKING_USERNAME .*",
    ),
    "a reader's training": (
        {"login": "bob"},
        "train",
        r"error: MLflow tracking server {uri} refused user 'bob' permission for /api/2\.0/mlflow/runs/create "
        r"\(HTTP 403\): ask its admin for the edit role \(make tracking-user NAME=bob ROLE=edit\), or set "
        r"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an editor's",
    ),
    "a reader's comparison and registration": (
        {"login": "bob"},
        "compare",
        r"error: MLflow tracking server {uri} refused user 'bob' permission for /api/2\.0/mlflow/runs/create "
        r"\(HTTP 403\): .*",
    ),
}
STAGES = {"train": ["mlp", str(SEED)], "compare": []}


def _outputs(root) -> dict[str, int]:
    """Every file the stages write, with its modification time."""
    return {str(p): p.stat().st_mtime_ns for d in ("models", "reports") for p in (root / d).rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_stage_the_server_refuses_stops_in_one_line_and_writes_nothing(
    machine, server, team, project, tmp_path, refusal, monkeypatch
):
    setting, stage, pattern = REFUSALS[refusal]
    login = {"alice": ("alice", team["alice"]), "bob": ("bob", team["bob"]), "wrong": WRONG}.get(setting.get("login"))
    before, runs_before = _outputs(project), _run_count(server, team, monkeypatch)
    env = _laptop_env(server, tmp_path, login, setting.get("certificate", True))
    result = machine.run([sys.executable, "-m", f"pipeline.{stage}", *STAGES[stage]], project, env)
    print(f"{refusal}: exit {result.returncode}: {result.stderr.strip()}")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(pattern.format(uri=re.escape(server.uri)), line), line
    assert _outputs(project) == before
    assert _run_count(server, team, monkeypatch) == runs_before  # no run opened, so none left RUNNING


def _run_count(server, team, monkeypatch) -> dict[str, int]:
    client = _admin(server, team, monkeypatch)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    return {status: sum(run.info.status == status for run in runs) for status in ("FINISHED", "RUNNING", "FAILED")}


@pytest.mark.slow
def test_postgresql_takes_no_login_without_a_password_and_is_unreachable_from_the_other_machine(machine, server):
    for user in ("mlflow", "postgres"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=server.db_port, user=user, dbname="postgres", connect_timeout=5)
    access = (server.directory / "pgdata" / "pg_hba.conf").read_text()
    assert "trust" not in access and "scram-sha-256" in access
    reach = (
        "import socket, sys\n"
        "for host in sys.argv[1:]:\n"
        "    with socket.socket() as s:\n"
        "        s.settimeout(5)\n"
        f"        print(s.connect_ex((host, {server.db_port})))\n"
    )
    result = machine.run([sys.executable, "-c", reach, machine.host_address, "127.0.0.1"], REPOSITORY, command_env())
    answers = [int(code) for code in result.stdout.split()]
    refused = [os.strerror(code) for code in answers]
    expected = ["Connection refused"] * (2 if machine.isolated else 1)
    assert refused[: len(expected)] == expected, refused
    secrets = sorted((server.directory / "secrets").iterdir())
    assert {p.name for p in secrets} >= {"admin.password", "postgres-mlflow.password", "postgres-superuser.password"}
    assert {oct(p.stat().st_mode & 0o777) for p in secrets if p.suffix in (".password", ".key")} == {"0o600"}
    assert oct((server.directory / "secrets").stat().st_mode & 0o777) == "0o700"
    assert not machine.isolated or machine.host_address.startswith("10.213."), "a namespace on the test subnet"


@pytest.mark.slow
def test_members_roles_runs_and_registry_outlive_a_restart_of_both_servers(machine, server, team, project, monkeypatch):
    def state() -> dict:
        client = _admin(server, team, monkeypatch)
        from scripts.team_server.members import admin_client

        with admin_client(f"{server.uri}", server.directory) as auth:
            # Shared roles only: MLflow keeps a creator's MANAGE on what it created in a role of its own, `__user_N__`.
            roles = {
                name: sorted(r.name for r in auth.list_user_roles(name) if not r.name.startswith("__"))
                for name in MEMBERS
            }
        return {
            "runs": _run_count(server, team, monkeypatch),
            "versions": len(client.search_model_versions(f"name = '{MODEL}'")),
            "champion": client.get_model_version_by_alias(MODEL, "champion").version,
            "roles": roles,
        }

    before, certificate = state(), server.certificate.read_bytes()
    assert before["roles"] == {"alice": ["editors"], "bob": []}
    server.stop()
    assert not server.survivors()
    server.start()  # the same directory, new ports
    assert state() == before
    assert server.certificate.read_bytes() == certificate  # the clients' copy still holds
    assert "creating a PostgreSQL cluster" not in server.log.read_text()
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    experiment_id = _admin(server, team, monkeypatch).get_experiment_by_name(EXPERIMENT).experiment_id
    asked = [
        ("GET", search, ("alice", team["alice"]), {}, None),
        ("GET", search, WRONG, {}, None),
        ("POST", "/api/2.0/mlflow/runs/create", ("bob", team["bob"]), {}, {"experiment_id": experiment_id}),
    ]
    assert [answer[0] for answer in _ask(machine, server, asked)] == [200, 401, 403]
