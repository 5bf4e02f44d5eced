"""Keep the tests off the user's real cache: every cache write (decoded folders, downloads) goes
to a temporary AELAB_DATA_DIR. Datasets already on the machine (/usr/share/datasets) are still
found, since that folder comes later in the lookup order."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AELAB_DATA_DIR", str(tmp_path_factory.mktemp("aelab-data")))
    yield
    mp.undo()


from serve_runs import explorer_server, serve_runs  # noqa: E402,F401  (the `aelab serve` tests' runs and server)
