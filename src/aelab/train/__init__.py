"""Losses, optimizers, checkpoints and the training loop."""
