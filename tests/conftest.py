"""Shared fixtures: tiny synthetic data, and real Fashion-MNIST with a small trained CNN.

TensorFlow/Keras are imported only inside the fixtures that need them, so the fast tests stay fast.
"""

import contextlib
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from PIL import Image

from pipeline.core.paths import SYSTEM_DATA_DIR
from pipeline.core.ports import free_port as free_port  # the tests import it from here

# The interruption tests press Ctrl-C (SIGINT) on the commands they start. A shell starts a
# background job (`bash .ci/run &`) with SIGINT ignored, which the commands would inherit and
# rightly respect; give them the usual Ctrl-C instead.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items) -> None:
    """The slow tests first: with the test files spread over the cores (`make test`), the end-to-end ones start
    at once, side by side, and the many quick ones fill the gaps, instead of one long file running alone last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the files' order otherwise


def idx_bytes(array: np.ndarray) -> bytes:
    """The unsigned-byte IDX encoding of `array`: magic 00 00 08 ndim, big-endian uint32 dims, then the bytes."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"IDX ubyte files hold uint8 data, not {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: Path, array: np.ndarray, gzipped: bool = False) -> Path:
    """Write `array` as an IDX file at `path` (gzip-compressed when `gzipped`) and return the path."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def synthetic_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` random 28x28 uint8 images with labels cycling through 0..9 (balanced when count % 10 == 0)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, rng.permutation(labels)


@pytest.fixture
def tiny_dataset():
    """A Fashion-MNIST-shaped dataset in memory: 200 training and 50 test images, balanced labels."""
    train_images, train_labels = synthetic_split(200, seed=0)
    test_images, test_labels = synthetic_split(50, seed=1)
    return SimpleNamespace(
        train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels
    )


@pytest.fixture
def tiny_raw_dir(tmp_path, tiny_dataset):
    """`tiny_dataset` written as the four raw IDX files (uncompressed) in a temporary directory."""
    directory = tmp_path / "raw"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte", tiny_dataset.train_images)
    write_idx(directory / "train-labels-idx1-ubyte", tiny_dataset.train_labels)
    write_idx(directory / "t10k-images-idx3-ubyte", tiny_dataset.test_images)
    write_idx(directory / "t10k-labels-idx1-ubyte", tiny_dataset.test_labels)
    return directory


# A folder of images in the flowers tutorial's layout; Keras labels the classes in sorted order.
FOLDER_CLASSES = ("blue_stripes", "green_discs", "red_squares")


def write_image_folder(directory: Path, per_class: int = 40, size: int = 16, seed: int = 0) -> Path:
    """`per_class` small RGB PNG images per class, one subfolder each: blue vertical stripes, a green
    disc or a red square, at a random place and size on a dark noisy background."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:size, :size]
    for channel, name in zip((2, 1, 0), FOLDER_CLASSES):
        (directory / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 60, size=(size, size, 3))
            row, column = rng.integers(size // 4, 3 * size // 4, size=2)
            radius = rng.integers(size // 6, size // 3 + 1)
            shapes = {
                "blue_stripes": (columns + index) % 4 < 2,
                "green_discs": (rows - row) ** 2 + (columns - column) ** 2 <= radius**2,
                "red_squares": (abs(rows - row) <= radius) & (abs(columns - column) <= radius),
            }
            pixels[shapes[name], channel] = rng.integers(180, 256)
            Image.fromarray(pixels.astype(np.uint8)).save(directory / name / f"{index:03d}.png")
    return directory


DEBIAN_DATASET = SYSTEM_DATA_DIR


def real_split(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` real Fashion-MNIST images and labels of `split` ("train" or "t10k"), from the
    Debian package that `make setup` installs."""
    from pipeline.data.idx import parse_idx

    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        path = DEBIAN_DATASET / f"{split}-{kind}-ubyte.gz"
        arrays.append(parse_idx(gzip.decompress(path.read_bytes()), path.name)[:count])
    return arrays[0], arrays[1]


@pytest.fixture(scope="session")
def real_data():
    """4,000 real training and 1,000 real test images."""
    (train_images, train_labels), (test_images, test_labels) = real_split("train", 4000), real_split("t10k", 1000)
    return SimpleNamespace(
        train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels
    )


@pytest.fixture(scope="session")
def trained_cnn(real_data):
    """A small CNN trained for three epochs on `real_data` (about 80% test accuracy, a few seconds)."""
    from pipeline.core.config import VariantParams
    from pipeline.training.architectures import build_model, compile_model
    from pipeline.training.loop import configure_runtime, train_model

    spec = VariantParams(model="cnn", filters=(8, 16), hidden_units=(32,), epochs=3, batch_size=64, learning_rate=0.003)
    configure_runtime(seed=0, threads=2)
    model = compile_model(build_model(spec), spec, steps_per_epoch=-(-len(real_data.train_labels) // 64))
    split = (real_data.train_images, real_data.train_labels)
    train_model(model, split, (real_data.test_images[:100], real_data.test_labels[:100]), spec, seed=0)
    return model


@pytest.fixture(scope="session")
def app_files(trained_cnn, real_data) -> dict[str, bytes]:
    """`trained_cnn`'s app flavours, float32 and int8 (calibrated on 200 training images), with metadata."""
    from pipeline.data.dataset_info import CLASS_NAMES
    from pipeline.on_device import app_model
    from pipeline.on_device.app_input import DEFAULT_INPUT_SIZE
    from pipeline.on_device.app_metadata import with_metadata
    from pipeline.on_device.photo_like import calibration_images

    size = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
    calibration = calibration_images(real_data.train_images, count=200, seed=0, size=size)
    contents = {
        "float32": app_model.build_app_model(trained_cnn),
        "int8": app_model.quantize_app_model(trained_cnn, calibration),
    }
    return {flavour: with_metadata(content, CLASS_NAMES) for flavour, content in contents.items()}


REPOSITORY = Path(__file__).resolve().parent.parent
PROJECT_FILES = (
    "pipeline",
    "plot_templates",
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    ".gitignore",
)


def copy_project(root: Path) -> Path:
    """The project's code, pipeline and params copied into `root`, for tests that run the real stages."""
    for name in PROJECT_FILES:
        source, target = REPOSITORY / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return root


def edit_params(root: Path, edit: Callable[[dict], None]) -> None:
    """Apply `edit` to the params.yaml under `root`, in place."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# The small pipeline of the tests that run many stages on real data: two one-epoch MLPs on 3,000 images,
# one seed each.
SMALL_VARIANTS = ("mlp", "mlp_dropout")
SMALL_HIDDEN_UNITS = 16


def tiny_data_and_export(params: dict) -> None:
    """The end-to-end tests' data and export, edited into params.yaml's values (for `edit_params`): 3,000
    training images; export's measurements capped (the four files still run on all 10,000 test images, the app
    flavour on 200 of them, MediaPipe on 50)."""
    params["data"]["limit"] = 3000
    params["export"].update(representative_images=100, latency_runs=20)  # of 500 and 200
    params["export"]["app"].update(calibration_images=50, test_images=200, mediapipe_images=50)  # of 300, all and 1,000


def small_pipeline(params: dict) -> None:
    """Edit params.yaml's values into SMALL_VARIANTS' small pipeline (for `edit_params`)."""
    tiny_data_and_export(params)
    params["seeds"] = params["seeds"][:1]
    params["run_variants"] = list(SMALL_VARIANTS)
    params["variants"] = {
        name: dict(params["variants"][name], epochs=1, hidden_units=[SMALL_HIDDEN_UNITS]) for name in SMALL_VARIANTS
    }
    params["compare"]["effects"] = {"dropout": [list(SMALL_VARIANTS)]}
    params["gate"]["min_test_accuracy_by_variant"] = {}


def _queue_statuses(root: Path, experiments) -> dict[str, str]:
    lines = run_command(["dvc", "queue", "status"], root).stdout.splitlines()
    return {w[1]: w[-1] for line in lines if len(w := line.split()) >= 3 and w[1] in experiments}


def _stop_workers(root: Path) -> None:
    """Kill the queue's workers that still run once their queue is done. A worker can miss the shutdown
    its own idle monitor sends while a task still runs, and then waits forever ("monitor: shutting down
    due to empty queue", then nothing, in .dvc/tmp/exps/celery/dvc-exp-worker-N.out)."""

    def alive(pid) -> bool:
        with contextlib.suppress(OSError):  # gone, or never started
            return bool(pid) and b"queue-worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        return False

    infos = (root / ".dvc" / "tmp" / "exps" / "celery").glob("dvc-exp-worker-*.json")
    left = [pid for info in infos if alive(pid := json.loads(info.read_text()).get("pid"))]
    for sig in (signal.SIGTERM, signal.SIGKILL):  # a warm shutdown first: it has no task left
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while (left := [pid for pid in left if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)


def run_queue(root: Path, experiments, seconds: float = 1800, **environment: str) -> dict[str, str]:
    """`dvc queue start --jobs 2` on the queued `experiments`, and wait until each has finished; each
    one's status in `dvc queue status` (Success, Failed). `seconds` only keeps a hung queue from blocking
    the suite. The workers are stopped afterwards, whatever happened."""
    # Its output goes to a file, not a pipe: the process it leaves to watch the workers keeps its stdout
    # open, and reading a pipe would wait for the last worker to exit.
    start = ["dvc", "queue", "start", "--jobs", "2"]
    log = root / ".dvc" / "tmp" / "queue-start.log"
    try:
        with log.open("w") as output:
            started = subprocess.run(start, cwd=root, env=command_env(**environment), stdout=output, stderr=output)
        assert started.returncode == 0, f"dvc queue start failed:\n{log.read_text()[-3000:]}"
        deadline = time.monotonic() + seconds
        while True:
            statuses = _queue_statuses(root, experiments)
            if len(statuses) == len(experiments) and not {"Queued", "Running"} & set(statuses.values()):
                return statuses
            if time.monotonic() > deadline:
                pytest.fail(f"the queue did not finish within {seconds} s: {statuses}")
            time.sleep(5)
    finally:
        run_command(["dvc", "queue", "stop", "--kill"], root, check=False)
        _stop_workers(root)


def command_env(**environment: str) -> dict[str, str]:
    """The environment `make` gives a command: this venv first on PATH, without the caller's MLFLOW_*
    settings, plus `environment`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(environment)
    return env


def run_command(args: list[str], cwd: Path, check: bool = True, **environment: str) -> subprocess.CompletedProcess:
    """Run a command in `command_env(**environment)`. With `check`, a non-zero exit fails the test and
    shows the output's end."""
    result = subprocess.run(args, cwd=cwd, env=command_env(**environment), capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


SERVER_START_SECONDS = 120  # a first `mlflow server` start creates its database: about 12 s on 2 busy cores


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = SERVER_START_SECONDS) -> None:
    """Wait until the server `process` answers `url` with 200; fail the test, with its log's end, if it
    exits or stays silent for `seconds`."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:  # not listening yet
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a server started with `start_new_session=True` and every worker it started (its process
    group); what is slow to exit is killed."""
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stages_run(output: str) -> set[str]:
    """The stages a `dvc repro`'s output says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def init_git(root: Path) -> None:
    """Make `root` a git repository with all its files committed, as DVC (and its experiments) need."""
    run_command(["git", "init", "-q"], root)
    run_command(["git", "add", "-A"], root)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    run_command(["git", *identity, "commit", "-qm", "init", "--allow-empty"], root)


# --- Real test images as files, and the small trained CNN as every model file predict takes ----------

IMAGE_FILES = 200  # real test images classified from files


def png_image(pixels: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return Image.open(buffer)


def photo_like(pixels: np.ndarray) -> Image.Image:
    """A product-photo-like RGB picture of a Fashion-MNIST image: dark on white, 4× larger, off-center."""
    garment = Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BICUBIC)
    photo = Image.new("RGB", (200, 160), "white")
    photo.paste(garment, (20, 40))
    return photo


@pytest.fixture(scope="session")
def model_files(tmp_path_factory, trained_cnn, real_data) -> dict[str, Path]:
    """The small trained CNN as every `.tflite` flavour, named as the export stage names them, and as `.keras`."""
    directory = tmp_path_factory.mktemp("models")
    from pipeline.core.paths import VariantPaths
    from pipeline.on_device.flavours import convert, representative_images

    variant = VariantPaths("cnn")
    contents = convert(trained_cnn, representative_images(real_data.train_images, count=200, seed=0))
    files = {}
    for flavour, content in contents.items():
        files[flavour] = directory / variant.tflite(flavour).name
        files[flavour].write_bytes(content)
    files["keras"] = directory / "model.keras"
    trained_cnn.save(files["keras"])
    return files


@pytest.fixture(scope="session")
def sample(real_data, trained_cnn):
    """The first real test images, their labels and the trained CNN's own top-1 on the arrays."""
    images, labels = real_data.test_images[:IMAGE_FILES], real_data.test_labels[:IMAGE_FILES]
    return images, labels, trained_cnn.predict(images.astype(np.float32), verbose=0).argmax(1)


@pytest.fixture(scope="session")
def image_files(tmp_path_factory, sample) -> dict[str, list[Path]]:
    """The sample as PNG files (Fashion-MNIST as is) and as photo-like JPEG files."""
    directory = tmp_path_factory.mktemp("images")
    files = {"png": [], "jpeg": []}
    for index, pixels in enumerate(sample[0]):
        files["png"].append(directory / f"test{index}.png")
        Image.fromarray(pixels).save(files["png"][-1])
        files["jpeg"].append(directory / f"photo{index}.jpg")
        photo_like(pixels).save(files["jpeg"][-1], quality=90)
    return files
