"""Which precision trains a variant faster on this CPU, float32 or mixed_bfloat16, paired with the peer.

    python bench/train_precision.py [--variants cnn_dropout mlp] [--rounds 8] [--chunk 12800]

On a shared VM the speed of the same work swings by up to 2x from minute to minute, so timing one whole
training after another says little. Here the models train in one process, in turns: a chunk of `--chunk`
training images each, round after round, so a slow minute hits all of them alike. It prints each one's median
images per second and the median of its per-round ratio to the peer (the tutorial's model, float32, batch 32,
`bench/train_speed.py`'s), with the CPU and the class `precision: auto` sees. Forcing mixed_bfloat16 where
bfloat16 is emulated (AVX2-only) is left out: it is several times slower there. Needs `dvc repro preprocess`.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_speed import PEER_BATCH, compiled_peer, peer_inputs  # noqa: E402
from pipeline.core import config  # noqa: E402
from pipeline.core.paths import split_path  # noqa: E402
from pipeline.data.split_files import load_split  # noqa: E402
from pipeline.training import cpu  # noqa: E402
from pipeline.training.architectures import build_model, compile_model  # noqa: E402
from pipeline.training.loop import configure_runtime, make_dataset, steps_per_epoch  # noqa: E402

PEER = "peer (float32)"


def median_ratios(rates: dict[str, list[float]], reference: str) -> dict[str, float]:
    """Per model, the median over rounds of its images/s over `reference`'s in the same round."""
    return {name: statistics.median(a / b for a, b in zip(r, rates[reference])) for name, r in rates.items()}


def trainers(spec: config.VariantParams, images, labels, chunk: int) -> dict:
    """A callable per contender that trains it on the next `chunk` images."""
    contenders = ["float32", *(["mixed_bfloat16"] if cpu.isa_class() in cpu.NATIVE_BFLOAT16 else [])]
    runs = {}
    for precision in contenders:
        model = build_model(spec, precision=precision)
        compile_model(model, spec, steps_per_epoch(len(labels), spec.batch_size))
        data = make_dataset(images, labels, spec.batch_size, shuffle_seed=0).repeat()
        runs[precision] = lambda m=model, d=data: m.fit(d, steps_per_epoch=chunk // spec.batch_size, verbose=0)
    peer = compiled_peer(spec.model)
    scaled, start = peer_inputs(images), [0]

    def peer_chunk() -> None:
        first = start[0] % (len(labels) - chunk)
        start[0] += chunk
        part = slice(first, first + chunk)
        peer.fit(scaled[part], labels[part], batch_size=PEER_BATCH, epochs=1, verbose=0, shuffle=False)

    return runs | {PEER: peer_chunk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["cnn_dropout", "mlp"])
    parser.add_argument("--rounds", type=int, default=8, help="rounds timed, after one that warms up")
    parser.add_argument("--chunk", type=int, default=12800, help="training images per turn")
    args = parser.parse_args()
    params = config.load_params()
    configure_runtime(seed=params.seed, threads=params.threads)
    images, labels = load_split(split_path("train"))
    print(f"CPU: {cpu.model()}, class {cpu.isa_class()}; precision: auto picks {cpu.resolve_precision('auto')}")
    for name in args.variants:
        runs = trainers(params.variant(name), images, labels, args.chunk)
        rates = {who: [] for who in runs}
        for round_ in range(args.rounds + 1):
            for who, run in runs.items():
                started = time.perf_counter()
                run()
                if round_:  # the first round traces the functions and warms the caches
                    rates[who].append(args.chunk / (time.perf_counter() - started))
        for who, ratio in median_ratios(rates, PEER).items():
            r = rates[who]
            print(
                f"{name:<12} {who:<15} {statistics.median(r):>7.0f} images/s (min {min(r):.0f}, max {max(r):.0f}), "
                f"{ratio:.2f}x the peer's in the same rounds",
                flush=True,
            )


if __name__ == "__main__":
    main()
