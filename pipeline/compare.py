"""Stage `compare`: which variant is best, what each factor of the design does, and whether that is
more than noise.

Reads every variant's seeds (train, evaluate) and its exported files (export). Writes
`reports/comparison.md`, `.json` and `.png` (each seed's test accuracy and validation curves),
`reports/metrics.json` (the headline per variant, what `dvc metrics show` lists) and
`reports/curves.csv` (every history, for dvc.yaml's overlay plots); mirrors them to a `comparison`
run in MLflow and each variant's mean and spread to the run its seed runs are nested under. The
effects are `compare.effects`' pairs, measured by pipeline/reporting/effects.py; the rest of the work is
pipeline/reporting/ranking.py's, comparison.py's, tables.py's and plots.py's. Registers the best
variant's shipped seed's model under the registered model, and points the alias `champion` at it when
it clears the merge gate (pipeline/reporting/gate_checks.py).
"""

from pipeline.core import cli

if __name__ == "__main__":  # a mistyped params.yaml fails now, not after the imports below
    cli.check_params_early()

import sys

import mlflow

from pipeline.core import config
from pipeline.core.errors import missing
from pipeline.core.files import read_json, save_figure, staged_outputs, write_json, write_text
from pipeline.core.paths import COMPARISON, CURVES, HEADLINE_METRICS, SeedPaths
from pipeline.core.signals import signals_deferred
from pipeline.reporting import comparison, ranking, results
from pipeline.reporting.gate_checks import gate_checks, gated_values
from pipeline.reporting.plots import plot_comparison
from pipeline.tracking import mirror, registry, runs, store


def register_best(best: str, row: dict, metric: str, params: config.Params) -> str:
    """Register the best variant's shipped seed's logged model (the one export measured on device); `champion`
    moves to it only if the variant clears the gate. One line saying what was registered and where
    `champion` points."""
    name, seed = params.registered_model, params.shipped_seed
    run_file = SeedPaths(best, seed).run_file
    if not run_file.exists():
        raise missing(run_file, f"train@{best}-{seed}")
    model_id = read_json(run_file).get("model_id")
    if not (model_id and runs.logged_model_exists(model_id)):
        return (
            f"registry: {best}'s model is not a logged model in {store.tracking_uri()}, so it is not registered: "
            f"retrain it (dvc repro -f train@{best}-{seed})"
        )
    failed = [check.name for check in gate_checks({best: gated_values(row)}, params.gate) if not check.passed]
    tags = {"variant": best, "seed": str(seed), metric: str(row[metric]), **runs.provenance_tags()}
    registered = registry.register(name, model_id, tags, make_champion=not failed)
    line = f"registry: {name} version {registered.version} is {best}'s seed {seed} model"
    line += " (new)" if registered.created else " (registered before)"
    if failed:
        where = f"stays at version {registered.champion}" if registered.champion else "is not set"
        return f"{line}; `{registry.CHAMPION}` {where}: {best} fails the gate on {', '.join(failed)}"
    return f"{line}; `{registry.CHAMPION}` → version {registered.version}"


def log_to_parents(rows: list[dict]) -> None:
    """Each variant's mean and spread over seeds onto the parent run its seed runs are nested under, when
    they all are under one (one recipe); else a warning, since that mean spans recipes."""
    client = mlflow.MlflowClient()
    for row in rows:
        parents = {runs.parent_of(SeedPaths(row["variant"], seed["seed"]).run_file) for seed in row["seeds"]}
        if len(parents) > 1:
            where = f"{len(parents - {None})} parent runs" + (", some in another store" if None in parents else "")
            print(
                f"warning: {row['variant']}'s seeds are nested under {where} (other recipes: data, precision or "
                "training code, or runs restored from elsewhere): their mean is logged to none of them",
                file=sys.stderr,
            )
        if len(parents) != 1 or not (parent := parents.pop()):
            continue
        values = {key: row[key] for key in (*results.MEANS, "test_accuracy_sd") if row.get(key) is not None}
        values["seeds"] = len(row["seeds"])
        for key, value in values.items():
            client.log_metric(parent, key, float(value))


def save_outputs(rows: list[dict], best: str, metric: str, outputs: dict, logged: dict, params) -> tuple:
    """Write the comparison, log it to its own MLflow run, then put the files in place together (an
    interrupted or failing compare leaves the old ones as they were); then register the best
    model. The registry's line and the runs' address in the MLflow UI."""
    tags = {"best_variant": best, "run_type": "comparison"}
    with runs.summary_run("comparison", params.experiment, tags=tags) as run:
        with staged_outputs(*outputs) as staged:
            for path, content in outputs.items():
                if isinstance(content, str):
                    write_text(staged[path], content)
                elif isinstance(content, dict):
                    write_json(staged[path], content)
                else:
                    save_figure(staged[path], content)
            variants = ",".join(params.run_variants)
            mirror.log_params({"best_by": metric, "variants": variants, "seeds": ",".join(map(str, params.seeds))})
            mirror.log_metrics(logged)
            mirror.log_artifacts(*staged.values())
        log_to_parents(rows)
        best_row = next(row for row in rows if row["variant"] == best)
        registered = register_best(best, best_row, metric, params)
    return registered, store.runs_url(run.info.experiment_id)


def main() -> None:
    params = config.load_params()
    store.check_reachable()  # before writing the reports, not after
    seeds, metric = params.seeds, params.compare.best_by
    rows = [results.variant_summary(name, spec, seeds) for name, spec in params.selected.items()]
    correct = {name: results.correct_images(name, seeds) for name in params.run_variants}
    histories = {name: results.histories(name, seeds) for name in params.run_variants}
    best = ranking.best_variant(rows, metric)
    found = ranking.design_effects(params, correct)
    runner_up = ranking.best_against_runner_up(rows, metric, correct, params.compare.confidence)
    text = comparison.report(rows, best, metric, found, runner_up, params, images=len(correct[best][seeds[0]]))
    summary = {"best_by": metric, "best": best, "seeds": list(seeds), "shipped_seed": params.shipped_seed}
    summary |= {"effects": [e.as_json() for e in found], "best_vs_runner_up": runner_up and runner_up.as_json()}
    outputs = {
        COMPARISON["json"]: summary | {"variants": rows},
        COMPARISON["md"]: text,
        COMPARISON["png"]: plot_comparison(histories, rows, best),
        HEADLINE_METRICS: results.headline(rows),
        CURVES: results.curves_csv(histories),
    }
    with signals_deferred():  # Ctrl-C from here on: the comparison is finished (and shown) first, then the stage exits
        registered, runs_url = save_outputs(
            rows, best, metric, outputs, comparison.comparison_metrics(rows, found, runner_up), params
        )
        print(text.split("## On device")[0], flush=True)
        print(registered, flush=True)
        ui = "" if store.is_server(store.tracking_uri()) else " (after `mlflow ui`)"
        print(f"the runs in MLflow{ui}: {runs_url}", flush=True)


if __name__ == "__main__":
    cli.run(main)
