"""Where the machine's shared test data lies: MNIST's real 10k test set (IDX gz, official
checksums). Looked for beside the repository (../shared/data/mnist, as on the developers'
machines), then in $AELAB_TEST_MNIST, then in /work/shared/data/mnist (a clean clone elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "../shared/data/mnist",
    *([Path(os.environ["AELAB_TEST_MNIST"])] if os.environ.get("AELAB_TEST_MNIST") else []),
    Path("/work/shared/data/mnist"),
]
MNIST_TEST_DIR = next((p.resolve() for p in _CANDIDATES if (p / "t10k-images-idx3-ubyte.gz").is_file()),
                      _CANDIDATES[0])
