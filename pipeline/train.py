"""Stage `train@<variant>-<seed>`: build the variant's model, train it with one seed, write the model and
its history (`python -m pipeline.train <variant> <seed>`)."""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after TensorFlow's import
    cli.check_params_early(takes_variant=True)

import dataclasses
import time

from pipeline.core import config
from pipeline.core.files import read_json, save_figure, staged_outputs, write_json
from pipeline.core.frameworks import keras
from pipeline.core.paths import DATA_REPORTS_DIR, SeedPaths, split_path
from pipeline.core.signals import signals_deferred
from pipeline.data.dataset_info import load_dataset_info
from pipeline.data.split_files import load_split
from pipeline.reporting.plots import plot_learning_curves
from pipeline.tracking import logged_model, mirror, runs
from pipeline.tracking.datasets import as_mlflow_dataset, log_splits
from pipeline.training import cpu
from pipeline.training.architectures import as_float32, build_model, compile_model
from pipeline.training.callbacks import EpochLogger, StopOnSignal
from pipeline.training.history import write_history
from pipeline.training.loop import configure_runtime, steps_per_epoch, train_model
from pipeline.training.summary import code_digest, recipe_digest, training_summary


def save_outputs(name: str, paths: SeedPaths, model: keras.Model, history: dict, summary: dict, examples) -> str:
    """Write the model, history, curves and summary, log them to the open run (the model as an MLflow
    model, `examples` its input example), then put them in place together: the old outputs stay as
    they were until all the new ones are complete. The logged model's id."""
    with staged_outputs(paths.model, paths.history, paths.learning_curves, paths.training) as staged:
        model.save(staged[paths.model])
        write_history(staged[paths.history], history)
        save_figure(staged[paths.learning_curves], plot_learning_curves({name: history}))
        write_json(staged[paths.training], summary)
        mirror.log_metrics(summary)
        mirror.log_artifacts(staged[paths.history], staged[paths.learning_curves])
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
        recipe = recipe_digest(spec, data_hash, precision, code_digest())
        opened = runs.variant_run(name, seed, paths.run_file, params.experiment, new=True, tags=tags, recipe=recipe)
        with opened as run:
            log_splits({split: as_mlflow_dataset(split, *data, dataset.name) for split, data in splits.items()})
            logged = {"variant": dataclasses.asdict(spec), "seed": seed, "split_seed": params.seed}
            mirror.log_params(logged | {"data": dataclasses.asdict(params.data), "precision_used": precision})
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
