"""Who a stage logs in to a tracking server as, and the one line a refused login, permission or certificate becomes.

MLflow's client sends $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD, else those of
`~/.mlflow/credentials`, and trusts the server's certificate through $MLFLOW_TRACKING_SERVER_CERT_PATH.
A server with MLflow's basic-auth app answers a missing or wrong login with 401 and a member without
the right permission with 403; MLflow does not retry either, so the stage stops at once.
"""

import re

import requests
from mlflow.environment_variables import MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME
from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import read_mlflow_creds

from pipeline.core.errors import PipelineError

SET_LOGIN = (
    f"set {MLFLOW_TRACKING_USERNAME.name} and {MLFLOW_TRACKING_PASSWORD.name} (or write them to "
    "~/.mlflow/credentials) to the ones the server's admin gave you"
)
REFUSED_CODES = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}
INVALID_HOST = "Invalid Host header"  # what MLflow's allowed-hosts check answers, with 403


def login() -> tuple[str, str] | None:
    """The user name and password MLflow's client sends (environment first, then ~/.mlflow/credentials)."""
    creds = read_mlflow_creds()
    return (creds.username, creds.password or "") if creds.username else None


def refusal(uri: str, status: int, refused: str, body: str = "") -> PipelineError:
    """The one line for a server's 401 or 403 to the current login: which server, which user, what
    was refused and what to set."""
    who = login()
    user = f"user '{who[0]}'" if who else "a request without a login"
    if status == 403 and INVALID_HOST in body:
        return PipelineError(
            f"MLflow tracking server {uri} refused the host name in the address (HTTP 403, {refused}: not one of "
            "its --allowed-hosts): use the address its admin gave you, or have it added to --allowed-hosts"
        )
    if status == 401 and not who:
        return PipelineError(f"MLflow tracking server {uri} refused {user} (HTTP 401, {refused}): {SET_LOGIN}")
    if status == 401:
        return PipelineError(
            f"MLflow tracking server {uri} refused {user} (HTTP 401, {refused}: wrong user name or password): "
            f"{SET_LOGIN}"
        )
    return PipelineError(
        f"MLflow tracking server {uri} refused {user} permission for {refused} (HTTP 403): ask its admin for "
        f"the edit role (make tracking-user NAME={who[0] if who else '...'} ROLE=edit), or set "
        f"{MLFLOW_TRACKING_USERNAME.name} and {MLFLOW_TRACKING_PASSWORD.name} to an editor's"
    )


def check_answer(uri: str, answer: requests.Response) -> None:
    """Raise `refusal` when the server refused a probe with 401 or 403."""
    if answer.status_code in (401, 403):
        refused = f"GET {requests.utils.urlparse(answer.url).path}"
        raise refusal(uri, answer.status_code, refused, answer.text)


def untrusted_certificate(uri: str, error: requests.exceptions.SSLError) -> PipelineError:
    """The one line for a server whose TLS certificate this client does not trust."""
    reason = re.search(r"certificate verify failed: ([^(]+?)\s*\(", str(error))
    return PipelineError(
        f"MLflow tracking server {uri} presents a TLS certificate this machine does not trust "
        f"({reason.group(1) if reason else 'certificate verify failed'}): set MLFLOW_TRACKING_SERVER_CERT_PATH "
        "to the server's certificate (tls/server.crt in its directory) or to the CA that signed it"
    )


def refused_request(uri: str, error: MlflowException) -> PipelineError | None:
    """The one line for an MLflow request the server refused (401, 403), or None for any other failure."""
    status = REFUSED_CODES.get(str(error.error_code))
    if status is None:
        return None
    endpoint = re.search(r"endpoint (\S+) failed", str(error.message))
    return refusal(uri, status, endpoint.group(1) if endpoint else "a request", str(error.message))
