"""Sub-commands of the `aelab` CLI, one module per family."""
