"""A free TCP port on loopback, for a server that a script or a test starts there."""

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: the OS's pick, released at once (so another process may yet
    take it before the caller binds it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]
