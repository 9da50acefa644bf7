"""Stage `fetch`: put the four Fashion-MNIST IDX files, verified, into `data/raw/`.

Sources are tried in order: a directory named in params (or $FASHION_MNIST_DIR), the
Debian/Ubuntu package's directory, then the canonical HTTP mirrors. Mirrors compress
differently, so the SHA-256 is checked on the decompressed bytes.
"""

import gzip
import hashlib
import os
import sys
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from pipeline import cli, config
from pipeline.artifacts import write_bytes

EXPECTED_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Source:
    """A place the files may come from: a local directory or a URL prefix."""

    location: str

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def read(self, name: str) -> bytes:
        """The file's bytes, decompressed; OSError when this source does not have it."""
        return _gunzip(
            _download(self.location + name + ".gz") if self.is_url else _read_local(Path(self.location), name)
        )


def _read_local(directory: Path, name: str) -> bytes:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate.read_bytes()
    raise FileNotFoundError(f"neither {name} nor {name}.gz in {directory}")


def _gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise OSError(f"corrupt gzip data ({error})") from error


def _download(url: str) -> bytes:
    """Download `url` into memory with a timeout, printing progress to stderr."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0)
        chunks, received = [], 0
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            received += len(chunk)
            shown = f"{100 * received // total}%" if total else f"{received >> 20} MiB"
            print(f"\r  {url}: {shown}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    if total and received != total:
        raise OSError(f"download cut short: {received} of {total} bytes")
    return b"".join(chunks)


def default_sources(source_dir: str | None, environ: dict[str, str]) -> list[Source]:
    """The sources in the order they are tried."""
    directories = [d for d in (source_dir, environ.get(config.DATA_DIR_ENV)) if d]
    directories.append(str(config.SYSTEM_DATA_DIR))
    return [Source(d) for d in directories] + [Source(url) for url in MIRRORS]


def fetch_file(name: str, sha256: str, sources: list[Source]) -> bytes:
    """The verified bytes of one file from the first source that has a good copy."""
    failures = []
    for source in sources:
        try:
            data = source.read(name)
        except OSError as error:
            failures.append(f"{source.location}: {getattr(error, 'reason', None) or error}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == sha256:
            return data
        failures.append(f"{source.location}: {name} rejected, SHA-256 {digest[:12]}… is not {sha256[:12]}…")
        print(f"warning: {failures[-1]}", file=sys.stderr)
    raise cli.PipelineError(f"could not fetch {name}; tried " + "; ".join(failures))


def fetch_dataset(destination: Path, sources: list[Source], expected: dict[str, str]) -> None:
    """Write every expected file, verified, into `destination`.

    All files are fetched and verified before the first is written, so a failure
    leaves `destination` as it was.
    """
    verified = {name: fetch_file(name, sha256, sources) for name, sha256 in expected.items()}
    for name, data in verified.items():
        write_bytes(destination / name, data)
        print(f"fetched {name} ({len(data):,} bytes, SHA-256 verified)")


def main() -> None:
    params = config.load_params()
    sources = default_sources(params.data.source_dir, dict(os.environ))
    fetch_dataset(config.RAW_DIR, sources, EXPECTED_SHA256)


if __name__ == "__main__":
    cli.run(main)
