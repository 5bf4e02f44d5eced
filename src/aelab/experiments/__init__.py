"""Experiments made of many runs: parameter sweeps with k-fold cross-validation."""
