"""Model builders for the variants declared in `params.yaml`.

Every model takes raw 0–255 pixels shaped (28, 28) and returns 10 logits: the rescaling
lives inside the model, so an exported `.tflite` needs no preprocessing by its user.
"""

from pipeline import cli
from pipeline.config import CLASS_NAMES, IMAGE_SHAPE, VariantParams

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import keras
    from keras import layers


STEPS_PER_EXECUTION = 16


def _dropout(rate: float) -> list[layers.Layer]:
    return [layers.Dropout(rate)] if rate > 0 else []


def build_mlp(spec: VariantParams, num_classes: int) -> keras.Model:
    """The TensorFlow basic-classification tutorial's MLP, with optional dropout."""
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE, name="pixels"),
            layers.Rescaling(1 / 255),
            layers.Flatten(),
            layers.Dense(spec.hidden_units, activation="relu"),
            *_dropout(spec.dropout),
            layers.Dense(num_classes, name="logits", dtype="float32"),
        ],
        name="mlp",
    )


def _conv_block(filters: int, batch_norm: bool) -> list[layers.Layer]:
    if not batch_norm:
        return [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D()]
    # The normalization's shift replaces the convolution's bias.
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(),
    ]


def build_cnn(spec: VariantParams, num_classes: int) -> keras.Model:
    """The Keras image-classification tutorial's Conv2D/MaxPooling CNN, with optional dropout."""
    conv_blocks = [layer for filters in spec.filters for layer in _conv_block(filters, spec.batch_norm)]
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE, name="pixels"),
            layers.Reshape((*IMAGE_SHAPE, 1)),
            layers.Rescaling(1 / 255),
            *conv_blocks,
            *_dropout(spec.dropout),
            layers.Flatten(),
            layers.Dense(spec.hidden_units, activation="relu"),
            *_dropout(spec.dropout),
            layers.Dense(num_classes, name="logits", dtype="float32"),
        ],
        name="cnn",
    )


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


def build_model(spec: VariantParams, num_classes: int = len(CLASS_NAMES), precision: str = "float32") -> keras.Model:
    """The uncompiled model a variant's spec describes, computing in `precision`.

    Logits are always float32. With "mixed_bfloat16" the weights stay float32 and layers
    compute in bfloat16, which CPUs with AMX or AVX512-BF16 run about twice as fast.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        return BUILDERS[spec.model](spec, num_classes)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def as_float32(model: keras.Model, spec: VariantParams) -> keras.Model:
    """The same weights in a float32 model: what is saved, evaluated and exported."""
    if model.dtype_policy.name == "float32":
        return model
    float_model = build_model(spec, num_classes=model.output_shape[-1])
    float_model.set_weights(model.get_weights())
    return float_model


def learning_rate_schedule(
    spec: VariantParams, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The variant's learning rate: constant, or cosine-decayed to zero over the whole run."""
    if spec.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=spec.epochs * steps_per_epoch)
    return spec.learning_rate


def compile_model(model: keras.Model, spec: VariantParams, steps_per_epoch: int) -> keras.Model:
    """Adam on sparse cross-entropy from logits, as in the tutorials.

    Several steps run per call into TensorFlow: on a CPU the per-step Python overhead
    otherwise dominates small models.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(spec, steps_per_epoch)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        # No XLA: Keras turns it off anyway under op determinism, which reproducibility needs.
        jit_compile=False,
    )
    return model
