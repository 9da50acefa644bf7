"""Fashion-MNIST training pipeline: one module per DVC stage, and the small modules they share."""
