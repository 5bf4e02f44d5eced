"""A small convolutional classifier trained on a dataset's own labelled images: its penultimate
layer is the feature space of aelab's Fréchet distance (Inception weights cannot be downloaded
here, and Inception features of 8x8 digits or binary sprites would say little anyway), and its
predictions judge conditional samples.

Images without labels (a folder of emojis, faces) get the same network trained on a task they
carry themselves: which way up an image is (rotated by 0, 90, 180 or 270 degrees; 0 or 180 for
non-square images), the self-supervised task of Gidaris et al. (2018). Telling a face's way up
needs its eyes, mouth and outline, so its features separate real-looking images from blobs.

Training is deterministic (fixed seed, one thread) and takes seconds on a CPU; the weights
are cached per dataset in `<cache>/classifiers/<hash of the training images and labels>.safetensors`,
so every run and every model on the same data is judged by the same classifier.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import torch
from torch import nn

from aelab.data import download
from aelab.data.dataset import ImageData, to_float
from aelab.errors import AelabError
from aelab.train.checkpoint import atomic_save, read

log = logging.getLogger("aelab")

VERSION = 2  # bump when the network or its training changes: the cache key includes it
MAX_TRAIN = 10000  # images it trains on at most (a seeded subset): seconds, not minutes
MIN_STEPS = 600  # the orientation task on a small folder: more epochs, not too few steps to learn it


class FeatureClassifier(nn.Module):
    """Two stride-2 convolutions, a 4x4 pooled map, a 64-unit feature layer, and the class logits;
    images larger than 32 pixels are first average-pooled by `shrink`."""

    def __init__(self, channels: int, n_classes: int, num_features: int = 64, shrink: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.AvgPool2d(shrink) if shrink > 1 else nn.Identity(),  # large images: 4x less work
            nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(32 * 16, num_features), nn.ReLU(),
        )
        self.head = nn.Linear(num_features, n_classes)
        self.num_features = num_features  # torchmetrics reads it instead of probing with a dummy image

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(to_float(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Features(nn.Module):
    """The classifier's feature layer as a module of its own: torchmetrics' `feature` extractor."""

    def __init__(self, classifier: FeatureClassifier):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)


def shrink(data: ImageData) -> int:
    return max(1, max(data.shape[1:]) // 32)


def rotations(data: ImageData) -> int:
    """The orientation task's classes: 4 quarter turns of square images, 2 half turns otherwise."""
    return 4 if data.shape[1] == data.shape[2] else 2


def n_classes(data: ImageData) -> int:
    return int(data.labels.max()) + 1 if data.labels is not None else rotations(data)


def task(data: ImageData) -> str:
    """What the classifier of `data` learns, for logs and docs."""
    return "its labels" if data.labels is not None else \
        f"which way up an image is ({rotations(data)} orientations; the data has no labels)"


def _examples(data: ImageData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, targets) to train on: at most MAX_TRAIN, a seeded subset; for unlabelled data each
    image once in each orientation, the orientation its target."""
    turns = 1 if data.labels is not None else rotations(data)
    index = np.arange(len(data))
    if len(index) * turns > MAX_TRAIN:
        index = np.sort(np.random.default_rng(seed).choice(len(index), MAX_TRAIN // turns, replace=False))
    images = torch.from_numpy(data.images[index])
    if data.labels is not None:
        return images, torch.from_numpy(data.labels[index])
    step = 4 // turns  # quarter turns per class: 1 for square images, 2 (half turns) otherwise
    rotated = torch.cat([torch.rot90(images, k * step, dims=(2, 3)) for k in range(turns)])
    return rotated, torch.arange(turns).repeat_interleave(len(images))


def train_classifier(data: ImageData, seed: int = 0, epochs: int = 8, batch_size: int = 128) -> FeatureClassifier:
    generator = torch.Generator().manual_seed(seed)
    images, labels = _examples(data, seed)
    if data.labels is None:
        epochs = max(epochs, -(-MIN_STEPS // -(-len(images) // batch_size)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(data.shape[0], n_classes(data), shrink=shrink(data))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a network this small runs faster on one thread, and the same everywhere
    try:
        for _ in range(epochs):
            for batch in torch.randperm(len(images), generator=generator).split(batch_size):
                loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def cache_key(data: ImageData, seed: int) -> str:
    digest = hashlib.sha256(f"v{VERSION} seed{seed} {data.images.shape} {data.images.dtype}".encode())
    digest.update(np.ascontiguousarray(data.images).data)
    if data.labels is not None:
        digest.update(np.ascontiguousarray(data.labels).data)
    return digest.hexdigest()[:24]


def classifier_for(data: ImageData, seed: int = 0) -> FeatureClassifier:
    """The classifier of these training images (of their labels, or for unlabelled images of their
    orientation): loaded from the cache, or trained and cached. The cached file carries its
    SHA-256 and the key of the images it was trained on, both checked: a damaged, altered or
    stale file is trained again, with one line saying so, never used and never a dead end."""
    key = cache_key(data, seed)
    path = download.cache_root() / "classifiers" / f"{data.name}-{key}.safetensors"
    if path.is_file():
        model = _cached(path, data, key)
        if model is not None:
            return model
    log.info("training the feature classifier of %s (%d images) on %s", data.name, len(data), task(data))
    model = train_classifier(data, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(model.state_dict(), path, {"dataset": data.name, "n_classes": n_classes(data), "version": VERSION,
                                           "trained_on": key})
    return model


def _cached(path, data: ImageData, key: str) -> FeatureClassifier | None:
    try:
        weights, meta = read(path, "feature classifier")
        if meta.get("trained_on") != key or meta.get("version") != VERSION:
            raise AelabError("it was trained on other images or by another version")
        model = FeatureClassifier(data.shape[0], n_classes(data), shrink=shrink(data))
        model.load_state_dict(weights)
    except (AelabError, RuntimeError) as e:
        log.warning("the cached feature classifier %s cannot be used (%s); training it again",
                    path.name, str(e).splitlines()[0][:200])
        return None
    return model.eval()


@torch.no_grad()
def predict(classifier: FeatureClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier(b).argmax(1) for b in images.split(batch_size)])
