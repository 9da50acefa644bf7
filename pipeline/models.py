"""Model builders for the variants declared in `params.yaml`.

Every model takes raw 0–255 pixels shaped (28, 28) and returns 10 logits: the rescaling
lives inside the model, so an exported `.tflite` needs no preprocessing by its user.
"""

from pipeline import cli
from pipeline.config import CLASS_NAMES, IMAGE_SHAPE, VariantParams

with cli.quiet_native_logs():  # TensorFlow's C++ start-up messages
    import keras
    from keras import layers


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
            layers.Dense(num_classes, name="logits"),
        ],
        name="mlp",
    )


def build_cnn(spec: VariantParams, num_classes: int) -> keras.Model:
    """The Keras image-classification tutorial's Conv2D/MaxPooling CNN, with optional dropout."""
    conv_blocks = [
        layer
        for filters in spec.filters
        for layer in (layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D())
    ]
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
            layers.Dense(num_classes, name="logits"),
        ],
        name="cnn",
    )


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


def build_model(spec: VariantParams, num_classes: int = len(CLASS_NAMES)) -> keras.Model:
    """The uncompiled model a variant's spec describes."""
    return BUILDERS[spec.model](spec, num_classes)


def compile_model(model: keras.Model, learning_rate: float) -> keras.Model:
    """Adam on sparse cross-entropy from logits, as in the tutorials."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
