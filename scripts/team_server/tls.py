"""TLS in front of MLflow: Debian's nginx serves HTTPS on the team's address and passes requests to MLflow on loopback.

The certificate is the team's (--tls-cert and --tls-key: one its clients already trust, or one its CA
signed), else a self-signed one made with openssl on the first start (DIR/tls/server.crt, for the
addresses and names in --allowed-hosts), which clients trust through $MLFLOW_TRACKING_SERVER_CERT_PATH.
nginx passes the client's Host header on, so MLflow's --allowed-hosts check sees the name the client used.
"""

import ipaddress
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from scripts.team_server import SetupError
from scripts.team_server.secret_files import write_private

CERTIFICATE_DAYS = 825  # what browsers accept for a server certificate
NGINX_CONFIG = """# scripts/tracking_server.py writes this file on every start.
{user}worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {listen} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 0;  # models and artifacts of any size
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx, or one line saying how to install it."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
    if not found:
        raise SetupError(
            "nginx, which serves TLS in front of MLflow, is not installed: make nginx (apt-get install nginx)"
        )
    return found


def _subject_names(names: list[str]) -> str:
    """openssl's subjectAltName for the addresses and names clients use."""
    entries = []
    for name in names:
        try:
            entries.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            entries.append(f"DNS:{name}")
    return ",".join(entries)


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """DIR/tls/server.crt and .key: made the first time (for `names`), kept after (clients have the .crt)."""
    certificate, key = directory / "tls" / "server.crt", directory / "tls" / "server.key"
    if certificate.exists() and key.exists():
        return certificate, key
    certificate.parent.mkdir(mode=0o755, exist_ok=True)  # the certificate is public; its key is not (0600)
    write_private(key, "")
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(certificate), "-days", str(CERTIFICATE_DAYS),
        "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={_subject_names(names)}",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext", "extendedKeyUsage=serverAuth",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        key.unlink(missing_ok=True)
        raise SetupError(f"openssl could not make a self-signed certificate: {result.stderr.strip().splitlines()[-1]}")
    print(f"== made a self-signed certificate for {', '.join(names)}: {certificate} (give it to the clients)")
    return certificate, key


def _worker_user() -> pwd.struct_passwd | None:
    """Whom nginx's workers run as: www-data as root (as Debian's own nginx), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("www-data")
    except KeyError:
        raise SetupError(
            "no 'www-data' user for nginx's workers (it refuses to run them as root): apt-get install nginx"
        ) from None


def nginx_command(directory: Path, listen: str, upstream: int, certificate: Path, key: Path) -> list[str]:
    """nginx in the foreground with DIR/nginx/nginx.conf, listening on `listen` (host:port) and passing
    to MLflow on 127.0.0.1:`upstream`; its pid in DIR/nginx/nginx.pid."""
    prefix = directory / "nginx"
    prefix.mkdir(mode=0o700, exist_ok=True)
    worker = _worker_user()
    for temporary in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / temporary).mkdir(mode=0o700, exist_ok=True)
        if worker:
            os.chown(prefix / temporary, worker.pw_uid, worker.pw_gid)
    if worker:
        prefix.chmod(0o711)  # the workers reach their temporary folders, and read nothing else here
    config = prefix / "nginx.conf"
    user = f"user {worker.pw_name};\n" if worker else ""
    config.write_text(
        NGINX_CONFIG.format(
            user=user, prefix=prefix, listen=listen, certificate=certificate, key=key, upstream=upstream
        )
    )
    return [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
