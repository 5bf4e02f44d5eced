"""Every choice list a user sees, in one place that imports nothing: config validation, the CLI's
argparse choices and serve's request models all take their names from here, and `aelab --help`
reads them without loading torch."""

# aelab traverse --directions (explore/traverse.py)
TRAVERSAL_DIRECTIONS = ("auto", "axes", "principal")
PRINCIPAL_ABOVE = 16  # latent sizes above which `auto` traverses principal directions
