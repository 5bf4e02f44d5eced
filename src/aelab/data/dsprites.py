"""dSprites (Matthey et al., 2017): 64x64 binary images of one sprite, rendered from the published
factor grid: 3 shapes (square, ellipse, heart) x 6 scales x 40 orientations x 32 x 32 positions =
737,280 images, in the published order (the last factor, position y, varies fastest).

The original file cannot be downloaded here, so the images are drawn procedurally, with the same
factors and factor values: every (shape, scale, orientation) sprite is drawn once on a 32x32 patch
and each position shifts it by whole pixels (1 pixel per position step). The pixels are not those of
the original file; a user who has it passes it as `data.path` and it is used as it is.

The whole grid is cached bit-packed (one bit per pixel, 377 MB) in `<cache>/dsprites/` and loads
memory-mapped; a subset (`data.limit`) is drawn directly, without the cache, in well under a second.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import zipfile
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aelab import files
from aelab.data import download
from aelab.data.spec import Availability, DatasetSpec
from aelab.errors import AelabError

if TYPE_CHECKING:
    from aelab.config import DataConfig
    from aelab.data.dataset import ImageData

# ImageData (and torch with it) is imported in load(): `aelab datasets` asks SPEC where the data is
# without loading torch (data/spec.py).

log = logging.getLogger("aelab")

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ["shape", "scale", "orientation", "position_x", "position_y"]
FACTOR_SIZES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)  # as published: 0 and 2*pi both appear
POSITIONS = np.linspace(0.0, 1.0, 32)
SIZE = 64
PATCH = 32  # a sprite's patch; positions shift it over 32 pixels: its centre goes from 16 to 47
N_IMAGES = int(np.prod(FACTOR_SIZES))
ORIGINAL_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
CACHE_FILE = "dsprites-procedural-v1-packed.npy"  # v1: bump when the drawing changes


def factor_classes(index: np.ndarray) -> np.ndarray:
    """Grid indices (N,) -> factor classes (N, 5): shape, scale, orientation, position x, position y."""
    return np.stack(np.unravel_index(np.asarray(index), FACTOR_SIZES), axis=1).astype(np.int64)


def factor_index(classes: np.ndarray) -> np.ndarray:
    """Factor classes (N, 5) -> grid indices (N,); the inverse of factor_classes."""
    return np.ravel_multi_index(tuple(np.asarray(classes).T), FACTOR_SIZES).astype(np.int64)


def sprites() -> np.ndarray:
    """The 720 sprites (shape, scale, orientation) centred on a 32x32 patch: (3, 6, 40, 32, 32) bool."""
    centre = PATCH / 2
    v, u = np.mgrid[0:PATCH, 0:PATCH] + 0.5 - centre  # pixel centres, y down
    angle = ORIENTATIONS[None, :, None, None]
    scale = SCALES[:, None, None, None] * 10.0  # pixels per unit: the largest square is 20 px wide
    x = (u * np.cos(angle) + v * np.sin(angle)) / scale  # rotate the pixel into the sprite's frame
    y = (-u * np.sin(angle) + v * np.cos(angle)) / scale
    square = (np.abs(x) <= 1.0) & (np.abs(y) <= 1.0)
    ellipse = (x / 1.2) ** 2 + (y / 0.6) ** 2 <= 1.0
    hx, hy = x / 0.95, -(y + 0.15) / 0.95  # heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, point up
    heart = (hx ** 2 + hy ** 2 - 1) ** 3 <= hx ** 2 * hy ** 3
    return np.stack([square, ellipse, heart])


def render(index: np.ndarray, patches: np.ndarray | None = None) -> np.ndarray:
    """The images at grid indices `index`: (N, 64, 64) bool, drawn from scratch (deterministic)."""
    patches = sprites() if patches is None else patches
    classes = factor_classes(index)
    shape, scale, angle, px, py = classes.T
    images = np.zeros((len(classes), SIZE, SIZE), bool)
    r = np.arange(PATCH)
    rows = (py[:, None, None] + r[None, :, None])  # position steps are whole pixels
    cols = (px[:, None, None] + r[None, None, :])
    images[np.arange(len(classes))[:, None, None], rows, cols] = patches[shape, scale, angle]
    return images


def generate(path: Path, chunk: int = 16384) -> None:
    """Draw the whole grid into `path` (bit-packed rows, (737280, 64, 8) uint8), written temp + rename,
    then its key (key_file): the drawing's fingerprint and the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.remove_abandoned(path.parent)  # a drawing killed before (kill -9)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    patches = sprites()
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(N_IMAGES, SIZE, SIZE // 8))
    for start in range(0, N_IMAGES, chunk):
        index = np.arange(start, min(start + chunk, N_IMAGES))
        out[index[0]:index[-1] + 1] = np.packbits(render(index, patches), axis=-1)
    out.flush()
    del out
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    key = {"source": drawing_fingerprint(patches), "sha256": files.sha256_file(tmp)}
    key_file(path).unlink(missing_ok=True)  # never a key beside a grid it does not describe
    os.replace(tmp, path)
    files.write_text(key_file(path), json.dumps(key))


def key_file(path: Path) -> Path:
    return path.with_suffix(".json")


def drawing_fingerprint(patches: np.ndarray | None = None) -> str:
    """What the cache was drawn from: the sprites and the grid's layout (a change in the drawing
    code changes it, so an old cache is drawn again)."""
    patches = sprites() if patches is None else patches
    digest = hashlib.sha256(np.packbits(patches).tobytes())
    digest.update(f"{FACTOR_SIZES} {SIZE} {PATCH}".encode())
    return digest.hexdigest()


def cached_grid() -> np.ndarray:
    """The whole grid, bit-packed and memory-mapped from the cache (drawn there the first time).
    The cache is checked on every load against its key (its SHA-256 and the drawing's
    fingerprint): a damaged or stale one is drawn again, with one line saying so."""
    path = download.cache_root() / "dsprites" / CACHE_FILE
    problem = _cache_problem(path) if path.is_file() else "absent"
    if problem != "absent" and problem is not None:
        log.warning("the dSprites cache %s is %s; drawing it again", path, problem)
    if problem is not None:
        log.info("drawing the dSprites grid (737,280 images) into %s", path)
        generate(path)
    packed = np.load(path, mmap_mode="r")
    if packed.shape != (N_IMAGES, SIZE, SIZE // 8) or packed.dtype != np.uint8:
        raise AelabError(f"{path} is not aelab's dSprites cache (shape {packed.shape}); delete it and it is redrawn")
    return packed


def _cache_problem(path: Path) -> str | None:
    """Why the cache at `path` cannot be used, or None when it is the grid its key describes."""
    try:
        key = json.loads(key_file(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "without a readable key (damaged, or from an older aelab)"
    if not isinstance(key, dict) or key.get("source") != drawing_fingerprint():
        return "stale (drawn by another version of the drawing)"
    if files.sha256_file(path) != key.get("sha256"):
        return "damaged (its content no longer matches its SHA-256)"
    return None


def subsample(n: int, seed: int = 0, grid: np.ndarray | None = None) -> np.ndarray:
    """`n` indices of `grid` (grid indices, sorted; default the whole grid) drawn uniformly without
    replacement (seeded), in grid order."""
    grid = np.arange(N_IMAGES) if grid is None else grid
    return np.sort(grid[np.random.default_rng(seed).choice(len(grid), size=min(n, len(grid)), replace=False)])


def sub_grid(values: dict[str, int] | None = None) -> np.ndarray:
    """Grid indices (sorted) of a smaller factor grid: per factor named in `values`, that many of
    its published values, evenly spaced from the first (data.factor_values); the others keep all."""
    values = values or {}
    for name, count in values.items():
        if name not in FACTOR_NAMES:
            close = difflib.get_close_matches(name, FACTOR_NAMES, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"the factors are {', '.join(FACTOR_NAMES)}"
            raise AelabError(f"data.factor_values: dSprites has no factor '{name}'; {hint}")
        size = FACTOR_SIZES[FACTOR_NAMES.index(name)]
        if not 1 <= count <= size:
            raise AelabError(f"data.factor_values.{name}: {count} values asked, dSprites has {size}; "
                             f"give 1 to {size}")
    kept = [np.unique(np.linspace(0, size - 1, values.get(name, size)).round().astype(np.int64))
            for name, size in zip(FACTOR_NAMES, FACTOR_SIZES)]
    classes = np.stack([c.ravel() for c in np.meshgrid(*kept, indexing="ij")], axis=1)
    return factor_index(classes)  # in grid order: the factors' order is the published one


def load(path: str | None = None, n: int | None = None, factor_values: dict[str, int] | None = None) -> ImageData:
    """dSprites as ImageData (N, 1, 64, 64) uint8 in {0, 255}, labelled by shape, with its factors.
    `n`: a seeded uniform subset of n images. `path`: the original .npz (or a folder holding it).
    `factor_values`: a smaller factor grid (sub_grid), drawn from instead of the whole one."""
    from aelab.data.dataset import ImageData

    grid = sub_grid(factor_values) if factor_values else None
    if path:
        images, classes = _original(Path(path).expanduser(), n, grid)
    else:
        grid = np.arange(N_IMAGES) if grid is None else grid
        index = subsample(n, grid=grid) if n is not None and n < len(grid) else grid
        if len(index) < N_IMAGES:
            images = render(index).view(np.uint8)
        else:
            images = np.unpackbits(cached_grid(), axis=-1)  # 0/1, 3 GB: unpacked once, scaled in place
        classes = factor_classes(index)
    images *= np.uint8(255)
    return ImageData(images[:, None], classes[:, 0].copy(), list(SHAPES), "dsprites", classes, list(FACTOR_NAMES))


def _original(path: Path, n: int | None, grid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    file = path / ORIGINAL_FILE if path.is_dir() else path
    if not file.is_file():
        raise AelabError(f"data.path: {file} not found; give the original {ORIGINAL_FILE} (or leave "
                         "data.path out and aelab draws dSprites itself)")
    try:
        with np.load(file, allow_pickle=False) as f:  # its 'metadata' entry is a pickle: never read
            classes = np.asarray(f["latents_classes"])
            images = f["imgs"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise AelabError(f"data.path: {file} is not the dSprites .npz ({e}); it needs 'imgs' and "
                         "'latents_classes'") from None
    if images.shape != (N_IMAGES, SIZE, SIZE) or classes.shape != (N_IMAGES, 6):
        raise AelabError(f"data.path: {file} holds images {images.shape} and factors {classes.shape}; "
                         f"dSprites has ({N_IMAGES}, 64, 64) and ({N_IMAGES}, 6)")
    grid = np.arange(N_IMAGES) if grid is None else grid  # the file is in the published order
    index = subsample(n, grid=grid) if n is not None and n < len(grid) else grid
    if len(index) == N_IMAGES:
        index = slice(None)
    return (images[index] > 0).view(np.uint8), classes[index, 1:].astype(np.int64)  # column 0 (colour) is constant


# ------------------------------------------------------------------------------ the spec

def _load_config(cfg: DataConfig) -> tuple[ImageData, None]:
    # data.limit: a seeded uniform subset large enough that the training part keeps `limit` images
    # (the grid's first images would all be small squares).
    n = None if cfg.limit is None else math.ceil(cfg.limit / (1 - cfg.test_split))
    return load(cfg.path, n, cfg.factor_values), None


def _availability(path: str | None) -> Availability:
    if path:
        return Availability(True, f"{path} (the original {ORIGINAL_FILE})")
    cache = download.cache_root() / "dsprites" / CACHE_FILE
    return Availability(True, f"drawn by aelab, cached in {cache}" + ("" if cache.is_file() else " on first use"))


SPEC = DatasetSpec("dsprites", "dSprites: 737,280 64x64 binary sprites, 5 known factors (shape, scale, "
                               "orientation, x, y), drawn by aelab; labels = shape", _load_config, check=_availability)
