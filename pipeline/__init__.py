"""Fashion-MNIST training pipeline: one module per DVC stage."""

import os

# TensorFlow's C++ start-up chatter hides the progress lines users care about.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
