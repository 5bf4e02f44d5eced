"""The one exception type users see: a one-line message that says what is wrong, where, and how to fix it."""


class AelabError(Exception):
    """Bad input (config, files, arguments, checkpoints). The CLI prints it as one line and exits with 2."""
