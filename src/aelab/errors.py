"""The one exception type users see: a one-line message that says what is wrong, where, and how to fix it."""


class AelabError(ValueError):
    """Bad input (config, files, arguments, checkpoints, arrays). The CLI prints it as one line and
    exits with 2. A ValueError, as scikit-learn and Python expect of bad argument values."""

    exit_code = 2


class StoppedBySignal(AelabError):
    """Ctrl-C or SIGTERM, reported as one line that says what was saved; exit code 130 like a shell."""

    exit_code = 130
