"""Who may use the tracking server: MLflow's basic-auth app set up, its admin, and members added as editors or readers.

MLflow's permissions are READ (look), EDIT (also log runs, register models, move aliases such as
`@champion`) and MANAGE (also delete and grant), per experiment and registered model. Here every member
may read everything (the app's `default_permission`); an editor is also in the `editors` role, which
holds EDIT on every experiment and every registered model (`*`). The admin (user `admin`) may do
anything; its password is made on the first start, in DIR/secrets/admin.password. The users, roles and
grants live in DIR/secrets/auth.db (SQLite: the password hashes stay in the private folder).
"""

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from scripts.team_server import SetupError
from scripts.team_server.secret_files import generate_password, stored_secret, write_private

ADMIN = "admin"
ADMIN_PASSWORD = Path("secrets") / "admin.password"  # in the server's directory
EDITORS = "editors"
ROLES = ("edit", "read")
EDITOR_GRANTS = (("experiment", "*", "EDIT"), ("registered_model", "*", "EDIT"))
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
AUTH_CONFIG = """[mlflow]
# scripts/tracking_server.py writes this file on every start.
default_permission = READ
database_uri = sqlite:///{database}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# One PBKDF2 check per login a minute, not per request (a stage sends hundreds). One worker, so a password
# or admin change through the API holds at once; only one made outside the API waits up to a minute.
auth_cache_ttl_seconds = 60
"""


def auth_environment(directory: Path) -> dict[str, str]:
    """What `mlflow server --app-name basic-auth` reads: its configuration file (written here), the
    admin's password (used on the first start only) and the secret that signs its forms."""
    secrets = directory / "secrets"
    config = directory / "auth.ini"
    write_private(config, AUTH_CONFIG.format(database=secrets / "auth.db", admin=ADMIN))
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": stored_secret(directory / ADMIN_PASSWORD),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": stored_secret(secrets / "flask-secret.key"),
    }


@contextlib.contextmanager
def admin_client(uri: str, directory: Path) -> Iterator:
    """MLflow's AuthServiceClient for the server at `uri`, logged in as the admin."""
    with warnings.catch_warnings():  # what importing MLflow's server says about Starlette, not for our users
        warnings.simplefilter("ignore", DeprecationWarning)
        from mlflow.server.auth.client import AuthServiceClient

    login = {"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": stored_secret(directory / ADMIN_PASSWORD)}
    saved = {name: os.environ.get(name) for name in login}
    os.environ.update(login)
    try:
        yield AuthServiceClient(uri)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ensure_editors_role(client) -> int:
    """The `editors` role (EDIT on every experiment and registered model), made the first time; its id."""
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    roles = {role.name: role for role in client.list_roles(DEFAULT_WORKSPACE_NAME)}
    if EDITORS in roles:
        return roles[EDITORS].id
    role = client.create_role(DEFAULT_WORKSPACE_NAME, EDITORS, "log runs, register models, move aliases")
    for resource_type, pattern, permission in EDITOR_GRANTS:
        client.add_role_permission(role.id, resource_type, pattern, permission)
    return role.id


def check_member(name: str, role: str, password: str | None) -> None:
    """Refuse, in one line, a name or role MLflow would mishandle, and a non-ASCII password (MLflow's
    artifact routes decode Basic credentials as ASCII: that member could log runs but not their files)."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise SetupError(f"member name {name!r}: use 1-64 ASCII letters, digits and . _ @ - (NAME=alice)")
    if role not in ROLES:
        raise SetupError(f"role {role!r}: use ROLE=edit (log runs, register models) or ROLE=read (look only)")
    if password is not None and (not password.isascii() or len(password) < 12):
        raise SetupError("the password must be at least 12 ASCII characters (MLflow's artifact routes read ASCII)")


def add_member(client, name: str, role: str, password: str | None = None) -> str | None:
    """Create member `name` (with `password`, else a new one) or keep an existing one's password, and give
    it `role` (both checked with `check_member` first). The new password, or None for an existing member."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_user(name)
        created = None
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        created = password or generate_password()
        client.create_user(name, created)
    editors = ensure_editors_role(client)
    is_editor = any(r.id == editors for r in client.list_user_roles(name))
    if role == "edit" and not is_editor:
        client.assign_role(name, editors)
    elif role == "read" and is_editor:
        client.unassign_role(name, editors)
    return created
