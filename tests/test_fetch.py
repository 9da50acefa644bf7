import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
from conftest import idx_bytes

from pipeline import config, fetch
from pipeline.cli import PipelineError
from pipeline.fetch import Source, default_sources, fetch_dataset, fetch_file

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"


@pytest.fixture
def contents():
    """Two small IDX files, by name."""
    rng = np.random.default_rng(0)
    return {
        IMAGES: idx_bytes(rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)),
        LABELS: idx_bytes((np.arange(20) % 10).astype(np.uint8)),
    }


@pytest.fixture
def expected(contents):
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setattr(fetch, "TIMEOUT_SECONDS", 5)


def _directory(path, files, gzipped=False):
    path.mkdir()
    for name, data in files.items():
        if gzipped:
            (path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)
    return path


def _assert_fetched(destination, contents):
    assert sorted(p.name for p in destination.iterdir()) == sorted(contents)
    for name, data in contents.items():
        assert (destination / name).read_bytes() == data


@pytest.fixture
def serve(tmp_path):
    """Start loopback HTTP servers; `serve(directory)` returns the URL prefix of one serving `directory`."""
    servers = []

    def start(directory, handler=None):
        if handler is None:
            handler = functools.partial(QuietFileHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_plain_files_are_copied_verified(tmp_path, contents, expected, capsys):
    source = _directory(tmp_path / "src", contents)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(source))], expected)
    _assert_fetched(destination, contents)
    assert f"fetched {LABELS} (28 bytes, SHA-256 verified)" in capsys.readouterr().out


def test_gzipped_files_are_written_decompressed(tmp_path, contents, expected):
    source = _directory(tmp_path / "src", contents, gzipped=True)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(source))], expected)
    _assert_fetched(destination, contents)


def test_checksum_mismatch_is_rejected_naming_the_file(tmp_path, contents, expected, capsys):
    tampered = dict(contents, **{LABELS: contents[LABELS][:-1] + b"\x00"})
    source = _directory(tmp_path / "src", tampered)
    with pytest.raises(PipelineError) as caught:
        fetch_file(LABELS, expected[LABELS], [Source(str(source))])
    message = str(caught.value)
    assert message.startswith(f"could not fetch {LABELS}; tried {source}: {LABELS} rejected, SHA-256 ")
    assert expected[LABELS][:12] in message
    assert f"warning: {source}: {LABELS} rejected" in capsys.readouterr().err


def test_bad_copy_falls_back_to_the_next_source(tmp_path, contents, expected, capsys):
    bad = _directory(tmp_path / "bad", dict(contents, **{IMAGES: contents[IMAGES][:-1] + b"\x00"}))
    good = _directory(tmp_path / "good", contents, gzipped=True)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(bad)), Source(str(good))], expected)
    _assert_fetched(destination, contents)
    assert f"warning: {bad}: {IMAGES} rejected" in capsys.readouterr().err


def test_source_without_the_file_falls_back_to_the_next(tmp_path, contents, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    good = _directory(tmp_path / "good", contents)
    assert fetch_file(IMAGES, expected[IMAGES], [Source(str(empty)), Source(str(good))]) == contents[IMAGES]


def test_when_every_source_fails_each_one_is_named(tmp_path, contents, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = _directory(tmp_path / "bad", {IMAGES: b"not the images"})
    absent = tmp_path / "does-not-exist"
    url = f"http://127.0.0.1:{_closed_port()}/"
    sources = [Source(str(empty)), Source(str(bad)), Source(str(absent)), Source(url)]
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, expected[IMAGES], sources)
    message = str(caught.value)
    assert message.startswith(f"could not fetch {IMAGES}; tried ")
    assert f"{empty}: neither {IMAGES} nor {IMAGES}.gz in {empty}" in message
    assert f"{bad}: {IMAGES} rejected" in message
    assert f"{absent}: neither {IMAGES} nor {IMAGES}.gz" in message
    assert f"{url}: " in message
    assert message.count("; ") == 4


def test_one_failing_file_leaves_the_destination_as_it_was(tmp_path, contents, expected):
    source = _directory(tmp_path / "src", {IMAGES: contents[IMAGES]})  # the labels are nowhere
    destination = tmp_path / "raw"
    destination.mkdir()
    (destination / IMAGES).write_bytes(b"old images")
    with pytest.raises(PipelineError, match=f"could not fetch {LABELS}"):
        fetch_dataset(destination, [Source(str(source))], expected)
    assert [p.name for p in destination.iterdir()] == [IMAGES]
    assert (destination / IMAGES).read_bytes() == b"old images"


def test_failure_on_the_first_file_creates_no_destination(tmp_path, contents, expected):
    source = _directory(tmp_path / "src", {LABELS: contents[LABELS]})
    destination = tmp_path / "raw"
    with pytest.raises(PipelineError, match=f"could not fetch {IMAGES}"):
        fetch_dataset(destination, [Source(str(source))], expected)
    assert not destination.exists()


def test_download_appends_gz_and_decompresses(tmp_path, contents, expected, serve):
    url = serve(_directory(tmp_path / "www", contents, gzipped=True))
    source = Source(url)
    assert source.is_url
    destination = tmp_path / "raw"
    fetch_dataset(destination, [source], expected)
    _assert_fetched(destination, contents)


def test_download_missing_on_server_falls_back(tmp_path, contents, expected, serve):
    url = serve(_directory(tmp_path / "www", {LABELS: contents[LABELS]}, gzipped=True))
    local = _directory(tmp_path / "local", contents)
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, expected[IMAGES], [Source(url)])
    assert str(caught.value) == f"could not fetch {IMAGES}; tried {url}: File not found"
    assert fetch_file(IMAGES, expected[IMAGES], [Source(url), Source(str(local))]) == contents[IMAGES]


