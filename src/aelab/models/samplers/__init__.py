"""Where new codes come from (`aelab generate --sampler`, `model.sampler`):

- `prior`: the model's prior (VAE family, WAE: N(0, I); vamp: its VampPrior; VQ-VAE: its
  categorical over codes; grid VQ-VAE: its PixelCNN over the code grid);
- `gaussian`: one Gaussian fitted to the training codes (what a plain AE, with no prior, uses);
- `gmm`: a Gaussian mixture fitted to the training codes (`model.gmm_components` components);
- `flow`, `two_stage`, `diffusion`: small networks learned on the training codes after training
  (a normalizing flow, a second-stage VAE, a denoising diffusion model), settings in
  `model.sampler_options.<kind>`; a run stores each in its own sampler_<kind>.safetensors;
- `auto` [default]: the model's `model.sampler` from its config, whose own `auto` is the prior
  when the model has one, else the fitted Gaussian.

One file per kind; draw.py is the one path behind every caller; storage.py stores them."""

from aelab.models.samplers.draw import (SAMPLER_CLASSES, check_options, check_request, draw, fit, has_prior,
                                        options_for, resolve)
from aelab.models.samplers.gaussian import FittedGaussian
from aelab.models.samplers.gmm import FittedGMM
from aelab.models.samplers.storage import PREFIX, from_tensors, metadata, problem, to_tensors, weights_fingerprint
from aelab.vocabulary import SAMPLER_CHOICES as SAMPLERS

__all__ = ["SAMPLER_CLASSES", "SAMPLERS", "FittedGaussian", "FittedGMM", "PREFIX", "check_options", "check_request",
           "draw", "fit", "from_tensors", "has_prior", "metadata", "options_for", "problem", "resolve",
           "to_tensors", "weights_fingerprint"]
