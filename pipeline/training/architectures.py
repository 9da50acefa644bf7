"""Model builders for the variants declared in `params.yaml`.

Every model takes raw 0–255 pixels shaped as the dataset's images ((28, 28) for Fashion-MNIST,
(height, width) or (height, width, 3) for a folder of images) in an input named `pixels`, and
returns one logit per class: the rescaling lives inside the model, so an exported `.tflite`
needs no preprocessing by its user.
"""

from pipeline.core.config import AugmentParams, VariantParams
from pipeline.core.frameworks import keras, layers
from pipeline.data.dataset_info import CLASS_NAMES, IMAGE_SHAPE

STEPS_PER_EXECUTION = 16


def _dropout(rate: float) -> list[layers.Layer]:
    return [layers.Dropout(rate)] if rate > 0 else []


def _dense_stack(spec: VariantParams) -> list[layers.Layer]:
    """Dense(relu) layers of `hidden_units` each, each followed by dropout when asked."""
    return [
        layer
        for units in spec.hidden_units
        for layer in (layers.Dense(units, activation="relu"), *_dropout(spec.dropout))
    ]


def augmentation(augment: AugmentParams) -> list[layers.Layer]:
    """The random transforms a variant asks for, on (height, width, channels) images. Keras applies them only in
    training: in inference, and so in every exported file, they are not there."""
    transforms = []
    if augment.flip:
        transforms.append(layers.RandomFlip("horizontal", dtype="float32"))
    if augment.rotation:
        transforms.append(layers.RandomRotation(augment.rotation, fill_mode="constant", dtype="float32"))
    if augment.zoom:
        transforms.append(layers.RandomZoom(augment.zoom, fill_mode="constant", dtype="float32"))
    if augment.translation:
        factor = augment.translation
        transforms.append(layers.RandomTranslation(factor, factor, fill_mode="constant", dtype="float32"))
    return transforms


def _input(spec: VariantParams, input_shape: tuple[int, ...]) -> list[layers.Layer]:
    """Raw pixels in, as (height, width, channels) images (one channel for (height, width) input),
    augmented in training, scaled to [0, 1]."""
    height, width, *channels = input_shape
    return [
        keras.Input(shape=input_shape, name="pixels"),
        layers.Reshape((height, width, *(channels or [1]))),
        *augmentation(spec.augment),
        layers.Rescaling(1 / 255),
    ]


def build_mlp(spec: VariantParams, num_classes: int, input_shape: tuple[int, ...]) -> keras.Model:
    """The TensorFlow basic-classification tutorial's MLP (one hidden layer), or a deeper stack such
    as the GradientTape tutorial's 256-128-64-32, with optional dropout."""
    return keras.Sequential(
        [
            *_input(spec, input_shape),
            layers.Flatten(),
            *_dense_stack(spec),
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


def build_cnn(spec: VariantParams, num_classes: int, input_shape: tuple[int, ...]) -> keras.Model:
    """The Keras image-classification tutorial's Conv2D/MaxPooling CNN, with optional dropout."""
    conv_blocks = [layer for filters in spec.filters for layer in _conv_block(filters, spec.batch_norm)]
    return keras.Sequential(
        [
            *_input(spec, input_shape),
            *conv_blocks,
            *_dropout(spec.dropout),
            layers.Flatten(),
            *_dense_stack(spec),
            layers.Dense(num_classes, name="logits", dtype="float32"),
        ],
        name="cnn",
    )


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


def build_model(
    spec: VariantParams,
    num_classes: int = len(CLASS_NAMES),
    input_shape: tuple[int, ...] = IMAGE_SHAPE,
    precision: str = "float32",
) -> keras.Model:
    """The uncompiled model a variant's spec describes, for images of `input_shape` ((height, width)
    grey or (height, width, 3) RGB; Fashion-MNIST's by default) in `num_classes` classes, computing
    in `precision`.

    Logits are always float32. With "mixed_bfloat16" the weights stay float32 and layers
    compute in bfloat16, which CPUs with AMX or AVX512-BF16 run about twice as fast.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        return BUILDERS[spec.model](spec, num_classes, tuple(input_shape))
    finally:
        keras.mixed_precision.set_global_policy(previous)


def as_float32(model: keras.Model, spec: VariantParams) -> keras.Model:
    """The same weights in a float32 model: what is saved, evaluated and exported."""
    if model.dtype_policy.name == "float32":
        return model
    float_model = build_model(spec, num_classes=model.output_shape[-1], input_shape=model.input_shape[1:])
    float_model.set_weights(model.get_weights())
    return float_model


def learning_rate_schedule(
    spec: VariantParams, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The variant's learning rate: constant, or cosine-decayed to zero over the whole run."""
    if spec.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=spec.epochs * steps_per_epoch)
    return spec.learning_rate


@keras.saving.register_keras_serializable(package="pipeline")
def one_hot_mse(labels, logits):
    """Mean squared error between one-hot labels and the predicted probabilities: the loss users
    try first and compare cross-entropy against (its gradient vanishes on confident mistakes)."""
    labels = keras.ops.cast(keras.ops.reshape(labels, [-1]), "int32")
    one_hot = keras.ops.one_hot(labels, keras.ops.shape(logits)[-1])
    return keras.ops.mean(keras.ops.square(one_hot - keras.ops.softmax(logits)), axis=-1)


def loss_function(spec: VariantParams):
    """The variant's loss on (integer labels, logits): sparse cross-entropy, or MSE on one-hot labels."""
    if spec.loss == "mse":
        return one_hot_mse
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def compile_model(model: keras.Model, spec: VariantParams, steps_per_epoch: int) -> keras.Model:
    """Adam on the variant's loss (sparse cross-entropy from logits, as in the tutorials).

    Several steps run per call into TensorFlow: on a CPU the per-step Python overhead
    otherwise dominates small models.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(spec, steps_per_epoch)),
        loss=loss_function(spec),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        # No XLA: Keras turns it off anyway under op determinism, which reproducibility needs.
        jit_compile=False,
    )
    return model
