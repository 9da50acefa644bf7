"""Fashion-MNIST training pipeline: one module per DVC stage."""

import os
import sys

# TensorFlow's C++ start-up chatter hides the progress lines users care about.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `python -m pipeline.<stage>` imports this package first, with sys.argv[0] == "-m" meanwhile:
# check params.yaml now, not after the stage's imports (TensorFlow takes seconds). Plain imports
# (tests, notebooks) skip this.
if sys.argv[:1] == ["-m"]:
    from pipeline import cli

    cli.check_params_before_imports()
