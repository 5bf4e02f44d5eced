"""A folder of images (searched recursively) as one uint8 array (N, C, H, W).

Each image is decoded once, flattened onto the background colour where it is transparent, resized
to `size` (padding or centre-cropping keeps its aspect) and written into an array allocated for the
whole folder up front, so loading needs no more memory than the result. With the cache on (the
default), every core decodes straight into a .npy file on disk (data/cache.py), keyed by the
folder's file list (names, sizes, modification times) and the preprocessing, beside an .npz of
labels; a second run starts at once, and a folder larger than memory trains from the file on disk.
Labels are the first sub-folder's name when there are sub-folders.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from aelab.data import download
from aelab.data.spec import DatasetSpec
from aelab.errors import AelabError
from aelab.files import remove_abandoned, sha256_file

if TYPE_CHECKING:
    from aelab.config import DataConfig
    from aelab.data.dataset import ImageData

# ImageData and the decoded cache (torch with them) are imported in the functions that build the
# images: `aelab datasets` asks SPEC (at the end) where the folder is without loading torch.

log = logging.getLogger("aelab")

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# The only formats Pillow may open, whatever a file is named: Pillow knows dozens, some of which
# run other programs (an EPS file named .png made it start Ghostscript).
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
CACHE_VERSION = 3  # bump when decoding changes, so old caches are not reused (3: content hashes)
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def list_images(root: Path) -> list[str]:
    """Image files under `root` as relative paths ("sub/name.png"), recursively, in a stable order;
    hidden files and folders skipped. Plain strings: 100k Path objects would cost ~50 MB.
    Regular files only: a FIFO named x.png would block the reader forever, and a dangling or
    self-looping symbolic link cannot be read."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        prefix = os.path.relpath(folder, root).replace(os.sep, "/") + "/"
        prefix = "" if prefix == "./" else prefix
        names = [f for f in files if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
        for name in [*dirs, *names]:
            _check_utf8(os.path.join(folder, name))
        skipped = [f for f in names if not os.path.isfile(os.path.join(folder, f))]  # follows links
        for f in skipped:
            log.warning("skipped %s: not a regular file (a FIFO, device, or broken link)", os.path.join(folder, f))
        found += [prefix + f for f in names if f not in skipped] if skipped else [prefix + f for f in names]
    return sorted(found)  # plain string order: stable, and no per-file key lists (memory)


def _check_utf8(path: str) -> None:
    """A file or label-folder name that is not UTF-8 (bytes from another system's encoding) cannot
    be recorded as text in the cache, the labels or a run's files: one line naming it."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise AelabError(f"{shown}: the name is not valid UTF-8 text; rename it (e.g. convmv -f latin1 -t utf8 "
                         "--notest -r FOLDER) or move it out of the image folder") from None


def load_folder(path: str | Path | None, size: tuple[int, int] | None = None, channels: int | None = None,
                resize: str = "pad", background: tuple[int, int, int] = (255, 255, 255),
                cache: bool = True, what: str = "data.path", name: str | None = None) -> ImageData:
    """All readable images under `path`, as the arguments ask. Unset `size`/`channels` come from
    the first readable image (its size; grey or colour). Unreadable files are skipped with a warning.
    `name` (default: the folder's) names the data and labels the images lying beside sub-folders."""
    root = check_folder(path, what)
    name = name or root.resolve().name
    files = list_images(root)
    if not files:
        raise AelabError(f"{what} '{path}' has no images ({', '.join(EXTENSIONS)}, searched recursively); "
                         "point it at the folder that holds them")
    size, channels = _defaults(root, files, size, channels)
    settings = {"size": list(size), "channels": channels, "resize": resize, "background": list(background),
                "name": name}
    cache_file = _cache_file(root, files, settings) if cache else None
    data = _read_cache(cache_file, root, name) if cache_file else None
    if data is None:
        data, skipped = _decode_all(root, files, size, channels, resize, background, name, cache_file)
        if cache_file:
            _write_cache(cache_file, data, skipped)
    return data


def check_folder(path, what: str) -> Path:
    if not path:
        raise AelabError(f"{what} is not set; give the folder of images, e.g. {what}=input/emojis")
    root = Path(path).expanduser()
    if not root.exists():
        raise AelabError(f"{what} '{path}' does not exist; give the folder of images (relative paths "
                         f"start at {Path.cwd()})")
    if not root.is_dir():
        raise AelabError(f"{what} '{path}' is a file, not a folder; give the folder that holds the images")
    return root


MAX_NATIVE_SIDE = 1024  # without data.input_size, images up to this side train at their own size


def _defaults(root: Path, files: list[str], size, channels) -> tuple[tuple[int, int], int]:
    if size is not None and channels is not None:
        return tuple(size), channels
    for rel in files:
        try:
            with Image.open(root / rel, formats=FORMATS) as img:
                w, h, mode = img.width, img.height, img.mode
        except Exception:  # reported by the decoding pass
            continue
        if size is None and max(h, w) > MAX_NATIVE_SIDE:  # the first image must not size a huge array
            raise AelabError(f"data.input_size is not set and the first image, {rel}, is {w}x{h} pixels; set "
                             "data.input_size to the size to train at, e.g. [64, 64]")
        size = tuple(size) if size is not None else (h, w)
        channels = channels or (1 if mode in _GREY_MODES else 3)
        log.info("images in %s: %dx%d, %d channel(s) (set data.input_size / data.channels to change)",
                 root, size[0], size[1], channels)
        return size, channels
    raise AelabError(f"no readable image in '{root}' ({len(files)} files tried); check that they are "
                     "images (PNG, JPEG, BMP, GIF, WebP)")


# ---------------------------------------------------------------------------------------- decoding

MAX_BYTES = 4 << 30  # of an array decoded in memory (no cache file); beyond it, ask for a smaller input_size


def _decode_all(root, files, size, channels, resize, background, name,
                cache_file: Path | None = None) -> tuple[ImageData, list[str]]:
    from aelab.data.dataset import ImageData

    if cache_file is not None:  # decoded into a file: any size, read from disk if larger than memory
        try:
            return _decode_to_cache(root, files, size, channels, resize, background, name, cache_file)
        except OSError as e:
            log.info("could not write the cache %s (%s); decoding in memory", cache_file, e)
    needed = len(files) * channels * size[0] * size[1]
    if needed > MAX_BYTES:
        raise AelabError(f"{len(files)} images of {size[0]}x{size[1]}x{channels} in '{root}' would take "
                         f"{needed / 1e9:.1f} GB in memory; set data.input_size to the size to train at, "
                         "e.g. [64, 64]")
    images = np.empty((len(files), channels, *size), dtype=np.uint8)  # the only big allocation
    names: list[str | None] = []
    skipped: list[str] = []
    n = 0
    for rel in tqdm(files, desc=f"reading {root.name}", unit="img", leave=False, disable=None):
        try:
            images[n] = decode_image(root / rel, size, channels, resize, background)
        except Exception as e:  # Pillow raises many kinds for damaged files
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            skipped.append(f"{rel}: {reason}")
            log.warning("skipped %s: cannot read it as an image (%s)", root / rel, reason)
            continue
        names.append(rel.split("/", 1)[0] if "/" in rel else None)
        n += 1
    if skipped:
        log.warning("%d of %d files in %s could not be read and were skipped", len(skipped), len(files), root)
    if n == 0:
        raise AelabError(f"no readable image in '{root}' ({len(files)} files, all unreadable); check "
                         "that they are images (PNG, JPEG, BMP, GIF, WebP)")
    labels, label_names = _labels(names, name)
    return ImageData(images[:n], labels, label_names, name), skipped


def _decode_to_cache(root, files, size, channels, resize, background, name, cache_file):
    """Decode with every core straight into the cache's image file (data/cache.py)."""
    from aelab.data.cache import decode_into, drop_rows, open_images
    from aelab.data.dataset import ImageData

    images_file = _images_file(cache_file)
    part = images_file.with_name(f".{images_file.name}.{os.getpid()}.part")
    decode = functools.partial(decode_image, size=tuple(size), channels=channels, resize=resize,
                               background=tuple(background))
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        for left in remove_abandoned(cache_file.parent):  # a decoding killed before (kill -9)
            log.info("removed %s, left by an interrupted decoding", left.name)
        failures = decode_into(part, [root / rel for rel in files], (channels, *size), decode,
                                     desc=f"reading {root.name}")
        skipped = [f"{files[i]}: {reason}" for i, reason in sorted(failures.items())]
        for i, reason in sorted(failures.items()):
            log.warning("skipped %s: cannot read it as an image (%s)", root / files[i], reason)
        if skipped:
            log.warning("%d of %d files in %s could not be read and were skipped", len(skipped), len(files), root)
        if len(failures) == len(files):
            raise AelabError(f"no readable image in '{root}' ({len(files)} files, all unreadable); check "
                             "that they are images (PNG, JPEG, BMP, GIF, WebP)")
        if failures:
            drop_rows(part, sorted(failures))
        os.replace(part, images_file)
    finally:
        part.unlink(missing_ok=True)
    names = [rel.split("/", 1)[0] if "/" in rel else None for i, rel in enumerate(files) if i not in failures]
    labels, label_names = _labels(names, name)
    return ImageData(open_images(images_file), labels, label_names, name), skipped


def decode_image(path: Path, size: tuple[int, int], channels: int, resize: str,
                 background: tuple[int, int, int]) -> np.ndarray:
    """One image file -> uint8 (channels, height, width)."""
    height, width = size
    with Image.open(path, formats=FORMATS) as img:
        img.seek(0)  # animated GIF / WebP: the first frame
        if img.format == "JPEG":  # decode big photos at a reduced scale: much faster, same result
            img.draft("L" if channels == 1 else "RGB", (width, height))
        img.load()
        img = flatten(img, background, channels)
    fill = background if channels == 3 else _luma(background)
    if resize == "stretch":
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    elif resize == "crop":
        img = ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS)
    else:
        img = ImageOps.pad(img, (width, height), Image.Resampling.LANCZOS, color=fill)
    array = np.asarray(img, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def flatten(img: Image.Image, background: tuple[int, int, int], channels: int) -> Image.Image:
    """Composite transparency onto `background`, then convert to grey (L) or RGB."""
    if img.mode.startswith(("I", "F")):  # 16-bit or float grey: scale to 8 bits, not clip
        values = np.asarray(img, dtype=np.float32)
        top = 65535.0 if values.max() > 255 else 255.0
        img = Image.fromarray(np.round(values.clip(0, top) * (255.0 / top)).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (*background, 255)), rgba)
    return img.convert("L" if channels == 1 else "RGB")


def _luma(rgb: tuple[int, int, int]) -> int:
    return round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])  # as Pillow's convert("L")


