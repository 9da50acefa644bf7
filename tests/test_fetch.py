"""The fetch stage as a user runs it (`python -m pipeline.fetch`)."""

import gzip
import http.server
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from conftest import command_env, copy_project, run_command
from mirrors import IMAGES, CutShort, http_server, idx_files, write_source

from pipeline.core.paths import SYSTEM_DATA_DIR
from pipeline.data.sources import EXPECTED_SHA256


@pytest.fixture
def project(tmp_path):
    """A copy of the project whose data/raw holds an older download of every file."""
    root = copy_project(tmp_path / "project")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for name in EXPECTED_SHA256:
        (raw / name).write_bytes(b"older " + name.encode())
    return root


def _raw_files(root):
    return {path.name: path.read_bytes() for path in (root / "data" / "raw").iterdir()}


def test_fetch_command_fails_in_one_line_when_the_download_is_cut_short(project):
    before = _raw_files(project)
    with http_server(CutShort) as url:
        command = [sys.executable, "-m", "pipeline.fetch"]
        result = run_command(command, project, check=False, FASHION_MNIST_SOURCES=url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {IMAGES} in {url} is bad: download cut short: 100 of 1000 bytes. $FASHION_MNIST_SOURCES names "
        "that source, so fetch takes no other copy: replace the file, or change $FASHION_MNIST_SOURCES"
    ]
    assert _raw_files(project) == before


def test_fetch_command_fails_in_one_line_at_the_first_bad_copy_in_a_named_source(project, tmp_path):
    contents = idx_files()
    empty = tmp_path / "empty"
    empty.mkdir()
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / f"{IMAGES}.gz").write_bytes(gzip.compress(contents[IMAGES])[:-4])
    wrong_magic = write_source(tmp_path / "wrong-magic", {IMAGES: b"\x00\x00\x08\x01" + contents[IMAGES][4:]})
    before = _raw_files(project)
    for sources, bad, reason in (
        (f"{empty} {truncated} {wrong_magic}", truncated, "corrupt gzip data"),
        (f"{empty} {wrong_magic}", wrong_magic, "SHA-256 "),
    ):
        command = [sys.executable, "-m", "pipeline.fetch"]
        result = run_command(command, project, check=False, FASHION_MNIST_SOURCES=sources)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        *warnings, line = result.stderr.splitlines()
        assert line.startswith(f"error: {IMAGES} in {bad} is bad: {reason}")
        assert warnings == []  # the directory without the file is passed over, warned only once a copy is taken
        assert _raw_files(project) == before


def test_ctrl_c_during_a_download_leaves_raw_data_as_it_was(project):
    sent_some, release = threading.Event(), threading.Event()

    class Stalls(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(10**7))
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + b"\x00" * 65534)
            self.wfile.flush()
            sent_some.set()
            release.wait(60)

        def log_message(self, format, *args):
            pass

    before = _raw_files(project)
    with http_server(Stalls) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.fetch"],
            cwd=project,
            env=command_env(FASHION_MNIST_SOURCES=url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert sent_some.wait(60), "the download never started"
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130
    assert stderr.splitlines() == ["interrupted by SIGINT"]
    assert _raw_files(project) == before


def test_fetch_run_by_a_user_with_a_truncated_copy_stops_with_one_line(tmp_path):
    """The issue's case: $FASHION_MNIST_DIR points at a copy whose train-images file is truncated."""
    copy = tmp_path / "copy"
    shutil.copytree(SYSTEM_DATA_DIR, copy)
    archive = copy / "train-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    root = copy_project(tmp_path / "project")
    result = run_command([sys.executable, "-m", "pipeline.fetch"], root, check=False, FASHION_MNIST_DIR=str(copy))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: train-images-idx3-ubyte in {copy} is bad: ")
    assert "$FASHION_MNIST_DIR names that source" in line
    assert not (root / "data" / "raw").exists()
