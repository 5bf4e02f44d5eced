"""Faces cropped from a folder of photos (seed 000's flow), with OpenCV's bundled Haar cascades.

For each photo: find face candidates (frontal, and profiles facing either way), keep only those
that pass the quality check (face_check.py: an eye inside, or two detectors agreeing), take the
largest, widen its box by a margin, crop, resize (70x70 by default) and write the crop as PNG into
aelab's cache (`$AELAB_DATA_DIR` or ~/.cache/aelab, under faces/), never beside the user's photos,
mirroring the photos' sub-folders (so sub-folder labels carry over). A manifest in that folder
records each photo's size and time, what was found or rejected, and the settings, so the next run
only looks at new or changed photos. The crops are then loaded like any image folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from aelab import files
from aelab.data import download, face_check, folder
from aelab.data.spec import DatasetSpec, folder_availability
from aelab.errors import AelabError

if TYPE_CHECKING:  # the crops load as an image folder (folder.py), which imports ImageData when it runs
    from aelab.config import DataConfig
    from aelab.data.dataset import ImageData

log = logging.getLogger("aelab")

MANIFEST = "aelab-faces.json"
DEFAULT_SIZE = (70, 70)  # seed 003's faces
DEFAULT_CHANNELS = 1
DETECT_SIDE = 800  # photos are searched at most this big: detection time grows with the pixels
MANIFEST_VERSION = 3  # 2: candidates checked (face_check.py), crops in the cache; 3: each crop's SHA-256


def crops_folder(photos: Path) -> Path:
    """The crops of a photo folder in aelab's cache: named after the folder, keyed by its full path.
    A folder of that name holding files without aelab's manifest (its manifest lost, or files put
    there by hand) is left alone, never a dead end: the crops go to the next free name (-2, -3 ...)."""
    resolved = Path(photos).expanduser().resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    base = download.cache_root() / "faces" / f"{resolved.name}-{key}"
    for n in range(1, 100):
        out = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if not out.exists() or (out / MANIFEST).is_file() or (out.is_dir() and not any(out.iterdir())):
            if n > 1:
                log.warning("%s holds files aelab did not write (no %s); the face crops go to %s", base, MANIFEST, out)
            return out
    raise AelabError(f"{base}-2 to -99 all hold files aelab did not write; remove them from aelab's cache")


def load_faces(path: str | Path | None, size: tuple[int, int] | None = None, channels: int | None = None,
               margin: float = 0.25, background: tuple[int, int, int] = (255, 255, 255)) -> ImageData:
    size = tuple(size) if size else DEFAULT_SIZE
    channels = channels or DEFAULT_CHANNELS
    out = prepare_faces(path, size, channels, margin, background)
    return folder.load_folder(out, size, channels, "stretch", background, what=f"the face crops of {path}",
                              name=Path(path).expanduser().resolve().name)


def prepare_faces(path, size: tuple[int, int], channels: int, margin: float,
                  background: tuple[int, int, int] = (255, 255, 255)) -> Path:
    """Bring `<path>_faces/` up to date with the photos in `path`; returns that folder."""
    root = folder.check_folder(path, "data.path")
    photos = folder.list_images(root)
    if not photos:
        raise AelabError(f"data.path '{path}' has no photos ({', '.join(folder.EXTENSIONS)}, searched "
                         "recursively); point it at the folder of photos")
    out = crops_folder(root)
    settings = {"version": MANIFEST_VERSION, "size": list(size), "channels": channels, "margin": margin,
                "background": list(background), "check": face_check.SETTINGS}
    old = _read_manifest(out)
    reusable = old["photos"] if old.get("settings") == settings else {}
    entries: dict[str, dict] = {}
    created = not out.exists()
    if created:  # claim the folder before any crop is written into it
        _write_manifest(out, settings, {})
    detector = None
    try:
        for rel in tqdm(photos, desc=f"finding faces in {root.name}", unit="photo", leave=False, disable=None):
            photo = root / rel
            st = photo.stat()
            stamp = [st.st_size, st.st_mtime_ns]
            entry = reusable.get(rel)
            if entry and entry["stamp"] == stamp and (entry["crop"] is None or _intact(out, entry)):
                entries[rel] = entry
            else:
                detector = detector or face_check.detectors()
                entries[rel] = _crop_one(photo, rel, stamp, out, detector, size, channels, margin, background)
    finally:
        _remove_stale(out, old.get("photos", {}), entries)
        _write_manifest(out, settings, entries)
    if not any(e["crop"] for e in entries.values()):
        if created:  # leave nothing behind for a folder without a single face
            shutil.rmtree(out, ignore_errors=True)
        raise AelabError(f"no face found in any of the {len(entries)} photos in '{root}'; the detector "
                         "needs frontal faces at least ~24 pixels wide")
    _report(root, out, entries)
    return out


# --------------------------------------------------------------------------------------- one photo

def _crop_one(photo, rel, stamp, out, detector, size, channels, margin, background) -> dict:
    try:
        with Image.open(photo, formats=folder.FORMATS) as img:
            img.seek(0)
            rgb = np.asarray(folder.flatten(ImageOps.exif_transpose(img), background, 3))
    except Exception as e:
        log.warning("skipped %s: cannot read it as an image (%s)", photo, str(e).splitlines()[0] if str(e) else e)
        return {"stamp": stamp, "crop": None, "error": str(e) or type(e).__name__}
    box, rejected = largest_face(rgb, detector)
    if box is None:
        return {"stamp": stamp, "crop": None, "rejected": rejected}
    crop = _cut(rgb, box, size, margin)
    name = rel if rel.lower().endswith(".png") else rel + ".png"  # a.jpg and a.png may lie side by side
    target = out / name
    target.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(crop).resize((size[1], size[0]), Image.Resampling.LANCZOS)
    with files.atomic_write(target) as tmp:
        (image.convert("L") if channels == 1 else image).save(tmp, format="PNG")
    return {"stamp": stamp, "crop": name, "box": [int(v) for v in box], "rejected": rejected,
            "sha256": files.sha256_file(target)}


def _intact(out: Path, entry: dict) -> bool:
    """Whether a crop is the one the manifest describes (its SHA-256); else it is made again."""
    crop = out / entry["crop"]
    try:
        if files.sha256_file(crop) == entry.get("sha256"):
            return True
    except OSError:
        return False
    log.warning("the face crop %s is damaged (its SHA-256 no longer matches); cropping its photo again", crop)
    return False


def largest_face(rgb: np.ndarray, detector) -> tuple[tuple[int, int, int, int] | None, int]:
    """(x, y, w, h) of the largest face that passes the check, in the photo's pixels (None without
    one), and how many candidates the check rejected."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.equalizeHist(grey)  # Haar features compare brightness: even out the lighting first
    faces, rejected = face_check.checked_faces(grey, detector)
    if not faces:
        return None, rejected
    x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
    return tuple(round(v / scale) for v in (x, y, w, h)), rejected


