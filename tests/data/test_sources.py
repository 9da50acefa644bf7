"""Where the IDX files come from, and how each is verified: local directories, HTTP mirrors, named sources."""

import contextlib
import gzip
import hashlib
import socket
from pathlib import Path

import pytest
from mirrors import IMAGES, LABELS, CutShort, RawReply, file_handler, http_server, idx_files, write_source

from pipeline.core.errors import PipelineError
from pipeline.core.paths import DATA_DIR_ENV, SYSTEM_DATA_DIR
from pipeline.data import sources as idx_sources
from pipeline.data.sources import Source, default_sources, fetch_dataset, fetch_file


@pytest.fixture
def contents():
    return idx_files()


@pytest.fixture
def serve():
    """`serve(directory)` or `serve(None, handler=...)`: the URL prefix of a loopback HTTP server that stops
    after the test."""
    with contextlib.ExitStack() as servers:
        yield lambda directory, handler=None: servers.enter_context(http_server(handler or file_handler(directory)))


@pytest.fixture
def expected(contents):
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setattr(idx_sources, "TIMEOUT_SECONDS", 5)


def _assert_fetched(destination, contents):
    assert sorted(p.name for p in destination.iterdir()) == sorted(contents)
    for name, data in contents.items():
        assert (destination / name).read_bytes() == data


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_plain_files_are_copied_verified(tmp_path, contents, expected, capsys):
    source = write_source(tmp_path / "src", contents)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(source))], expected)
    _assert_fetched(destination, contents)
    assert f"fetched {LABELS} (28 bytes, SHA-256 verified)" in capsys.readouterr().out


def test_gzipped_files_are_written_decompressed(tmp_path, contents, expected):
    source = write_source(tmp_path / "src", contents, gzipped=True)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(source))], expected)
    _assert_fetched(destination, contents)


def test_checksum_mismatch_is_rejected_naming_the_file(tmp_path, contents, expected, capsys):
    tampered = dict(contents, **{LABELS: contents[LABELS][:-1] + b"\x00"})
    source = write_source(tmp_path / "src", tampered)
    with pytest.raises(PipelineError) as caught:
        fetch_file(LABELS, expected[LABELS], [Source(str(source))])
    message = str(caught.value)
    assert message.startswith(f"could not fetch {LABELS}; tried {source}: {LABELS} rejected, SHA-256 ")
    assert expected[LABELS][:12] in message
    assert capsys.readouterr().err == ""  # no warning repeats what the error says


def test_bad_copy_falls_back_to_the_next_source(tmp_path, contents, expected, capsys):
    bad = write_source(tmp_path / "bad", dict(contents, **{IMAGES: contents[IMAGES][:-1] + b"\x00"}))
    good = write_source(tmp_path / "good", contents, gzipped=True)
    destination = tmp_path / "raw"
    fetch_dataset(destination, [Source(str(bad)), Source(str(good))], expected)
    _assert_fetched(destination, contents)
    assert f"warning: {bad}: {IMAGES} rejected" in capsys.readouterr().err


