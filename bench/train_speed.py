"""Our training against the tutorials' plain Keras code, on the same prepared data.

    python bench/train_speed.py [--variants mlp cnn_dropout]

For each variant it trains the tutorial "peer" (the same architecture, `model.fit(x, y,
epochs=10, batch_size=32)` on pixels scaled to [0, 1], constant learning rate) and then the
pipeline's own training of that variant from params.yaml, in this one process. It prints wall
time, images per second, final test accuracy, and how long each took until its test accuracy
first reached the peer's final accuracy (time-to-accuracy). Evaluation after each epoch is
done on weight snapshots after training, so it never counts as training time.
Needs `dvc repro preprocess` first (it reads data/prepared/).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from pipeline import cli, config  # noqa: E402
from pipeline.artifacts import load_split  # noqa: E402
from pipeline.models import as_float32, build_model, compile_model  # noqa: E402
from pipeline.train import configure_runtime, steps_per_epoch, train_model  # noqa: E402

with cli.quiet_native_logs():
    import keras
    from keras import layers

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


def train_peer(model_type: str, train, clock: EpochClock) -> keras.Model:
    model = peer_model(model_type)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    model.fit(train[0] / 255.0, train[1], epochs=PEER_EPOCHS, batch_size=PEER_BATCH, verbose=0, callbacks=[clock])
    return model


def train_ours(spec: config.VariantParams, train, val, seed: int, clock: EpochClock) -> keras.Model:
    model = build_model(spec, precision=spec.precision)
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


def bench_variant(name: str, params: config.Params, splits) -> list[str]:
    spec = params.variant(name)
    train, val, (test_images, test_labels) = splits["train"], splits["val"], splits["test"]
    configure_runtime(params.seed, params.threads)
    peer_clock, our_clock = EpochClock(), EpochClock()
    peer = train_peer(spec.model, train, peer_clock)
    peer_curve = accuracy_curve(peer, peer_clock.snapshots, test_images / 255.0, test_labels)
    keras.utils.set_random_seed(params.seed)  # the same start as `dvc repro`, so the same model
    ours = train_ours(spec, train, val, params.seed, our_clock)
    float_model = as_float32(ours, spec)
    our_curve = accuracy_curve(float_model, our_clock.snapshots, test_images.astype(np.float32), test_labels)
    target = peer_curve[-1]
    peer_tta, our_tta = time_to(target, peer_clock.seconds, peer_curve), time_to(target, our_clock.seconds, our_curve)
    rows = []
    for who, clock, curve, epochs in (
        ("peer", peer_clock, peer_curve, PEER_EPOCHS),
        ("ours", our_clock, our_curve, spec.epochs),
    ):
        wall = clock.seconds[-1]
        tta = time_to(target, clock.seconds, curve)
        rows.append(
            f"{name:<12} {who:<5} {epochs:>6} {wall:>8.1f} {epochs * len(train[1]) / wall:>10,.0f} "
            f"{curve[-1]:>9.4f} {tta:>9.1f}"
        )
    wall_ratio = our_clock.seconds[-1] / peer_clock.seconds[-1]
    rows.append(
        f"{name:<12} ratio ours/peer: time-to-accuracy {our_tta / peer_tta:.2f} (target ≤ 0.33), "
        f"final accuracy {our_curve[-1] / peer_curve[-1]:.4f}, wall time {wall_ratio:.2f}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["mlp", "cnn_dropout"])
    args = parser.parse_args()
    params = config.load_params()
    splits = {split: load_split(config.split_path(split)) for split in config.SPLITS}
    print(f"{'variant':<12} {'who':<5} {'epochs':>6} {'train s':>8} {'images/s':>10} {'test acc':>9} {'to peer':>9}")
    for name in args.variants:
        for row in bench_variant(name, params, splits):
            print(row, flush=True)
    print("'to peer': training seconds until test accuracy first reached the peer's final test accuracy")


if __name__ == "__main__":
    cli.run(main)
