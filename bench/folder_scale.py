"""Image folders larger than memory: decoding speed with one and two worker processes, training
speed and peak memory from the in-memory array against the cache file read batch by batch, and peak memory
training from a decoded file far larger than any in-memory budget.

    python bench/folder_scale.py [--images 20000] [--big-images 1000000] [--reps 2] [--work DIR]

- a synthetic folder of `--images` 64x64 RGB PNGs (discs on noise, in 10 sub-folders);
- decode: `aelab.data.cache.decode_into` cold, workers=1 and workers=2, images/s;
- train: a 12288-256-16 MLP VAE, 1 epoch, batch 128, fp32, from the folder's cache read whole
  into memory and from the same file on disk (DiskImages), interleaved, each in a fresh process;
- big: a decoded .npy of `--big-images` 64x64 RGB rows (1M: 12.3 GB) written directly (decoding a
  million PNGs would take hours on 2 cores; the file is what training reads), then one epoch over
  `--big-sample` rows drawn at random from all of it, from disk: peak RSS and samples/s.
Every training measurement is a fresh process; peak RSS is its VmHWM (torch + aelab imports
included, ~0.4 GB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import column, median, spread  # noqa: E402

SIDE = 64

TRAIN = r"""
import json, resource, sys, time
import numpy as np, torch
from aelab.config import load_config
from aelab.data.cache import open_images
from aelab.data.dataset import ImageData
from aelab.models.registry import build_model
from aelab.train.trainer import Trainer
def build(config, shape):
    return build_model(config.model, tuple(shape), seed=config.training.seed)
path, mode, sample, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def peak_rss_mb():
    # VmHWM: this process's own peak. ru_maxrss is not: Linux carries the parent's peak across
    # fork + exec, and the parent may just have written a 12 GB file through a map.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
torch.set_num_threads(threads)
import torch._dynamo  # torch.optim imports it on first use: not timed
config = load_config(None, ["model.type=vae", "model.encoder_layers=[256]", "model.latent_dim=16",
                            "training.epochs=1", "training.batch_size=128", "training.validation_split=0",
                            "training.patience=null", "training.precision=fp32", f"training.threads={threads}"])
started = time.perf_counter()
data = ImageData(open_images(__import__("pathlib").Path(path), in_memory=(mode == "memory")))
if sample:  # rows from all over the file, kept on disk (a view, not the small-subset copy)
    rows = np.sort(np.random.default_rng(0).choice(len(data), sample, replace=False))
    data = ImageData(data.images.view(rows))
loaded = time.perf_counter()
model = build(config, data.shape)
state = Trainer(model, config, "cpu", progress=False).fit(data.tensor())
print(json.dumps({"mode": mode, "n": len(data), "load_s": loaded - started,
                  "samples_per_s": len(data) / state.train_seconds, "loss": state.history[-1]["loss"],
                  "peak_rss_mb": peak_rss_mb()}))
"""

DECODE = r"""
import functools, json, sys, time
from pathlib import Path
from aelab.data.cache import decode_into
from aelab.data.folder import decode_image, list_images
root, out, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
files = [root / f for f in list_images(root)]
decode = functools.partial(decode_image, size=(64, 64), channels=3, resize="pad", background=(255, 255, 255))
failures = decode_into(out, files, (3, 64, 64), decode, workers=workers)
seconds = time.perf_counter() - started
print(json.dumps({"workers": workers, "n": len(files), "seconds": seconds, "images_per_s": len(files) / seconds,
                  "failures": len(failures)}))
