"""Sample quality as numbers: the Fréchet distance between real and generated images in the feature
space of the dataset's own small classifier (`feature_classifier`), computed by torchmetrics'
FrechetInceptionDistance with that classifier as its custom `feature` extractor, and the accuracy
with which the classifier recognises conditional samples as the class they were asked for.

Not comparable to published FID numbers (those use Inception-v3 features of 299x299 RGB images);
comparable between models and runs on the same dataset, which is what aelab compares.
"""

from __future__ import annotations

import numpy as np
import torch

from aelab.data.dataset import to_float
from aelab.evaluate.feature_classifier import FeatureClassifier, Features, predict


def _tensor(images) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    return to_float(x.detach().cpu())


@torch.no_grad()
def frechet_distance(real, generated, classifier: FeatureClassifier, batch_size: int = 512) -> float:
    """Fréchet distance between two sets of images (N, C, H, W) (uint8, or floats in [0, 1])."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, generated = _tensor(real), _tensor(generated)
    if len(real) < 2 or len(generated) < 2:
        raise ValueError("a Fréchet distance needs at least 2 real and 2 generated images")
    # Features has `num_features`, so torchmetrics does not probe it with a 299x299 dummy image.
    metric = FrechetInceptionDistance(feature=Features(classifier.eval()), normalize=True)
    for images, is_real in ((real, True), (generated, False)):
        for batch in images.split(batch_size):
            metric.update(batch, real=is_real)
    return float(metric.compute())


def classifier_accuracy(images, labels, classifier: FeatureClassifier) -> float:
    """The fraction of `images` (N, C, H, W) the classifier assigns to `labels` (N,) (label indices):
    how often a conditional model's "7" is seen as a 7."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    predicted = predict(classifier.eval(), _tensor(images))
    return float((predicted == labels).float().mean())
