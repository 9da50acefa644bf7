"""Training: the variants' architectures, the loop that fits them, the precision this CPU trains in, and
a trained `.keras` file loaded back."""
