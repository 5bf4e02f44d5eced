"""The one exception type users see: a one-line message that says what is wrong, where, and how to fix it."""


class AelabError(ValueError):
    """Bad input (config, files, arguments, checkpoints, arrays). The CLI prints it as one line and
    exits with 2. A ValueError, as scikit-learn and Python expect of bad argument values."""
