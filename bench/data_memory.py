"""Loading time and memory of aelab's data loaders: Fashion-MNIST (cold: decompress + verify;
warm: the decoded .npy cache) and a synthetic folder of many small transparent PNGs (cold: decode;
warm: the .npz cache). Each measurement runs in a fresh process; "extra RSS" is the peak resident
memory during the load minus the resident memory just before it (Linux: VmHWM after clear_refs).

    python bench/data_memory.py [--images 20000] [--size 32] [--work /tmp/aelab-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

CHILD = r"""
import json, os, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
from aelab.config import load_config
from aelab.data.registry import load_dataset
config = load_config(None, json.loads(sys.argv[1])).data
import numpy, torch, PIL.Image  # everything imported before the baseline
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
started = time.perf_counter()
train, test = load_dataset(config, seed=0)
seconds = time.perf_counter() - started
array_bytes = train.images.nbytes + (0 if test is train else test.images.nbytes)
print(json.dumps({"seconds": seconds, "extra_rss": status("VmHWM") - before, "array_bytes": array_bytes,
                  "n": len(train) + (0 if test is train else len(test)), "shape": list(train.shape)}))
"""


def measure(overrides: list[str], env: dict) -> dict:
    return harness.fresh([sys.executable, "-c", CHILD, json.dumps(overrides)], env)


def make_folder(root: Path, n: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        sub = root / f"class{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        cy, cx, r = rng.integers(size // 3, 2 * size // 3, 2).tolist() + [int(rng.integers(size // 6, size // 3))]
        rgba = np.zeros((size, size, 4), np.uint8)
        rgba[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = (*rng.integers(0, 255, 3).tolist(), 255)
        Image.fromarray(rgba, "RGBA").save(sub / f"{i}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="images in the synthetic folder")
    parser.add_argument("--size", type=int, default=32, help="their side in pixels")
    parser.add_argument("--work", help="scratch folder (default: a temporary one, deleted after)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="aelab-bench-"))
    env = {**os.environ, "AELAB_DATA_DIR": str(work / "cache"), "AELAB_OFFLINE": "1"}
    shutil.rmtree(work / "cache", ignore_errors=True)
    rows = []
    try:
        fashion = ["data.dataset=fashion-mnist"]
        rows.append(("fashion-mnist, cold (gunzip + SHA-256 + .npy cache)", measure(fashion, env)))
        rows.append(("fashion-mnist, warm (.npy cache)", measure(fashion, env)))
        folder = work / "folder"
        if not folder.exists():
            make_folder(folder, args.images, args.size)
        spec = ["data.dataset=folder", f"data.path={folder}", f"data.input_size={args.size}",
                "data.channels=3", "data.test_split=0"]
        rows.append((f"folder of {args.images} {args.size}x{args.size} RGBA PNGs, cold (decode)", measure(spec, env)))
        rows.append((f"folder of {args.images} {args.size}x{args.size} RGBA PNGs, warm (.npz cache)", measure(spec, env)))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(harness.table(["load", "images", "seconds", "decoded array", "extra RSS"],
                        [[what, r["n"], f"{r['seconds']:.2f}", f"{r['array_bytes'] / 2**20:.1f} MiB",
                          f"{r['extra_rss'] / 2**20:.1f} MiB"] for what, r in rows]))


if __name__ == "__main__":
    main()
