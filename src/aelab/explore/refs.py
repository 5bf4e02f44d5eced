"""References to images as users type them: a test-set index or a label.

    "12", "#12", "index:12"   test image 12 ("-1" is the last one)
    "6", "label:6", "a"       a label: for a single image, the test image of that label whose code
                              is closest to the label's mean code (a typical one); in arithmetic,
                              the mean code itself

A text that is both a label and a number (digits: "6") is the label; write "#6" for the index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aelab.errors import AelabError
from aelab.explore.context import Context


@dataclass(frozen=True)
class Ref:
    text: str  # as the user wrote it
    index: int | None = None  # a test image
    label: str | None = None  # a class

    @property
    def name(self) -> str:
        """Short and file-name safe: '12', '6', 'a'."""
        raw = str(self.index) if self.index is not None else self.label
        return "".join(ch if ch.isalnum() else "_" for ch in raw)


def parse_ref(ctx: Context, text: str) -> Ref:
    text = str(text).strip()
    labels = list(ctx.class_means())
    if text.startswith("label:"):
        return _label(ctx, text, text[6:], labels)
    if text.startswith("#") or text.startswith("index:"):
        return _index(ctx, text, text.split(":", 1)[-1].lstrip("#"))
    if text in labels:
        return Ref(text, label=text)
    try:
        int(text)
    except ValueError:
        hint = f"its labels are {', '.join(labels)}" if labels else "its test set has no labels"
        raise AelabError(f"'{text}' is neither a test-set index nor a label of {ctx.test.name}; {hint}") from None
    return _index(ctx, text, text)


def _label(ctx: Context, text: str, name: str, labels: list[str]) -> Ref:
    if name not in labels:
        hint = f"its labels are {', '.join(labels)}" if labels else "its test set has no labels"
        raise AelabError(f"'{name}' is not a label of {ctx.test.name}'s test set; {hint}")
    return Ref(text, label=name)


def _index(ctx: Context, text: str, number: str) -> Ref:
    n = len(ctx.test)
    try:
        i = int(number)
    except ValueError:
        raise AelabError(f"'{text}': '{number}' is not a whole number (a test-set index)") from None
    if not -n <= i < n:
        raise AelabError(f"test index {i} is out of range: the test set has {n} images (0..{n - 1})")
    return Ref(text, index=i % n)


def image_index(ctx: Context, ref: Ref) -> int:
    """The test image a reference stands for (a typical one for a label)."""
    if ref.index is not None:
        return ref.index
    names = ctx.test.label_names
    members = np.flatnonzero(ctx.test.labels == (names.index(ref.label) if names else int(ref.label)))
    distances = np.linalg.norm(ctx.test_codes[members] - ctx.class_means()[ref.label], axis=1)
    return int(members[np.argmin(distances)])


def code(ctx: Context, ref: Ref) -> np.ndarray:
    """The latent code a reference stands for: an image's code or a label's mean code."""
    if ref.index is not None:
        return ctx.test_codes[ref.index]
    return ctx.class_means()[ref.label]


def describe(ctx: Context, index: int) -> str:
    """'test #12 (6)': for captions."""
    label = ctx.test.label_text(index)
    return f"test #{index}" + (f" ({label})" if label else "")