def _labels(names: list[str | None], own: str) -> tuple[np.ndarray | None, list[str] | None]:
    if all(n is None for n in names):
        return None, None
    # Images lying directly in the root, beside the sub-folders, are labelled with the root's name.
    names = [own if n is None else n for n in names]
    label_names, labels = np.unique(np.array(names, dtype=str), return_inverse=True)
    return labels.astype(np.int64), [str(n) for n in label_names]


# ------------------------------------------------------------------------------------------ cache

def cache_dir() -> Path:
    return download.cache_root() / "folders"


def _cache_file(root: Path, files: list[str], settings: dict) -> Path:
    """<folder>-<where>-<settings>-<content>.npz: one cache per folder and preprocessing, replaced
    when the folder's content changes (a file added, removed, resized or touched)."""
    content = hashlib.sha256()
    for rel in files:
        st = os.stat(root / rel)
        content.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    where = _short_hash(str(root.resolve()))
    how = _short_hash(json.dumps({"version": CACHE_VERSION, **settings}, sort_keys=True))
    what = content.hexdigest()[:16]
    return cache_dir() / f"{root.resolve().name or 'root'}-{where}-{how}-{what}.npz"


def _images_file(cache_file: Path) -> Path:
    """The decoded images of a cache: a .npy beside its .npz (labels, skipped files)."""
    return cache_file.with_suffix(".npy")


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _read_cache(cache_file: Path, root: Path, name: str) -> ImageData | None:
    """The cached images, verified: the .npz names the folder listing and settings it was made
    from (its file name's key) and holds the SHA-256 of the decoded images and of the labels; a
    cache that is damaged or stale is decoded again, with one line saying so, never used wrong."""
    from aelab.data.cache import open_images
    from aelab.data.dataset import ImageData

    if not cache_file.is_file() or not _images_file(cache_file).is_file():
        if any(cache_file.parent.glob(_prefix(cache_file) + "*.npz")):
            log.info("the cache of %s is stale (files were added, removed or changed); decoding the images again", root)
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as z:
            labels, label_names, skipped = z["labels"], z["label_names"], z["skipped"]
            source, images_sha, labels_sha = (z[k].reshape(-1)[0].item() for k in ("source", "images_sha256", "labels_sha256"))
        if source != cache_file.stem:
            raise ValueError(f"it was made for {source[:80]}, not for this folder")
        if sha256_file(_images_file(cache_file)) != images_sha:
            raise ValueError("the decoded images no longer match their SHA-256")
        if _labels_sha(labels, label_names, skipped) != labels_sha:
            raise ValueError("the labels no longer match their SHA-256")
        images = open_images(_images_file(cache_file))
        if len(labels) and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
    except Exception as e:  # a damaged cache is rebuilt, never trusted
        log.warning("ignoring the damaged cache %s (%s); decoding the images again", cache_file, str(e)[:200])
        return None
    for line in skipped:
        log.warning("skipped %s", root / str(line))
    if len(skipped):
        log.warning("%d files in %s could not be read and were skipped", len(skipped), root)
    log.info("loaded %d images of %s from the cache %s", len(images), root, cache_file)
    has_labels = len(label_names) > 0
    return ImageData(images, labels if has_labels else None,
                     [str(n) for n in label_names] if has_labels else None, name)


