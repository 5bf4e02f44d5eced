"""Denoising quality at several noise levels (seed 003's table), with noise fixed by a seed so
that every model is scored on exactly the same corrupted images.

Pixel accuracy (binary data only): the share of all pixels of all images whose reconstruction,
thresholded at 0.5, equals the clean pixel. On the 5x7 font one point of accuracy is about 11 of
its 32 x 35 = 1120 pixels. `noisy_pixel_accuracy` is the same measure for the corrupted input
itself: what the model has to improve on.
"""

from __future__ import annotations

import torch

from aelab.data.dataset import to_float
from aelab.data.noise import corrupt, noise_from_text
from aelab.models.autoencoder import Autoencoder


def noise_levels(text: str) -> list:
    """'gaussian:0.2,0.3,0.4' -> three noise configs; 'bitflip:0.05,salt_pepper:0.1' works too.
    Each level is checked as `aelab denoise` checks its --noise: AelabError, one line, when wrong."""
    levels, kind = [], None
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if ":" not in item and kind is not None:  # a bare number continues the previous kind
            item = f"{kind}:{item}"
        levels.append(noise_from_text(item))
        kind = levels[-1].type
    return levels


def noise_name(noise) -> str:
    level = getattr(noise, "std", None)
    return f"{noise.type}:{level if level is not None else noise.p:g}"


@torch.no_grad()
def denoising(model: Autoencoder, data: torch.Tensor, noise, seed: int, binary: bool,
              repeats: int = 1, batch_size: int = 1024) -> dict[str, float]:
    """Reconstruct clean images from `repeats` seeded corruptions of `data`; averages over all."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    sums = {"mse": 0.0, "noisy_mse": 0.0, "wrong": 0.0, "noisy_wrong": 0.0, "over_one": 0.0}
    for _ in range(repeats):
        for start in range(0, len(data), batch_size):
            x = to_float(data[start:start + batch_size])
            x_in = corrupt(x, noise, generator)
            x_hat = model.output_activation(model(x_in, sample=False).logits)
            sums["mse"] += float((x_hat - x).square().sum())
            sums["noisy_mse"] += float((x_in - x).square().sum())
            if binary:
                wrong = ((x_hat >= 0.5) != (x >= 0.5)).flatten(1).sum(1)
                sums["wrong"] += float(wrong.sum())
                sums["over_one"] += float((wrong > 1).sum())
                sums["noisy_wrong"] += float(((x_in >= 0.5) != (x >= 0.5)).sum())
    model.train(was_training)
    images = repeats * len(data)
    pixels = images * data[0].numel()
    result = {"noise": noise_name(noise), "repeats": repeats,
              "mse": sums["mse"] / images, "noisy_mse": sums["noisy_mse"] / images}
    if binary:
        result.update({"pixel_accuracy": 1 - sums["wrong"] / pixels,
                       "noisy_pixel_accuracy": 1 - sums["noisy_wrong"] / pixels,
                       "images_with_over_one_wrong_pixel": sums["over_one"] / repeats})
    return result


def denoising_table(model: Autoencoder, data: torch.Tensor, levels: list, seed: int, binary: bool,
                    repeats: int = 1) -> list[dict]:
    return [denoising(model, data, noise, seed, binary, repeats) for noise in levels]