def test_truncated_gzip_is_an_error_not_a_crash(tmp_path, contents, expected, serve):
    compressed = gzip.compress(contents[IMAGES])
    www = tmp_path / "www"
    www.mkdir()
    (www / f"{IMAGES}.gz").write_bytes(compressed[: len(compressed) // 2])
    url = serve(www)
    local = tmp_path / "local"
    local.mkdir()
    (local / f"{IMAGES}.gz").write_bytes(compressed[:-4])  # gzip trailer cut off
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, expected[IMAGES], [Source(url), Source(str(local))])
    message = str(caught.value)
    assert f"{url}: corrupt gzip data" in message
    assert f"{local}: corrupt gzip data" in message


def test_gzip_with_bad_checksum_is_an_error_not_a_crash(tmp_path, contents, expected):
    compressed = bytearray(gzip.compress(contents[LABELS]))
    compressed[-8] ^= 0xFF  # the CRC-32 in the trailer
    local = tmp_path / "local"
    local.mkdir()
    (local / f"{LABELS}.gz").write_bytes(bytes(compressed))
    with pytest.raises(PipelineError, match=f"{local}: corrupt gzip data"):
        fetch_file(LABELS, expected[LABELS], [Source(str(local))])


def test_download_cut_short_is_detected(tmp_path, contents, expected, serve):
    class CutShort(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + b"\x00" * 98)
            self.close_connection = True

        def log_message(self, format, *args):
            pass

    url = serve(None, handler=CutShort)
    with pytest.raises(PipelineError) as caught:
        fetch_file(LABELS, expected[LABELS], [Source(url)])
    assert str(caught.value) == f"could not fetch {LABELS}; tried {url}: download cut short: 100 of 1000 bytes"


def test_unreachable_url_fails_fast_naming_the_location(tmp_path, expected):
    url = f"http://127.0.0.1:{_closed_port()}/"
    with pytest.raises(PipelineError) as caught:
        fetch_dataset(tmp_path / "raw", [Source(url)], expected)
    message = str(caught.value)
    assert message.startswith(f"could not fetch {IMAGES}; tried {url}: ")
    assert "refused" in message.lower()
    assert not (tmp_path / "raw").exists()


def test_default_sources_order_params_env_system_mirrors():
    sources = default_sources("/from/params", {config.DATA_DIR_ENV: "/from/env", "HOME": "/home/me"})
    assert [s.location for s in sources] == [
        "/from/params",
        "/from/env",
        "/usr/share/datasets/fashion-mnist",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ]
    assert [s.is_url for s in sources] == [False, False, False, True, True]


def test_default_sources_skip_unset_or_empty_directories():
    expected = [str(config.SYSTEM_DATA_DIR), *fetch.MIRRORS]
    assert [s.location for s in default_sources(None, {})] == expected
    assert [s.location for s in default_sources("", {config.DATA_DIR_ENV: ""})] == expected
    assert [s.location for s in default_sources(None, {config.DATA_DIR_ENV: "/env"})] == ["/env", *expected]
