"""Stage `train@<variant>-<seed>`: build the variant's model, train it with one seed, write the model and
its history (`python -m pipeline.train <variant> <seed>`)."""

from pipeline import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after TensorFlow's import
    cli.check_params_early(takes_variant=True)

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable

from pipeline import config, cpu, logged_model, tracking
from pipeline.artifacts import (
    load_split,
    read_json,
    save_figure,
    signals_deferred,
    staged_outputs,
    write_history,
    write_json,
)
from pipeline.dataset import load_dataset_info
from pipeline.frameworks import keras
from pipeline.loop import StopAtTarget, configure_runtime, steps_per_epoch, train_model
from pipeline.models import as_float32, build_model, compile_model
from pipeline.paths import DATA_REPORTS_DIR, SeedPaths, split_path
from pipeline.plots import plot_learning_curves
from pipeline.split_datasets import log_splits, split_dataset


class EpochLogger(keras.callbacks.Callback):
    """Mirror each epoch's metrics to MLflow as it ends, so `mlflow ui` shows live curves.

    They are logged as `epoch_<name>` so they never mix with evaluate's final metrics.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tracking.log_metrics({f"epoch_{key}": value for key, value in (logs or {}).items()}, step=epoch + 1)


class StopOnSignal(keras.callbacks.Callback):
    """Act on a Ctrl-C or SIGTERM that `signals_deferred` noted, between batches, where the
    exception unwinds cleanly out of `fit` (inside TensorFlow's calls it may abort the process)."""

    def __init__(self, act_on_signal: Callable[[], None]) -> None:
        super().__init__()
        self.act_on_signal = act_on_signal

    def _act(self, *args: object, **kwargs: object) -> None:
        self.act_on_signal()

    on_train_begin = on_epoch_begin = on_train_batch_end = on_test_batch_end = _act


def stopped_early(spec: config.VariantParams, history: dict[str, list[float]]) -> dict[str, int | str | None]:
    """Whether a stopping rule ended training before `epochs`, which one, and after which epoch."""
    epochs = len(history["loss"])
    if epochs == spec.epochs:
        return {"stopped_after_epoch": None, "stopped_by": None}
    target = spec.stop_at and StopAtTarget(spec.stop_at.monitor, spec.stop_at.target)
    by_target = target and target.reached(history[target.monitor][-1])
    rule = (
        f"stop_at {target.monitor} {target.target:g}" if by_target else f"early_stopping {spec.early_stopping.monitor}"
    )
    return {"stopped_after_epoch": epochs, "stopped_by": rule}


def training_summary(model, spec: config.VariantParams, history: dict, seconds: float, images: int, machine) -> dict:
    """training.json: how long, how big, how many epochs (and why fewer), at what speed, on which CPU."""
    epochs = len(history["loss"])
    return {
        "train_seconds": round(seconds, 2),
        "parameters": model.count_params(),
        "epochs": epochs,
        **stopped_early(spec, history),
        **machine,
        "images_per_second": round(epochs * images / seconds, 1),
    }


def recipe_digest(spec: config.VariantParams, data_hash: str) -> str:
    """What makes two seed runs the same experiment but for their seed: the variant's params and the data."""
    recipe = json.dumps({"variant": dataclasses.asdict(spec), "data": data_hash}, sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def save_outputs(name: str, paths: SeedPaths, model: keras.Model, history: dict, summary: dict, examples) -> str:
    """Write the model, history, curves and summary, log them to the open run (the model as an MLflow
    model, `examples` its input example), then put them in place together: the old outputs stay as
    they were until all the new ones are complete. The logged model's id."""
    with staged_outputs(paths.model, paths.history, paths.learning_curves, paths.training) as staged:
        model.save(staged[paths.model])
        write_history(staged[paths.history], history)
        save_figure(staged[paths.learning_curves], plot_learning_curves({name: history}))
        write_json(staged[paths.training], summary)
        tracking.log_metrics(summary)
        tracking.log_artifacts(staged[paths.history], staged[paths.learning_curves])
        tags = {"variant": name, "seed": str(paths.seed)}
        return logged_model.log_keras_model(model, f"{name}-seed-{paths.seed}", examples, tags=tags)


def main() -> None:
    name, seed = cli.parse_variant_seed(__doc__)
    params = config.load_params()
    spec = params.variant(name)
    paths = SeedPaths(name, seed)
    # Ctrl-C or SIGTERM stops training at the next batch end, leaving every output as it was;
    # once the outputs are being replaced, the stage finishes (its run FINISHED) and then exits.
    with signals_deferred() as act_on_signal:
        configure_runtime(seed, params.threads)
        splits = {split: load_split(split_path(split)) for split in ("train", "val")}
        train, val = splits["train"], splits["val"]
        data_hash = read_json(DATA_REPORTS_DIR / "summary.json")["data_sha256"]
        dataset = load_dataset_info()
        precision = cpu.resolve_precision(spec.precision)  # `auto`: bfloat16 only where it is native
        model = build_model(spec, len(dataset.class_names), dataset.image_shape, precision)
        model = compile_model(model, spec, steps_per_epoch(len(train[1]), spec.batch_size))
        machine = {"precision": precision, **cpu.description()}
        tags = {"data_sha256": data_hash, "dataset": dataset.name, **machine}
        recipe = recipe_digest(spec, data_hash)
        opened = tracking.variant_run(name, seed, paths.run_file, params.experiment, new=True, tags=tags, recipe=recipe)
        with opened as run:
            log_splits({split: split_dataset(split, *data, dataset.name) for split, data in splits.items()})
            logged = {"variant": dataclasses.asdict(spec), "seed": seed, "split_seed": params.seed}
            tracking.log_params(logged | {"data": dataclasses.asdict(params.data), "precision_used": precision})
            started = time.perf_counter()
            history = train_model(model, train, val, spec, seed, [EpochLogger(), StopOnSignal(act_on_signal)])
            summary = training_summary(model, spec, history, time.perf_counter() - started, len(train[1]), machine)
            act_on_signal()  # the last point before outputs are written
            run.model_id = save_outputs(name, paths, as_float32(model, spec), history, summary, val[0])
    print(
        f"{name} seed {seed}: val_accuracy {history['val_accuracy'][-1]:.4f} after {summary['epochs']} epochs, "
        f"{summary['train_seconds']:.1f} s ({precision} on {machine['cpu_isa']}: {machine['cpu_model']})"
    )


if __name__ == "__main__":
    cli.run(main)