def _cut(rgb: np.ndarray, box, size: tuple[int, int], margin: float) -> np.ndarray:
    """The face box widened by `margin` on each side, shaped like `size`, kept inside the photo."""
    x, y, w, h = box
    th, tw = size
    height, width = rgb.shape[:2]
    bw = max(w, h * tw / th) * (1 + 2 * margin)
    bh = bw * th / tw
    scale = min(1.0, width / bw, height / bh)  # a face too close to fill the margin: shrink the box
    bw, bh = max(1, round(bw * scale)), max(1, round(bh * scale))
    left = int(np.clip(round(x + w / 2 - bw / 2), 0, width - bw))
    top = int(np.clip(round(y + h / 2 - bh / 2), 0, height - bh))
    return np.ascontiguousarray(rgb[top:top + bh, left:left + bw])


# --------------------------------------------------------------------------------------- manifest

def _read_manifest(out: Path) -> dict:
    if not out.exists():
        return {}
    manifest = out / MANIFEST
    if not manifest.is_file():  # crops_folder never picks such a folder; emptied by hand since
        return {}
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("photos"), dict):
            raise ValueError("no photo list")
    except (ValueError, OSError, RecursionError) as e:
        log.warning("%s is damaged (%s); finding the faces again", manifest, str(e)[:200])
        return {"photos": {}}
    data["photos"] = {rel: entry for rel, entry in data["photos"].items() if _trusted(out, rel, entry)}
    return data


