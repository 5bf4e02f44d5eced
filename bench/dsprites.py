"""How long dSprites takes to draw: the 720 sprites, a 10k subset (what data.limit uses), the whole
737,280-image grid into a bit-packed cache file, and re-opening it memory-mapped. Wall and CPU
seconds of each step, in one process, into a temporary cache (the user's is not touched).

    python bench/dsprites.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402

from harness import timed  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AELAB_DATA_DIR"] = cache
        from aelab.data import dsprites

        rows = {}
        patches, *rows["sprites (720 patches)"] = timed(dsprites.sprites)
        _, *rows["render 10,000 images"] = timed(lambda: dsprites.render(dsprites.subsample(10_000), patches))
        path = Path(cache) / "dsprites" / dsprites.CACHE_FILE
        _, *rows["draw + write the whole grid (377 MB)"] = timed(lambda: dsprites.generate(path))
        grid, *rows["open the cache memory-mapped"] = timed(dsprites.cached_grid)
        _, *rows["unpack 10,000 random images from it"] = timed(
            lambda: np.unpackbits(grid[dsprites.subsample(10_000)], axis=-1))
        for name, (wall, cpu) in rows.items():
            print(f"{name:<40} {wall:>7.2f} s wall {cpu:>7.2f} s CPU")
        print(json.dumps({"load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
