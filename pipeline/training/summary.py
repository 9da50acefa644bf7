"""What a training run was, as train records it: how long, how big, how many epochs (and which rule
stopped it early), on which CPU, and the digest of its recipe that groups a variant's seeds."""

import dataclasses
import hashlib
import json
from pathlib import Path

from pipeline.core import config
from pipeline.core.paths import ROOT, TRAINING_CODE
from pipeline.training.loop import StopAtTarget


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


def code_digest(files: tuple[Path, ...] = TRAINING_CODE, root: Path = ROOT) -> str:
    """A digest of `files` (paths.TRAINING_CODE), each by its path below `root` and its content."""
    digest = hashlib.sha256()
    for file in sorted(files):
        content = file.read_bytes()
        digest.update(f"{file.relative_to(root).as_posix()} {len(content)}\n".encode() + content)
    return digest.hexdigest()[:12]


def recipe_digest(spec: config.VariantParams, data_hash: str, precision: str, code: str) -> str:
    """What makes two seed runs the same experiment but for their seed: the variant's params, the data, the
    precision it trained in (`auto` resolves per CPU) and the training code (`code_digest`)."""
    recipe = {"variant": dataclasses.asdict(spec), "data": data_hash, "precision": precision, "code": code}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
