"""Per-sample metrics of a model on a whole split, computed in large batches without gradients.

- `loss`, `reconstruction_loss`, `kl`: the training objective, with the run's seeded draws of
  noise (DAE) and of z (VAE), so the same model always gets the same numbers;
- `mse`, `bce`, `l1`: of the deterministic reconstruction (clean input, z = posterior mean),
  summed over pixels, averaged over images;
- binary data: `pixel_accuracy` and wrong-pixel counts at threshold 0.5.
"""

from __future__ import annotations

import torch

from aelab.data.dataset import to_float
from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import reconstruction_loss
from aelab.train.objective import mean_objective as objective  # the training objective, seeded


@torch.no_grad()
def evaluate(model: Autoencoder, data: torch.Tensor, seed: int, binary: bool,
             batch_size: int = 1024, labels: torch.Tensor | None = None) -> dict[str, float]:
    """`labels` go to the objective of models that need them (conditional models)."""
    metrics = objective(model, data, seed, batch_size, labels=labels)
    was_training = model.training
    model.eval()
    sums = {"mse": 0.0, "bce": 0.0, "l1": 0.0}
    wrong_counts = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        if labels is None:
            out = model(x, sample=False)
        else:  # a conditional model maps each image with its label
            out = model(x, sample=False, labels=labels[start:start + batch_size])
        for kind in sums:
            sums[kind] += float(reconstruction_loss(model, out, x, kind).sum())
        if binary:
            x_hat = model.output_activation(out.logits)
            wrong_counts.append(((x_hat >= 0.5) != (x >= 0.5)).flatten(1).sum(1))
    model.train(was_training)
    metrics.update({k: v / len(data) for k, v in sums.items()})
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
