"""Our training against the tutorials' plain Keras code, on the same prepared data, per CPU class.

    python bench/train_speed.py [--variants mlp cnn cnn_dropout] [--classes native avx2] [--repeats N]

`--classes` (bench/isa.py): `native` as the machine is, `avx2` with oneDNN capped at AVX2, as an
AVX2-only CPU computes; oneDNN's own report of the instruction set it uses is printed first.

It trains the tutorial "peer" of each model type once (the tutorial's MLP or CNN with dropout,
`model.fit(x, y, epochs=10, batch_size=32)` on pixels scaled to [0, 1], constant learning rate)
and the pipeline's own training of each variant from params.yaml, each in a fresh Python
process (one training would otherwise inherit the other's allocator and thread-pool state). It
prints wall time, images per second, final test accuracy, and how long each took until its test
accuracy first reached the peer's final accuracy (time-to-accuracy), with the CPU, its class, the
precision used (`auto` picks it per class) and the achieved GFLOP/s against the nominal float32
peak (bench/flops.py). Evaluation after each epoch
is done on weight snapshots after training, so it never counts as training time. Training is
deterministic, so with --repeats N only the timings vary: each epoch's end is their median.
Needs `dvc repro preprocess` first (it reads data/prepared/).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.flops import nominal_peak_gflops, training_flops_per_image  # noqa: E402
from bench.isa import CLASS_ENV, class_env, onednn_isa  # noqa: E402
from pipeline.core import cli, config  # noqa: E402
from pipeline.core.frameworks import keras, layers  # noqa: E402
from pipeline.core.paths import split_path  # noqa: E402
from pipeline.data.dataset_info import SPLITS  # noqa: E402
from pipeline.data.split_files import load_split  # noqa: E402
from pipeline.training import cpu  # noqa: E402
from pipeline.training.architectures import as_float32, build_model, compile_model  # noqa: E402
from pipeline.training.loop import configure_runtime, steps_per_epoch, train_model  # noqa: E402

PEER_EPOCHS, PEER_BATCH = 10, 32


class EpochClock(keras.callbacks.Callback):
    """Training seconds at the end of each epoch, and the weights then."""

    def on_train_begin(self, logs=None):
        self.seconds, self.snapshots, self.elapsed = [], [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed += time.perf_counter() - self.started
        self.seconds.append(self.elapsed)
        self.snapshots.append([weights.copy() for weights in self.model.get_weights()])


def peer_model(model_type: str) -> keras.Model:
    """The tutorials' models: the basic-classification MLP, or a small CNN with dropout."""
    if model_type == "mlp":
        body = [layers.Flatten(), layers.Dense(128, activation="relu")]
    else:
        body = [
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
        ]
    return keras.Sequential([keras.Input((28, 28)), *body, layers.Dense(10)])


def compiled_peer(model_type: str) -> keras.Model:
    """The tutorial's model compiled as the tutorial does: Adam, cross-entropy from logits. It takes pixels
    scaled to [0, 1] (`peer_inputs`)."""
    model = peer_model(model_type)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def peer_inputs(images: np.ndarray) -> np.ndarray:
    """Pixels as the tutorial feeds them: divided by 255 outside the model."""
    return images / 255.0


def train_peer(model_type: str, train, clock: EpochClock) -> keras.Model:
    model = compiled_peer(model_type)
    model.fit(peer_inputs(train[0]), train[1], epochs=PEER_EPOCHS, batch_size=PEER_BATCH, verbose=0, callbacks=[clock])
    return model


def train_ours(spec: config.VariantParams, precision: str, train, val, seed: int, clock: EpochClock) -> keras.Model:
    model = build_model(spec, precision=precision)
    compile_model(model, spec, steps_per_epoch(len(train[1]), spec.batch_size))
    train_model(model, train, val, spec, seed, [clock])
    return model


def accuracy_curve(model: keras.Model, snapshots, images: np.ndarray, labels: np.ndarray) -> list[float]:
    curve = []
    for weights in snapshots:
        model.set_weights(weights)
        curve.append(float((model.predict(images, batch_size=2048, verbose=0).argmax(1) == labels).mean()))
    return curve


def time_to(target: float, seconds: list[float], curve: list[float]) -> float:
    """Seconds of training until test accuracy first reached `target` (inf if never)."""
    return next((s for s, accuracy in zip(seconds, curve) if accuracy >= target), float("inf"))