def _prefix(cache_file: Path) -> str:
    """The part of a cache's name that names its folder and settings, not the folder's content."""
    return cache_file.name.rsplit("-", 1)[0] + "-"


def _labels_sha(labels: np.ndarray, label_names: np.ndarray, skipped: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    for text in [*label_names.tolist(), "\0", *skipped.tolist()]:
        digest.update(f"{text}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def savez(path: Path, **arrays: np.ndarray) -> None:
    """np.savez's format (a zip of .npy files, read by np.load), written straight from each array's
    memory: np.savez copies through 16 MiB buffers, which costs 32 MiB on top of the array."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            array = np.ascontiguousarray(array)
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, np.lib.format.header_data_from_array_1_0(array))
                flat = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
                for start in range(0, len(flat), 1 << 22):
                    member.write(flat[start:start + (1 << 22)])


def _write_cache(cache_file: Path, data: ImageData, skipped: list[str]) -> None:
    """The .npz beside the decoded images (written by _decode_to_cache): labels and skipped files.
    Written last, so a cache with its .npz is complete."""
    if not _images_file(cache_file).is_file():  # decoding in memory: the cache could not be written
        return
    labels = data.labels if data.labels is not None else np.zeros(0, np.int64)
    label_names = np.array(data.label_names or [], dtype=str)
    skipped = np.array(skipped, dtype=str)
    part = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.part")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        savez(part, labels=labels, label_names=label_names, skipped=skipped, source=np.array(cache_file.stem),
              images_sha256=np.array(sha256_file(_images_file(cache_file))),
              labels_sha256=np.array(_labels_sha(labels, label_names, skipped)))
        os.replace(part, cache_file)
        # Older caches of the same folder are stale now: the folder or the settings changed.
        prefix = _prefix(cache_file)
        for old in cache_file.parent.iterdir():
            if old.name.startswith(prefix) and old.suffix in (".npz", ".npy") and old.stem != cache_file.stem:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.info("could not write the cache %s (%s); the next run decodes the images again", cache_file, e)
    finally:
        part.unlink(missing_ok=True)


def _load_config(cfg: DataConfig) -> tuple[ImageData, None]:
    return load_folder(cfg.path, cfg.input_size, cfg.channels, cfg.resize, cfg.background), None


SPEC = DatasetSpec("folder", "any folder of PNG/JPEG/BMP/GIF/WebP images (data.path), labels from sub-folders",
                   _load_config, needs_path=True)
