"""Loopback dataset mirrors that the fetch tests share: small IDX files, a directory of them, an HTTP server
serving them (or cutting a reply short), each stopped when its block ends."""

import contextlib
import functools
import gzip
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from conftest import idx_bytes

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"


def idx_files() -> dict[str, bytes]:
    """Two small IDX files, by name."""
    rng = np.random.default_rng(0)
    return {
        IMAGES: idx_bytes(rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)),
        LABELS: idx_bytes((np.arange(20) % 10).astype(np.uint8)),
    }


def write_source(path: Path, files: dict[str, bytes], gzipped: bool = False) -> Path:
    """A directory holding `files` (name: bytes), each as `<name>.gz` with `gzipped`."""
    path.mkdir()
    for name, data in files.items():
        if gzipped:
            (path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)
    return path


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A loopback HTTP server that answers with `handler` until the block ends; yields its URL prefix."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def file_handler(directory: Path) -> Callable[..., http.server.BaseHTTPRequestHandler]:
    """A handler that serves the files of `directory`, quietly."""
    return functools.partial(QuietFileHandler, directory=str(directory))


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class RawReply(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the bytes `reply`, verbatim, then closes the connection."""

    reply = b""

    def do_GET(self):
        self.wfile.write(self.reply)
        self.close_connection = True

    def log_message(self, format, *args):
        pass


class CutShort(RawReply):
    """Announces 1,000 bytes, sends 100 (a gzip header and zeros), then closes: a network failure mid-download."""

    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\x1f\x8b" + b"\x00" * 98