def test_source_without_the_file_falls_back_to_the_next(tmp_path, contents, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    good = write_source(tmp_path / "good", contents)
    assert fetch_file(IMAGES, expected[IMAGES], [Source(str(empty)), Source(str(good))]) == contents[IMAGES]


def test_when_every_source_fails_each_one_is_named(tmp_path, contents, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = write_source(tmp_path / "bad", {IMAGES: b"not the images"})
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
    source = write_source(tmp_path / "src", {IMAGES: contents[IMAGES]})  # the labels are nowhere
    destination = tmp_path / "raw"
    destination.mkdir()
    (destination / IMAGES).write_bytes(b"old images")
    with pytest.raises(PipelineError, match=f"could not fetch {LABELS}"):
        fetch_dataset(destination, [Source(str(source))], expected)
    assert [p.name for p in destination.iterdir()] == [IMAGES]
    assert (destination / IMAGES).read_bytes() == b"old images"


def test_failure_on_the_first_file_creates_no_destination(tmp_path, contents, expected):
    source = write_source(tmp_path / "src", {LABELS: contents[LABELS]})
    destination = tmp_path / "raw"
    with pytest.raises(PipelineError, match=f"could not fetch {IMAGES}"):
        fetch_dataset(destination, [Source(str(source))], expected)
    assert not destination.exists()


def test_download_appends_gz_and_decompresses(tmp_path, contents, expected, serve):
    url = serve(write_source(tmp_path / "www", contents, gzipped=True))
    source = Source(url)
    assert source.is_url
    destination = tmp_path / "raw"
    fetch_dataset(destination, [source], expected)
    _assert_fetched(destination, contents)


def test_download_missing_on_server_falls_back(tmp_path, contents, expected, serve):
    url = serve(write_source(tmp_path / "www", {LABELS: contents[LABELS]}, gzipped=True))
    local = write_source(tmp_path / "local", contents)
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
    sources = default_sources("/from/params", {DATA_DIR_ENV: "/from/env", "HOME": "/home/me"})
    assert [s.location for s in sources] == [
        "/from/params",
        "/from/env",
        str(SYSTEM_DATA_DIR),
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ]
    assert [s.is_url for s in sources] == [False, False, False, True, True]


def test_default_sources_skip_unset_or_empty_directories():
    expected = [str(SYSTEM_DATA_DIR), *idx_sources.MIRRORS]
    assert [s.location for s in default_sources(None, {})] == expected
    assert [s.location for s in default_sources("", {DATA_DIR_ENV: ""})] == expected
    assert [s.location for s in default_sources(None, {DATA_DIR_ENV: "/env"})] == ["/env", *expected]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"HELLO\r\n\r\n", "bad HTTP response: BadStatusLine"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"x" * 100,
            "bad HTTP response: IncompleteRead",
        ),
    ],
    ids=["not-http", "chunked-cut-short"],
)
def test_malformed_http_response_is_an_error_not_a_crash(expected, serve, reply, reason):
    url = serve(None, handler=type("Reply", (RawReply,), {"reply": reply}))
    with pytest.raises(PipelineError) as caught:
        fetch_file(LABELS, expected[LABELS], [Source(url)])
    assert str(caught.value).startswith(f"could not fetch {LABELS}; tried {url}: {reason}")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_file_that_cannot_be_read_is_named(tmp_path, expected):
    source = tmp_path / "src"
    source.mkdir()
    (source / IMAGES).symlink_to("/proc/self/mem")  # a regular file whose first byte gives an I/O error
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, expected[IMAGES], [Source(str(source))])
    assert str(caught.value) == f"could not fetch {IMAGES}; tried {source}: cannot read {IMAGES}: Input/output error"


def test_a_source_that_is_a_file_not_a_directory_is_named(tmp_path, expected):
    archive = tmp_path / "fashion-mnist.tar"
    archive.write_bytes(b"not a directory")
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, expected[IMAGES], [Source(str(archive))])
    assert str(caught.value) == f"could not fetch {IMAGES}; tried {archive}: {archive} is not a directory"


def test_sources_from_the_environment_replace_every_default():
    environ = {idx_sources.SOURCES_ENV: "/mirror/copy  http://cache.local/fashion", DATA_DIR_ENV: "/env"}
    assert [s.location for s in default_sources("/from/params", environ)] == [
        "/mirror/copy",
        "http://cache.local/fashion",
    ]


# MNIST: its published SHA-256 are of the .gz files


@pytest.fixture
def mnist_mirror(tmp_path, contents, serve, monkeypatch):
    """A loopback server as MNIST's only mirror, serving `contents` gzipped; their SHA-256 are the published ones."""
    www = write_source(tmp_path / "www", contents, gzipped=True)
    url = serve(www)
    monkeypatch.setattr(idx_sources, "MNIST_MIRRORS", (url,))
    published = {name: hashlib.sha256((www / f"{name}.gz").read_bytes()).hexdigest() for name in contents}
    monkeypatch.setattr(idx_sources, "MNIST_GZ_SHA256", published)
    return url


def test_mnist_is_downloaded_checked_on_the_gz_bytes_and_written_decompressed(tmp_path, contents, mnist_mirror, capsys):
    fashion_places = {DATA_DIR_ENV: "/fashion", idx_sources.SOURCES_ENV: "/fashion/too"}
    sources = default_sources(None, fashion_places, "mnist")
    assert [source.location for source in sources] == [mnist_mirror]
    fetch_dataset(tmp_path / "raw", sources, idx_sources.MNIST_GZ_SHA256, compressed=True)
    _assert_fetched(tmp_path / "raw", contents)
    assert f"fetched {LABELS} (28 bytes, SHA-256 of the .gz verified)" in capsys.readouterr().out


