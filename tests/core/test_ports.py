import errno
import socket

import pytest

from pipeline.core import ports


def test_a_free_port_can_be_listened_on_at_loopback():
    port = ports.free_port()
    with socket.socket() as server:
        server.bind((ports.LOOPBACK, port))
        server.listen()
        assert server.getsockname() == (ports.LOOPBACK, port)


def test_no_free_port_raises_the_systems_reason(monkeypatch):
    class NoPorts(socket.socket):
        def bind(self, address):
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(ports.socket, "socket", NoPorts)
    with pytest.raises(OSError, match="Cannot assign requested address"):
        ports.free_port()
