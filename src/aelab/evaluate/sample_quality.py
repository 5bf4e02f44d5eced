"""Sample quality as numbers: the Fréchet distance between real and generated images in the feature
space of the dataset's own small classifier (`feature_classifier`), computed by torchmetrics'
FrechetInceptionDistance with that classifier as its custom `feature` extractor, and the accuracy
with which the classifier recognises conditional samples as the class they were asked for.

A distance alone says little, so `judge` puts two references beside it: the same distance for as
many real training images (the floor: what a perfect generator would score with that many
images; the ratio to it is comparable across datasets), and a copy check, each sample's distance
to its nearest training image against that of held-out real images (a sampler that memorised its
training codes scores a fine distance with copies; its samples then sit closer to the training
images than new real images do).

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


@torch.no_grad()
def nearest(images: np.ndarray, reference: np.ndarray, chunk: int = 8192,
            k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each image, the index of the closest reference image (Euclidean, pixel space) and the
    root-mean-square pixel difference to it (0 = an exact copy, 1 = black vs white): (N,) each;
    with `k`, the k closest, nearest first: (N, k) each. uint8 images are read as [0, 1]."""
    x = _tensor(images).flatten(1)
    take = min(k or 1, len(reference))
    found_d, found_i = [], []
    for start in range(0, len(reference), chunk):
        ref = _tensor(reference[start:start + chunk]).flatten(1)
        d, i = torch.cdist(x, ref).topk(min(take, len(ref)), dim=1, largest=False)
        found_d.append(d)
        found_i.append(i + start)
    d, order = torch.cat(found_d, 1).topk(take, dim=1, largest=False)
    index = torch.cat(found_i, 1).gather(1, order)
    rms = d / np.sqrt(x.shape[1])
    if k is None:
        return index[:, 0].numpy(), rms[:, 0].numpy()
    return index.numpy(), rms.numpy()


def judge(samples: np.ndarray, splits: dict, train_images: np.ndarray, classifier: FeatureClassifier,
          seed: int, name: str = "frechet_distance") -> dict[str, dict]:
    """Per split (name -> its images (N, C, H, W)): the Fréchet distance `name` of `samples` to
    the split, `frechet_distance_real` (the floor: as many training images as samples, seeded, to
    the split), their ratio (`frechet_ratio`, with `name`'s suffix), the median RMS pixel distance
    of the samples to their nearest training image (`nearest_training_rms`) and, on held-out
    splits, that of the split's own images (`nearest_training_rms_real`): samples much nearer than
    real images are copies."""
    suffix = name.removeprefix("frechet_distance")
    pick = np.random.default_rng(seed).choice(len(train_images), min(len(samples), len(train_images)), replace=False)
    real = train_images[np.sort(pick)]
    copies = float(np.median(nearest(samples, train_images)[1]))
    result = {}
    for split, images in splits.items():
        fd, floor = frechet_distance(images, samples, classifier), frechet_distance(images, real, classifier)
        row = {name: fd, "frechet_distance_real": floor, f"frechet_ratio{suffix}": fd / max(floor, 1e-12),
               f"nearest_training_rms{suffix}": copies}
        if split != "train":
            row["nearest_training_rms_real"] = float(np.median(nearest(images, train_images)[1]))
        result[split] = row
    return result


def classifier_accuracy(images, labels, classifier: FeatureClassifier) -> float:
    """The fraction of `images` (N, C, H, W) the classifier assigns to `labels` (N,) (label indices):
    how often a conditional model's "7" is seen as a 7."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    predicted = predict(classifier.eval(), _tensor(images))
    return float((predicted == labels).float().mean())
