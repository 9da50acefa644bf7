"""MLflow: the tracking store, the experiments and runs the stages share, what they log, the splits as datasets,
logged models and the Model Registry."""