def _trusted(out: Path, rel: str, entry) -> bool:
    """A manifest entry aelab could have written: its crop (which aelab may delete) is a PNG
    inside `out`. Anything else, '../x' or '/home/x', is dropped and never touched."""
    if not isinstance(entry, dict) or not isinstance(entry.get("stamp"), list):
        return False
    crop = entry.get("crop")
    if crop is None:
        return True
    try:
        files.inside(out, crop, "crop")
    except (AelabError, TypeError, ValueError, OSError):
        log.warning("%s lists the crop %r outside %s; ignoring that entry", out / MANIFEST, str(crop)[:100], out)
        return False
    return str(crop).lower().endswith(".png")


def _write_manifest(out: Path, settings: dict, entries: dict) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        files.write_text(out / MANIFEST, json.dumps({"settings": settings, "photos": entries}, indent=1))
    except OSError as e:
        raise AelabError(f"cannot write the face crops into {out} ({e.strerror or e}); make its parent "
                         "folder writable") from None


def _remove_stale(out: Path, old: dict, new: dict) -> None:
    """Delete crops aelab wrote for photos that are gone, changed, or were cut with other settings."""
    keep = {e["crop"] for e in new.values() if e.get("crop")}
    for entry in old.values():
        crop = entry.get("crop")
        if crop and crop not in keep:
            files.inside(out, crop, "crop").unlink(missing_ok=True)  # checked again: never outside `out`


def face_report(entries: dict) -> dict:
    """What the photos gave: counts, and the photos without a crop, by reason."""
    rejected = [r for r, e in entries.items() if not e["crop"] and e.get("rejected") and not e.get("error")]
    return {
        "photos": len(entries),
        "crops": sum(1 for e in entries.values() if e["crop"]),
        "candidates_rejected": sum(e.get("rejected", 0) for e in entries.values()),
        "no_face": [r for r, e in entries.items() if not e["crop"] and not e.get("error") and r not in rejected],
        "only_rejected_candidates": rejected,
        "unreadable": [r for r, e in entries.items() if e.get("error")],
    }


def read_report(photos: str | Path) -> dict:
    """The report of the crops already made for a photo folder ({} when there are none)."""
    return face_report(_read_manifest(crops_folder(Path(photos))).get("photos", {}))


def _shown(names: list[str]) -> str:
    return ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")


def _report(root: Path, out: Path, entries: dict) -> None:
    report = face_report(entries)
    no_face, rejected, unreadable = report["no_face"], report["only_rejected_candidates"], report["unreadable"]
    log.info("faces: %d photos in %s gave %d crops (%d candidates rejected by the face check); crops in %s",
             report["photos"], root, report["crops"], report["candidates_rejected"], out)
    if rejected:
        log.warning("%d of %d photos had only candidates that failed the face check (no eye inside, no "
                    "second detector agreeing), so they gave no crop: %s", len(rejected), len(entries),
                    _shown(rejected))
    if no_face:
        log.warning("%d of %d photos had no detectable face: %s (all listed in %s)",
                    len(no_face), len(entries), _shown(no_face), out / MANIFEST)
    if unreadable:
        log.warning("%d of %d files could not be read as images: %s", len(unreadable), len(entries),
                    ", ".join(unreadable[:10]))


def _load_config(cfg: DataConfig) -> tuple[ImageData, None]:
    return load_faces(cfg.path, cfg.input_size, cfg.channels, cfg.face_margin, cfg.background), None


SPEC = DatasetSpec("faces", "faces found and checked in a folder of photos (data.path), crops cached, 70x70 grey",
                   _load_config, check=lambda path: folder_availability(path, "a folder of photos"),
                   needs_path=True)
