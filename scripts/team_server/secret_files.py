"""Secrets the tracking server makes on its first start and keeps in its directory, each in a file of mode 0600.

The directory (`.tracking-server/` by default) is git-ignored; the files are never printed, except a new
member's password once, to hand over.
"""

import os
import secrets
import shutil
from pathlib import Path

from scripts.team_server import SetupError


def generate_password() -> str:
    """A new password: 32 URL-safe ASCII characters (MLflow's artifact routes decode Basic credentials as ASCII)."""
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Write `text` to `path` with mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if owner:
        shutil.chown(path, owner, owner)


def stored_secret(path: Path) -> str:
    """The secret in `path`, made the first time; a file others can read is refused, in one line."""
    if not path.exists():
        write_private(path, generate_password() + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SetupError(f"{path} is readable by others (mode {mode:o}): chmod 600 {path}, then change that secret")
    return path.read_text().strip()
