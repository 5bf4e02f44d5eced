"""Which Haar detections are faces: candidates from OpenCV's bundled cascades, then a check.

A single frontal cascade at the usual settings both misses faces (the cameraman of scikit-image's
`camera` photo, seen half in profile, in 1 of 30 shifted and scaled copies) and finds "faces" in
coins, the moon or a space shuttle. So candidates come from three searches with a permissive
neighbour count (frontal faces, profiles facing left, profiles facing right), each at least
1/12 of the photo's shorter side, and a candidate is kept only if
- an eye (haarcascade_eye) is found in the upper 60% of its box, sized like an eye of that face, or
- another search found (nearly) the same box: two detections agreeing, as for a profile whose
  eye the eye cascade cannot see.
On scikit-image's photos (tests/test_data_faces.py): LFW faces 83 of 100 kept, its non-face
patches 0 of 100; no crop from coins, moon, coffee, rocket, cat, bricks or grass; the
cameraman in 19 of 30 jittered copies, never a wrong box.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from aelab.errors import AelabError

FRONTAL, PROFILE, EYE = "haarcascade_frontalface_default.xml", "haarcascade_profileface.xml", "haarcascade_eye.xml"
SCALE_STEP = 1.05  # between searched face sizes: finer than OpenCV's 1.1, for faces between sizes
MIN_NEIGHBOURS = 3  # overlapping detections a candidate needs (permissive: the check comes after)
MIN_FACE_FRACTION = 1 / 12  # of the photo's shorter side: smaller candidates are specks
MIN_FACE_PIXELS = 24  # the cascades' own window: nothing smaller can be a detection
EYE_REGION = 0.6  # eyes are looked for in this upper part of a face box
AGREEMENT_IOU = 0.3  # two boxes overlapping this much are the same face
SETTINGS = {"cascades": [FRONTAL, PROFILE, EYE], "scale_step": SCALE_STEP, "min_neighbours": MIN_NEIGHBOURS,
            "min_face_fraction": round(MIN_FACE_FRACTION, 4), "check": "eye or two detectors agree"}

Box = tuple[int, int, int, int]  # x, y, w, h


class Detectors(NamedTuple):
    frontal: object
    profile: object
    eye: object


def detectors() -> Detectors:
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved the Haar cascades out
        raise AelabError(f"OpenCV {cv2.__version__} has no Haar face detector; install a 4.x version: "
                         "pip install 'opencv-python-headless>=4.8,<5'")
    loaded = []
    for name in (FRONTAL, PROFILE, EYE):
        cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, name))
        if cascade.empty():
            raise AelabError(f"OpenCV's {name} could not be loaded from {cv2.data.haarcascades}; "
                             "reinstall opencv-python-headless")
        loaded.append(cascade)
    return Detectors(*loaded)


def candidates(grey: np.ndarray, found: Detectors) -> list[Box]:
    """Every detection of the three searches in an equalised grey uint8 image."""
    side = max(MIN_FACE_PIXELS, round(min(grey.shape) * MIN_FACE_FRACTION))
    width = grey.shape[1]
    boxes: list[Box] = []
    for cascade, mirrored in ((found.frontal, False), (found.profile, False), (found.profile, True)):
        image = np.ascontiguousarray(grey[:, ::-1]) if mirrored else grey
        hits = cascade.detectMultiScale(image, scaleFactor=SCALE_STEP, minNeighbors=MIN_NEIGHBOURS,
                                        minSize=(side, side))
        for x, y, w, h in (hits.tolist() if len(hits) else []):
            boxes.append((width - x - w if mirrored else x, y, w, h))
    return boxes


def has_eye(grey: np.ndarray, box: Box, found: Detectors) -> bool:
    x, y, w, h = box
    region = grey[y:y + round(h * EYE_REGION), x:x + w]
    smallest, largest = max(5, w // 8), max(6, w // 2)
    eyes = found.eye.detectMultiScale(region, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest),
                                      maxSize=(largest, largest))
    return len(eyes) > 0


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def checked_faces(grey: np.ndarray, found: Detectors) -> tuple[list[Box], int]:
    """(the candidates that pass the check, how many were rejected) in an equalised grey image."""
    boxes = candidates(grey, found)
    kept = [b for i, b in enumerate(boxes)
            if any(overlap(b, o) > AGREEMENT_IOU for j, o in enumerate(boxes) if j != i) or has_eye(grey, b, found)]
    return kept, len(boxes) - len(kept)
