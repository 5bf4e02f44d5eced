"""A small convolutional classifier trained on a dataset's own labelled images: its penultimate
layer is the feature space of aelab's Fréchet distance (Inception weights cannot be downloaded
here, and Inception features of 8x8 digits or binary sprites would say little anyway), and its
predictions judge conditional samples.

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

VERSION = 1  # bump when the network or its training changes: the cache key includes it
MAX_TRAIN = 10000  # images it trains on at most (a seeded subset): seconds, not minutes


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


def _require_labels(data: ImageData) -> None:
    if data.labels is None:
        raise AelabError(f"{data.name} has no labels: a feature classifier (Fréchet distance, sample "
                         "accuracy) needs a labelled dataset")


def train_classifier(data: ImageData, seed: int = 0, epochs: int = 8, batch_size: int = 128) -> FeatureClassifier:
    _require_labels(data)
    generator = torch.Generator().manual_seed(seed)
    index = np.arange(len(data))
    if len(index) > MAX_TRAIN:
        index = np.sort(np.random.default_rng(seed).choice(len(index), MAX_TRAIN, replace=False))
    images = torch.from_numpy(data.images[index])
    labels = torch.from_numpy(data.labels[index])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(data.shape[0], int(data.labels.max()) + 1, shrink=shrink(data))
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
    digest.update(np.ascontiguousarray(data.labels).data)
    return digest.hexdigest()[:24]


def classifier_for(data: ImageData, seed: int = 0) -> FeatureClassifier:
    """The classifier of these training images: loaded from the cache, or trained and cached."""
    _require_labels(data)
    path = download.cache_root() / "classifiers" / f"{data.name}-{cache_key(data, seed)}.safetensors"
    n_classes = int(data.labels.max()) + 1
    model = FeatureClassifier(data.shape[0], n_classes, shrink=shrink(data))
    if path.is_file():
        weights, _ = read(path, "feature classifier")
        model.load_state_dict(weights)
        return model.eval()
    log.info("training the feature classifier of %s (%d images)", data.name, len(data))
    model = train_classifier(data, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(model.state_dict(), path, {"dataset": data.name, "n_classes": n_classes, "version": VERSION})
    return model


@torch.no_grad()
def predict(classifier: FeatureClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier(b).argmax(1) for b in images.split(batch_size)])