def train_and_trace(who: str, name: str) -> dict:
    """In this process: train the peer or ours for variant `name`; the seconds at each epoch's end
    and the test accuracy of the weights then."""
    params = config.load_params()
    spec = params.variant(name)
    splits = {split: load_split(split_path(split)) for split in SPLITS}
    train, val, (test_images, test_labels) = splits["train"], splits["val"], splits["test"]
    configure_runtime(params.seed, params.threads)  # the same start as `dvc repro`, so the same model
    clock = EpochClock()
    precision = "float32" if who == "peer" else cpu.resolve_precision(spec.precision)
    if who == "peer":
        model = train_peer(spec.model, train, clock)
        curve = accuracy_curve(model, clock.snapshots, peer_inputs(test_images), test_labels)
    else:
        model = as_float32(train_ours(spec, precision, train, val, params.seed, clock), spec)
        curve = accuracy_curve(model, clock.snapshots, test_images.astype(np.float32), test_labels)
    return {
        "seconds": clock.seconds,
        "curve": curve,
        "images": len(clock.seconds) * len(train[1]),
        "flops_per_image": training_flops_per_image(model),
        "precision": precision,
        **cpu.description(),
    }


def run_worker(who: str, name: str, repeats: int, environ: dict[str, str]) -> dict:
    """`train_and_trace` in a fresh interpreter, `repeats` times: the median of the seconds at each
    epoch's end (training is deterministic, so the accuracy curves are the same every time)."""
    traces = []
    for _ in range(repeats):
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            command = [sys.executable, __file__, "--worker", who, name, result.name]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environ)
            traces.append(json.loads(Path(result.name).read_text()))
    if any(trace["curve"] != traces[0]["curve"] for trace in traces):
        print(f"warning: {name} {who}: the accuracy curves of the repeats differ", file=sys.stderr)
    seconds = np.median([trace["seconds"] for trace in traces], axis=0).tolist()
    return traces[0] | {"seconds": seconds}


def row(isa_class: str, name: str, who: str, trace: dict, to_peer: float, threads: int) -> str:
    wall = trace["seconds"][-1]
    gflops = trace["flops_per_image"] * trace["images"] / wall / 1e9
    peak = nominal_peak_gflops(trace["cpu_isa"], threads)
    return (
        f"{isa_class:<7} {trace['cpu_isa']:<12} {name:<12} {who:<5} {trace['precision']:<15} {len(trace['curve']):>6} "
        f"{wall:>8.1f} {trace['images'] / wall:>9,.0f} {gflops:>7.1f} {gflops / peak:>6.0%} "
        f"{trace['curve'][-1]:>9.4f} {to_peer:>8.1f}"
    )


def bench_variant(isa_class: str, name: str, peer: dict, repeats: int, threads: int) -> list[str]:
    ours = run_worker("ours", name, repeats, class_env(isa_class))
    target = peer["curve"][-1]
    tta = {who: time_to(target, trace["seconds"], trace["curve"]) for who, trace in (("peer", peer), ("ours", ours))}
    return [
        row(isa_class, name, "peer", peer, tta["peer"], threads),
        row(isa_class, name, "ours", ours, tta["ours"], threads),
        f"{isa_class:<7} {name:<12} ours/peer: time-to-accuracy {tta['ours'] / tta['peer']:.2f} (target ≤ 0.33), "
        f"final accuracy {ours['curve'][-1] / peer['curve'][-1]:.4f}, "
        f"wall time {ours['seconds'][-1] / peer['seconds'][-1]:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["mlp", "cnn", "cnn_dropout"])
    parser.add_argument("--classes", nargs="+", choices=list(CLASS_ENV), default=list(CLASS_ENV))
    parser.add_argument("--repeats", type=int, default=1, help="trainings per model, timed by their median")
    parser.add_argument("--worker", nargs=3, metavar=("WHO", "VARIANT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        who, name, out = args.worker
        Path(out).write_text(json.dumps(train_and_trace(who, name)))
        return
    params = config.load_params()
    for name in args.variants:  # every name is checked before the first training
        params.variant(name)
    print(f"CPU: {cpu.model()}, {os.cpu_count()} cores, {params.threads} threads")
    for isa_class in args.classes:
        print(f"class {isa_class}: oneDNN uses {onednn_isa(class_env(isa_class))}", flush=True)
    header = (
        f"{'class':<7} {'isa':<12} {'variant':<12} {'who':<5} {'precision':<15} {'epochs':>6} {'train s':>8} "
        f"{'images/s':>9} {'GFLOP/s':>7} {'peak':>6} {'test acc':>9} {'to peer':>8}"
    )
    print(header)
    for isa_class in args.classes:
        peers = {}  # one peer per model type and class, trained once
        for name in args.variants:
            model_type = params.variant(name).model
            if model_type not in peers:
                peers[model_type] = run_worker("peer", name, args.repeats, class_env(isa_class))
            for line in bench_variant(isa_class, name, peers[model_type], args.repeats, params.threads):
                print(line, flush=True)
    print(
        "'to peer': training seconds until test accuracy first reached the peer's final test accuracy; "
        "'peak': achieved GFLOP/s (convolutions and dense layers only) over the nominal float32 peak"
    )


if __name__ == "__main__":
    cli.run(main)
