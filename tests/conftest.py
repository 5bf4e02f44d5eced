"""Keep the tests off the user's real cache: every cache write (decoded folders, downloads) goes
to a temporary AELAB_DATA_DIR. Datasets already on the machine (/usr/share/datasets) are still
found, since that folder comes later in the lookup order."""

from __future__ import annotations

import signal

import pytest

# The Ctrl-C tests send SIGINT to aelab and to its subprocesses. A suite started in the background
# of a non-interactive shell (`cmd &` in a script) inherits SIGINT ignored, and so would every
# process it starts: give the suite Python's own handler back, which children reset to the default.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AELAB_DATA_DIR", str(tmp_path_factory.mktemp("aelab-data")))
    yield
    mp.undo()


from serve_runs import explorer_server, serve_runs  # noqa: E402,F401  (the `aelab serve` tests' runs and server)
