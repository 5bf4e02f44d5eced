"""Paths through latent space: interpolations between two codes (linear, spherical) and the
shapes that `aelab animate` follows on the 2-D latent map (seed 000's GIFs).

Shapes are drawn in map coordinates inside a box `lo..hi` (where the test codes lie) and lifted
to latent space by the map's projection (see latent_map.Plane).
"""

from __future__ import annotations

import numpy as np

from aelab.errors import AelabError
from aelab.vocabulary import ANIMATION_PATHS as SHAPES, INTERPOLATION_METHODS as METHODS


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """`steps` codes from a to b, both ends included: (steps, latent_dim)."""
    return path_at(a, b, np.linspace(0.0, 1.0, steps), method)


def path_at(a: np.ndarray, b: np.ndarray, t: np.ndarray, method: str = "linear") -> np.ndarray:
    """The codes at fractions `t` (steps,) of the way from a to b: (steps, latent_dim). `aelab serve`
    asks for any fractions its slider sets."""
    t = np.asarray(t)[:, None]
    if method == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if method == "slerp":
        return slerp(a, b, t)
    raise AelabError(f"unknown interpolation method '{method}'; use {' or '.join(METHODS)}")


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (White 2016): follows the great circle between a and b, so the
    points keep the norm typical of Gaussian codes instead of cutting through the low-density
    centre. Nearly parallel codes fall back to linear interpolation. `t`: (steps,) or (steps, 1)."""
    t = np.asarray(t, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    cos = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(theta) < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)).astype(np.float32)


def shape(kind: str, frames: int, lo: np.ndarray, hi: np.ndarray, seed: int = 0,
          stops: np.ndarray | None = None) -> np.ndarray:
    """(frames, 2) points of a path in the box lo..hi of the latent map."""
    if frames < 2:
        raise AelabError(f"--frames {frames}: a path needs at least 2 frames")
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    if kind == "line":  # corner to corner
        t = np.linspace(0, 1, frames)[:, None]
        return lo + 0.05 * (hi - lo) + t * 0.9 * (hi - lo)
    if kind == "sine":  # left to right, two large waves (seed 000's smooth large sine)
        t = np.linspace(0, 1, frames)
        return np.c_[lo[0] + (0.05 + 0.9 * t) * (hi[0] - lo[0]),
                     centre[1] + 0.85 * half[1] * np.sin(4 * np.pi * t)]
    if kind == "circle":  # a loop: the last frame leads back into the first
        angle = np.linspace(0, 2 * np.pi, frames, endpoint=False)
        return centre + 0.75 * half * np.c_[np.cos(angle), np.sin(angle)]
    if kind == "random-walk":
        return _random_walk(frames, lo, hi, seed)
    if kind == "tour":
        if stops is None or len(stops) < 2:
            raise AelabError("--path tour visits the class centroids and needs a labelled test set "
                             "with at least 2 classes; use line, sine, circle or random-walk")
        return tour(stops, frames)
    raise AelabError(f"unknown path '{kind}'; use one of {', '.join(SHAPES)}")


def _random_walk(frames: int, lo: np.ndarray, hi: np.ndarray, seed: int) -> np.ndarray:
    """A slow, smooth, seeded wander (seed 000's slow smooth path): Gaussian steps, smoothed
    twice by a moving window, then scaled into the box."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal((frames + 40, 2)), axis=0)
    kernel = np.hanning(21)
    kernel /= kernel.sum()
    for _ in range(2):
        walk = np.stack([np.convolve(walk[:, d], kernel, mode="same") for d in range(2)], axis=1)
    walk = walk[20:20 + frames]  # drop the ends the window flattened
    span = np.ptp(walk, axis=0)
    unit = (walk - walk.min(0)) / np.where(span > 0, span, 1.0)
    return lo + (0.05 + 0.9 * unit) * (hi - lo)


def tour(stops: np.ndarray, frames: int) -> np.ndarray:
    """A closed loop through `stops` in order at constant speed: (frames, D)."""
    loop = np.concatenate([stops, stops[:1]])
    lengths = np.linalg.norm(np.diff(loop, axis=0), axis=1)
    at = np.concatenate([[0.0], np.cumsum(lengths)])
    s = np.linspace(0, at[-1], frames, endpoint=False)
    return np.stack([np.interp(s, at, loop[:, d]) for d in range(loop.shape[1])], axis=1)
