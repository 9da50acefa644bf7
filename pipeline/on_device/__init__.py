"""On device: a trained model converted to `.tflite`, run with LiteRT and MediaPipe as an app runs it,
and measured there."""
