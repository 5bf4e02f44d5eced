"""model.type 'rae': the regularised autoencoder (Ghosh, Sajjadi, Vergari, Black & Schölkopf,
2020, "From Variational to Deterministic Autoencoders"). A VAE whose noise is taken out: the
encoder is deterministic, and what the noise did is done by two explicit terms,

    loss = reconstruction_loss + embedding_weight * code_penalty + decoder_weight * decoder_penalty

    code_penalty    = |z|^2 / 2                     keeps the codes near the origin (the KL's job)
    decoder_penalty = regularizer 'l2': |theta|^2   the decoder's weights (RAE-L2), or
                      regularizer 'gp': |J(z)|_F^2  the squared Frobenius norm of the decoder's
                                                    Jacobian at the code (RAE-GP): a smooth decoder

The gradient penalty is estimated without building the Jacobian: for v ~ N(0, I) over the
image's values, E |v^T J|^2 = |J|_F^2, and v^T J is one backward pass through the decoder
(kept in the graph, so the loss's own backward pass differentiates it). One draw per image, from
the run's generator. Validation runs under no_grad; the penalty then takes its own short graph.

With no prior to draw from, new codes come from a density fitted to the training codes after
training ("ex-post density estimation", the paper's 10-component GMM): the config makes `gmm`
the type's sampler (model.sampler auto; model.gmm_components sets the components). An RAE has no
likelihood: the IWAE NLL and the ELBO do not apply.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import reconstruction_loss
from aelab.vocabulary import RAE_REGULARIZERS


class RAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the decoder's: L2 on its weights (RAE-L2), or its gradient penalty (RAE-GP)
    regularizer: Literal[RAE_REGULARIZERS] = "l2"  # type: ignore[valid-type]
    embedding_weight: float = Field(1e-4, ge=0)  # beta, the weight of |z|^2 / 2 (pythae's default, the paper's scale)
    decoder_weight: float = Field(1e-7, ge=0)  # lambda, the weight of the decoder's penalty (as pythae's)


class RAE(Autoencoder):
    Options = RAEOptions

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        code_penalty = 0.5 * out.z.square().sum(1).mean()
        if self.options.regularizer == "l2":
            decoder_penalty = sum(p.square().sum() for p in self.decoder.parameters())
        else:
            decoder_penalty = self.gradient_penalty(out.z, out.logits, generator)
        loss = recon + self.options.embedding_weight * code_penalty + self.options.decoder_weight * decoder_penalty
        return self.adversarial({"loss": loss, "reconstruction_loss": recon, "code_penalty": code_penalty,
                                 "decoder_penalty": decoder_penalty}, out, x)

    def gradient_penalty(self, z: torch.Tensor, logits: torch.Tensor,
                         generator: torch.Generator | None) -> torch.Tensor:
        """() batch mean of |J(z)|_F^2, J the Jacobian of the decoded images at the codes z (B, d)."""
        if not torch.is_grad_enabled():  # validation: a graph of its own, thrown away after
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                return self.gradient_penalty(z, self.decoder(z), generator).detach()
        images = self.output_activation(logits)  # (B, C, H, W) the decoder's output, in the data's range
        v = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        (vjp,) = torch.autograd.grad(images, z, grad_outputs=v, create_graph=True)  # (B, d): v^T J
        return vjp.square().sum(1).mean()
