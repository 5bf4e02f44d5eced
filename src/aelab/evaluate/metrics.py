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
from aelab.data.noise import corrupt
from aelab.models.autoencoder import Autoencoder
from aelab.train.losses import loss_terms, reconstruction_loss


@torch.no_grad()
def objective(model: Autoencoder, data: torch.Tensor, seed: int, batch_size: int = 1024) -> dict[str, float]:
    """The training objective's terms averaged over `data`, with seeded noise and z draws."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    noise = model.config.noise
    sums: dict[str, torch.Tensor] = {}
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        x_in = corrupt(x, noise, generator) if noise is not None else x
        terms = loss_terms(model, model(x_in, generator=generator), x)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v * len(x)
    model.train(was_training)
    return {k: float(v) / len(data) for k, v in sums.items()}


@torch.no_grad()
def evaluate(model: Autoencoder, data: torch.Tensor, seed: int, binary: bool,
             batch_size: int = 1024) -> dict[str, float]:
    metrics = objective(model, data, seed, batch_size)
    was_training = model.training
    model.eval()
    sums = {"mse": 0.0, "bce": 0.0, "l1": 0.0}
    quality = {"psnr": 0.0, "ssim": 0.0} if min(data.shape[-2:]) >= SSIM_WINDOW else {"psnr": 0.0}
    wrong_counts = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        out = model(x, sample=False)
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
