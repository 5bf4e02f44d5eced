"""Per-sample metrics of a model on a whole split, computed in large batches without gradients.

- `loss`, `reconstruction_loss`, `kl`: the training objective, with the run's seeded draws of
  noise (DAE) and of z (VAE), so the same model always gets the same numbers;
- `mse`, `bce`, `l1`: of the deterministic reconstruction (clean input, z = posterior mean),
  summed over pixels, averaged over images;
- `psnr` (dB) and `ssim` of the same reconstruction, per image then averaged (torchmetrics; data
  range 1; SSIM with its standard 11x11 Gaussian window, so only for images at least 11 pixels
  on each side);
- binary data: `pixel_accuracy` and wrong-pixel counts at threshold 0.5.
"""

from __future__ import annotations

import torch

from aelab.data.dataset import to_float
from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import image_loss, reconstruction_loss
from aelab.train.objective import mean_objective as objective  # the training objective, seeded


@torch.no_grad()
def evaluate(model: Autoencoder, data: torch.Tensor, seed: int, binary: bool,
             batch_size: int = 1024, labels: torch.Tensor | None = None) -> dict[str, float]:
    """`labels` go to the objective of models that need them (conditional models)."""
    metrics = objective(model, data, seed, batch_size, labels=labels)
    was_training = model.training
    model.eval()
    sums = {"mse": 0.0, "bce": 0.0, "l1": 0.0}
    quality = {"psnr": 0.0, "ssim": 0.0} if min(data.shape[-2:]) >= SSIM_WINDOW else {"psnr": 0.0}
    wrong_counts = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        if labels is None:
            out = model(x, sample=False)
        else:  # a conditional model maps each image with its label
            out = model(x, sample=False, labels=labels[start:start + batch_size])
        for kind in sums:
            sums[kind] += float(reconstruction_loss(model, out, x, kind).sum())
        for name, value in image_quality(model.output_activation(out.logits), x, list(quality)).items():
            quality[name] += float(value.sum())
        if binary:
            x_hat = model.output_activation(out.logits)
            wrong_counts.append(((x_hat >= 0.5) != (x >= 0.5)).flatten(1).sum(1))
    model.train(was_training)
    metrics.update({k: v / len(data) for k, v in sums.items()})
    metrics.update({k: v / len(data) for k, v in quality.items()})
    if binary:
        wrong = torch.cat(wrong_counts)
        pixels = data[0].numel()
        metrics.update({
            "pixel_accuracy": 1.0 - float(wrong.sum()) / (len(data) * pixels),
            "max_wrong_pixels": int(wrong.max()),
            "images_with_wrong_pixels": int((wrong > 0).sum()),
            "images_with_over_one_wrong_pixel": int((wrong > 1).sum()),
        })
    return metrics


@torch.no_grad()
def constant_baseline(train: torch.Tensor, test: torch.Tensor, kind: str, batch_size: int = 1024,
                      ms_ssim_weight: float | None = None) -> float:
    """The reconstruction loss (per image, of `kind`) of the best constant guess, the same image
    for every input: each pixel's training mean (BCE, MSE, MS-SSIM + L1) or median (L1). A model
    that does not beat it has learned nothing about its inputs."""
    if kind == "l1":
        guess = to_float(train.flatten(1).median(0).values)
    else:
        total = sum(to_float(train[i:i + batch_size]).flatten(1).double().sum(0)
                    for i in range(0, len(train), batch_size))
        guess = (total / len(train)).float()
    loss = 0.0
    for start in range(0, len(test), batch_size):
        x = to_float(test[start:start + batch_size]).flatten(1)
        if kind == "ms_ssim_l1":
            images = x.view(-1, *test.shape[1:])
            loss += float(image_loss(guess.view(test.shape[1:]).expand_as(images), images, kind, ms_ssim_weight).sum())
        elif kind == "bce":
            p = guess.clamp(1e-6, 1 - 1e-6)
            loss += float(-(x * p.log() + (1 - x) * torch.log1p(-p)).sum())
        elif kind == "mse":
            loss += float((x - guess).square().sum())
        else:
            loss += float((x - guess).abs().sum())
    return loss / len(test)
SSIM_WINDOW = 11  # torchmetrics' default Gaussian window, the one SSIM is usually reported with
MAX_PSNR = 100.0  # dB, for exact reconstructions (infinite PSNR), so that averages stay finite


def image_quality(x_hat: torch.Tensor, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Per-image PSNR (dB) and SSIM of reconstructions `x_hat` against `x`, both in [0, 1]."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    x_hat = x_hat.float().clamp(0, 1)  # identity/relu outputs may leave the data's range
    found = {}
    if "psnr" in names:
        # A perfect reconstruction has infinite PSNR; cap at 100 dB so that averages stay finite.
        psnr = peak_signal_noise_ratio(x_hat, x, data_range=1.0, reduction="none", dim=(1, 2, 3))
        found["psnr"] = psnr.nan_to_num(MAX_PSNR, posinf=MAX_PSNR).clamp(max=MAX_PSNR)
    if "ssim" in names:
        found["ssim"] = structural_similarity_index_measure(x_hat, x, data_range=1.0, reduction="none")
    return found