def test_mnist_sources_are_the_source_dir_then_its_own_mirrors():
    sources = default_sources("/data/mnist", {DATA_DIR_ENV: "/env"}, "mnist")
    assert [source.location for source in sources] == [
        "/data/mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ]


def test_mnist_compressed_otherwise_is_rejected_though_the_content_is_the_same(tmp_path, contents, mnist_mirror):
    recompressed = tmp_path / "recompressed"
    recompressed.mkdir()
    (recompressed / f"{IMAGES}.gz").write_bytes(gzip.compress(contents[IMAGES], compresslevel=1, mtime=0))
    sources = [Source(str(recompressed)), Source(mnist_mirror)]
    assert fetch_file(IMAGES, idx_sources.MNIST_GZ_SHA256[IMAGES], sources, compressed=True)[:2] == b"\x1f\x8b"
    with pytest.raises(
        PipelineError, match=rf"could not fetch {IMAGES}.gz; tried {recompressed}: {IMAGES}.gz rejected"
    ):
        fetch_file(IMAGES, idx_sources.MNIST_GZ_SHA256[IMAGES], sources[:1], compressed=True)


def test_mnist_from_a_directory_of_uncompressed_files_is_refused_saying_why(tmp_path, contents, mnist_mirror):
    local = write_source(tmp_path / "local", contents)
    with pytest.raises(PipelineError) as caught:
        fetch_file(IMAGES, idx_sources.MNIST_GZ_SHA256[IMAGES], [Source(str(local))], compressed=True)
    assert str(caught.value) == (
        f"could not fetch {IMAGES}.gz; tried {local}: {local} holds {IMAGES} uncompressed, "
        f"but its published SHA-256 is of {IMAGES}.gz: put the .gz files there"
    )
    gzipped = write_source(tmp_path / "gzipped", contents, gzipped=True)
    assert fetch_file(IMAGES, idx_sources.MNIST_GZ_SHA256[IMAGES], [Source(str(gzipped))], compressed=True)  # not these


# A source the user named is authoritative


@pytest.mark.parametrize("damage", ["truncated gzip", "other bytes"])
def test_a_bad_file_in_a_named_source_is_an_error_not_a_fallback(tmp_path, contents, expected, damage):
    named = write_source(tmp_path / "team", contents, gzipped=True)
    archive = named / f"{IMAGES}.gz"
    if damage == "truncated gzip":
        archive.write_bytes(archive.read_bytes()[:200])
    else:
        archive.write_bytes(gzip.compress(contents[IMAGES][:-1] + b"\x01"))
    fallback = write_source(tmp_path / "debian", contents)
    destination = tmp_path / "raw"
    sources = [Source(str(named), "$FASHION_MNIST_DIR"), Source(str(fallback))]
    with pytest.raises(PipelineError) as caught:
        fetch_dataset(destination, sources, expected)
    message = str(caught.value)
    reason = "corrupt gzip data" if damage == "truncated gzip" else "SHA-256 "
    assert message.startswith(f"{IMAGES} in {named} is bad: {reason}")
    assert message.endswith(
        "$FASHION_MNIST_DIR names that source, so fetch takes no other copy: replace the file, "
        "or change $FASHION_MNIST_DIR"
    )
    assert not destination.exists()


def test_a_file_a_named_source_lacks_is_fetched_elsewhere_with_a_warning_and_each_line_names_its_source(
    tmp_path, contents, expected, capsys
):
    named = write_source(tmp_path / "team", {LABELS: contents[LABELS]})
    fallback = write_source(tmp_path / "debian", contents)
    fetch_dataset(tmp_path / "raw", [Source(str(named), "data.source_dir"), Source(str(fallback))], expected)
    _assert_fetched(tmp_path / "raw", contents)
    captured = capsys.readouterr()
    assert f"fetched {LABELS} (28 bytes, SHA-256 verified) from {named}" in captured.out
    size = len(contents[IMAGES])
    assert f"fetched {IMAGES} ({size:,} bytes, SHA-256 verified) from {fallback}" in captured.out
    assert captured.err.startswith(f"warning: {named} (data.source_dir) has no usable {IMAGES}: ")


def test_the_sources_the_user_named_are_marked_and_the_defaults_are_not():
    sources = default_sources("/from/params", {DATA_DIR_ENV: "/from/env"})
    assert [s.named_by for s in sources[:3]] == ["data.source_dir", f"${DATA_DIR_ENV}", None]
    assert all(s.named_by is None for s in sources[2:])
    replaced = default_sources(None, {idx_sources.SOURCES_ENV: "/a http://b/"})
    assert [s.named_by for s in replaced] == [f"${idx_sources.SOURCES_ENV}"] * 2
