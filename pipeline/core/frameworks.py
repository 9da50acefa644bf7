"""TensorFlow and Keras, imported once, here, with their C++ start-up messages silenced (those ignore
TF_CPP_MIN_LOG_LEVEL and would bury the progress lines and one-line errors users read). Modules that
need them write `from pipeline.core.frameworks import keras, tf`."""

from pipeline.core.native_logs import quiet_native_logs

with quiet_native_logs():
    import keras
    import tensorflow as tf
    from keras import layers

__all__ = ["keras", "layers", "tf"]
