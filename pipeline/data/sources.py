"""Where the IDX datasets' files come from, and how each one is verified before it is kept.

Fashion-MNIST: the sources are tried in order: a directory named in params (or $FASHION_MNIST_DIR), the
Debian/Ubuntu package's directory, then the canonical HTTP mirrors; $FASHION_MNIST_SOURCES replaces that
list. Mirrors compress differently, so the SHA-256 is checked on the decompressed bytes. MNIST: `data.source_dir`,
then its canonical mirrors; its published SHA-256 are of the .gz files, so the compressed bytes are checked.

A source the user named is authoritative: a bad file there (corrupt, truncated, another SHA-256) is an error
naming the file, the source and why, never a reason to take another copy; only a file it lacks is looked for
further, with a warning.
"""

import gzip
import hashlib
import http.client
import sys
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.files import staged_outputs
from pipeline.core.paths import DATA_DIR_ENV, SYSTEM_DATA_DIR

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
# MNIST's published SHA-256 are of the compressed files, `<name>.gz`.
MNIST_GZ_SHA256 = {
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
TIMEOUT_SECONDS = 30
# Directories or URL prefixes, space-separated, tried instead of all the default sources
# (an internal mirror, or an air-gapped machine that must never reach the internet).
SOURCES_ENV = "FASHION_MNIST_SOURCES"


@dataclass(frozen=True)
class Source:
    """A place the files may come from: a local directory or a URL prefix. `named_by` is the setting
    through which the user named it (None for the default sources): such a source is authoritative,
    so a bad file there is an error, not a reason to take another source's copy."""

    location: str
    named_by: str | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def read(self, name: str, compressed: bool = False) -> bytes:
        """The file's bytes, decompressed, or with `compressed` those of `<name>.gz` as they are;
        OSError when this source does not have it."""
        if self.is_url:
            data = _download(f"{self.location.rstrip('/')}/{name}.gz")
        else:
            data = _read_local(Path(self.location), name, compressed)
        return data if compressed else _gunzip(data)


def _read_local(directory: Path, name: str, compressed: bool = False) -> bytes:
    """`name` or `<name>.gz` from `directory`; only `<name>.gz` when the SHA-256 to check is of the
    compressed bytes (an uncompressed copy cannot be checked against it)."""
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    for candidate in [directory / f"{name}.gz"] if compressed else [directory / name, directory / f"{name}.gz"]:
        if candidate.is_file():
            try:
                return candidate.read_bytes()
            except OSError as error:  # name the file: a failed read() does not
                raise OSError(f"cannot read {candidate.name}: {error.strerror or error}") from error
    if compressed and (directory / name).is_file():
        raise FileNotFoundError(
            f"{directory} holds {name} uncompressed, but its published SHA-256 is of {name}.gz: put the .gz files there"
        )
    wanted = f"{name}.gz" if compressed else f"neither {name} nor {name}.gz"
    raise FileNotFoundError(f"{'no ' if compressed else ''}{wanted} in {directory}")


def _gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise OSError(f"corrupt gzip data ({error})") from error


def _download(url: str) -> bytes:
    """Download `url` into memory with a timeout; progress on stderr when it is a terminal."""
    show_progress = sys.stderr.isatty()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            total = response.length or 0  # the Content-Length, when the server sent a valid one
            chunks, received = [], 0
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                received += len(chunk)
                shown = f"{100 * received // total}%" if total else f"{received >> 20} MiB"
                if show_progress:
                    print(f"\r  {url}: {shown}", end="", file=sys.stderr, flush=True)
    except http.client.HTTPException as error:  # a malformed or cut-off response; not an OSError
        raise OSError(f"bad HTTP response: {error!r}") from error
    finally:
        if show_progress:
            print(file=sys.stderr)
    if total and received != total:
        raise OSError(f"download cut short: {received} of {total} bytes")
    return b"".join(chunks)


def default_sources(source_dir: str | None, environ: dict[str, str], dataset: str = "fashion_mnist") -> list[Source]:
    """The sources of an IDX dataset in the order they are tried. The environment variables and the
    Debian package's directory hold Fashion-MNIST, so MNIST comes from `source_dir` or its mirrors."""
    named = [Source(source_dir, "data.source_dir")] if source_dir else []
    if dataset == "mnist":
        return named + [Source(url) for url in MNIST_MIRRORS]
    if environ.get(SOURCES_ENV):
        return [Source(location, f"${SOURCES_ENV}") for location in environ[SOURCES_ENV].split()]
    if environ.get(DATA_DIR_ENV):
        named.append(Source(environ[DATA_DIR_ENV], f"${DATA_DIR_ENV}"))
    return named + [Source(str(SYSTEM_DATA_DIR))] + [Source(url) for url in MIRRORS]


def _absent(error: OSError) -> bool:
    """Whether a source just does not have the file (or cannot be reached), rather than a bad copy of it."""
    return isinstance(error, (FileNotFoundError, TimeoutError, urllib.error.URLError))  # HTTPError is a URLError


def fetch_verified(name: str, sha256: str, sources: list[Source], compressed: bool = False) -> tuple[bytes, Source]:
    """The verified bytes of one file and the source they came from: the first source that has a good
    copy; with `compressed`, those of `<name>.gz`, checked as they are.

    A bad copy in a source the user named is an error naming the file, the source and the reason. In a
    default source it is passed over with a warning; a named source that lacks the file is passed over
    with a warning too. When no source has a good copy, the error names them all.
    """
    shown = f"{name}.gz" if compressed else name
    failures, warnings = [], []
    for source in sources:
        try:
            data = source.read(name, compressed)
        except OSError as error:
            reason = f"{getattr(error, 'reason', None) or error}"
            if source.named_by and not _absent(error):
                raise _bad_named_copy(source, shown, reason) from error
            failures.append(f"{source.location}: {reason}")
            if source.named_by:
                warnings.append(f"{source.location} ({source.named_by}) has no usable {shown}: {reason}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == sha256:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            return data, source
        reason = f"SHA-256 {digest[:12]}… is not the published {sha256[:12]}…"
        if source.named_by:
            raise _bad_named_copy(source, shown, reason)
        warnings.append(f"{source.location}: {shown} rejected, {reason}")
        failures.append(warnings[-1])
    raise PipelineError(f"could not fetch {shown}; tried " + "; ".join(failures))


def _bad_named_copy(source: Source, shown: str, reason: str) -> PipelineError:
    return PipelineError(
        f"{shown} in {source.location} is bad: {reason}. {source.named_by} names that source, so fetch takes no "
        f"other copy: replace the file, or change {source.named_by}"
    )


def fetch_file(name: str, sha256: str, sources: list[Source], compressed: bool = False) -> bytes:
    """The verified bytes of one file (`fetch_verified` without the source)."""
    return fetch_verified(name, sha256, sources, compressed)[0]


def fetch_dataset(destination: Path, sources: list[Source], expected: dict[str, str], compressed: bool = False) -> None:
    """Write every expected file, verified, into `destination`, decompressed. With `compressed`,
    the SHA-256 in `expected` are of the `.gz` files.

    All files are fetched and verified before the first is written, and then replace the old
    ones together, so a failure or an interruption leaves `destination` as it was.
    """
    fetched = {name: fetch_verified(name, sha256, sources, compressed) for name, sha256 in expected.items()}
    verified = {name: gzip.decompress(data) if compressed else data for name, (data, _) in fetched.items()}
    with staged_outputs(*(destination / name for name in verified)) as staged:
        for name, data in verified.items():
            staged[destination / name].write_bytes(data)
    checked = "SHA-256 of the .gz verified" if compressed else "SHA-256 verified"
    for name, data in verified.items():
        print(f"fetched {name} ({len(data):,} bytes, {checked}) from {fetched[name][1].location}")