"""


def run(code: str, *args) -> dict:
    return harness.fresh(harness.python("-c", code, *args))


def make_folder(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    for i in range(n):
        sub = root / f"class{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 40, (SIDE, SIDE, 3), dtype=np.uint8)
        cy, cx, r = rng.integers(16, 48, 3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r // 2] = rng.integers(60, 255, 3)
        Image.fromarray(image).save(sub / f"{i:07d}.png", compress_level=1)


def make_big(path: Path, n: int) -> None:
    """A decoded cache of n images written directly, 64 MiB at a time (a tiled pattern + noise)."""
    import numpy as np

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 3, SIDE, SIDE))
    rng = np.random.default_rng(0)
    step = (64 << 20) // out[0].nbytes
    block = rng.integers(0, 255, (step, 3, SIDE, SIDE), dtype=np.uint8)
    for start in range(0, n, step):
        stop = min(n, start + step)
        out[start:stop] = block[:stop - start]
        if start // step % 16 == 15:
            out.flush()
            out._mmap.madvise(__import__("mmap").MADV_DONTNEED)  # keep this writer's RSS small too
    out.flush()
    del out


def compare_folder(a, decoded: dict, cache: Path) -> None:
    print(harness.table(["decoding", "images", "seconds", "images/s", "1M images at this rate"],
                        [[f"{workers} worker process(es)", f"{r['n']:,}", f"{r['seconds']:.1f}", f"{r['images_per_s']:,.0f}",
                          f"{1e6 / r['images_per_s'] / 60:.0f} min"] for workers, r in decoded.items()]))
    results = harness.interleave(
        {mode: (lambda mode=mode: run(TRAIN, cache, mode, 0, a.threads)) for mode in ("memory", "mapped")},
        a.reps, alternate=True, report=lambda rep, mode, r: harness.progress(
            f"  rep {rep + 1} {mode}: {r['samples_per_s']:,.0f} samples/s, {r['peak_rss_mb']:.0f} MB"))
    base = median(column(results["memory"], "samples_per_s"))
    print(f"\nTraining from the folder's cache ({a.images:,} images, {cache.stat().st_size / 1e9:.2f} GB decoded), "
          f"12288-256-16 MLP VAE, 1 epoch, batch 128, fp32, {a.reps} reps:\n")
    print(harness.table(["images from", "samples/s, median (min-max)", "vs in memory", "peak RSS MB", "load s"],
                        [["memory (file read whole)" if mode == "memory" else "file on disk (DiskImages)",
                          spread(column(rs, "samples_per_s"), ",.0f"), f"{median(column(rs, 'samples_per_s')) / base:.2f}x",
                          f"{median(column(rs, 'peak_rss_mb')):.0f}", f"{median(column(rs, 'load_s')):.2f}"]
                         for mode, rs in results.items()]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--big-images", type=int, default=1_000_000, help="0: skip the big file")
    p.add_argument("--big-sample", type=int, default=40000)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", help="scratch folder (default: a temporary one under /tmp, deleted after)")
    p.add_argument("--big-only", action="store_true", help="only the big-file measurement")
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="aelab-folder-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench/folder_scale.py, {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} CPUs, "
          f"load average before: {harness.load_average()}\n")
    try:
        folder = work / "folder"
        if a.big_only:
            pass
        elif not folder.exists():
            started = time.perf_counter()
            make_folder(folder, a.images)
            print(f"made {a.images:,} {SIDE}x{SIDE} RGB PNGs in {time.perf_counter() - started:.0f} s\n")
        decoded = {}
        for workers in () if a.big_only else (1, 2):
            out = work / f"decoded-{workers}.npy"
            decoded[workers] = run(DECODE, folder, out, workers)
            print(f"  decode, {workers} worker(s): {decoded[workers]['seconds']:.1f} s", file=sys.stderr)
        cache = work / "decoded-2.npy"
        if not a.big_only:
            compare_folder(a, decoded, cache)
        if a.big_images:
            big = work / "big.npy"
            started = time.perf_counter()
            make_big(big, a.big_images)
            written = time.perf_counter() - started
            r = run(TRAIN, big, "mapped", a.big_sample, a.threads)
            print(f"\nBig file: {a.big_images:,} decoded 64x64 RGB images, {big.stat().st_size / 1e9:.1f} GB "
                  f"(written in {written:.0f} s), 1 epoch over {a.big_sample:,} rows drawn from all of it, from disk: "
                  f"{r['samples_per_s']:,.0f} samples/s, peak RSS {r['peak_rss_mb']:.0f} MB\n")
            big.unlink()
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {harness.load_average()}")


if __name__ == "__main__":
    main()
