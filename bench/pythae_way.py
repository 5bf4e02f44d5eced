"""The classic VAE in pythae 0.1.2 (its TrainingPipeline), for the benchmark. Runs in the bench
venv (see BENCHMARKS.md), which has pythae; aelab's own venv does not need it."""

from __future__ import annotations

import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig


class Encoder(BaseEncoder):
    def __init__(self, hidden: int, latent: int):
        super().__init__()
        self.fc1, self.mean, self.logvar = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)

    def forward(self, x):
        h = F.relu(self.fc1(x.reshape(len(x), 784)))
        return ModelOutput(embedding=self.mean(h), log_covariance=self.logvar(h))


class Decoder(BaseDecoder):
    def __init__(self, hidden: int, latent: int):
        super().__init__()
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, 784)

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).reshape(len(z), 1, 28, 28))


def train(a, train_images: np.ndarray) -> VAE:
    if a.model != "vae" or a.precision != "fp32":
        raise SystemExit("the pythae way runs the fp32 classic VAE only")
    torch.manual_seed(a.seed)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=a.latent, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(a.hidden, a.latent), decoder=Decoder(a.hidden, a.latent))
    with tempfile.TemporaryDirectory() as out:
        trainer = BaseTrainerConfig(output_dir=out, num_epochs=a.epochs, learning_rate=a.lr,
                                    per_device_train_batch_size=a.batch, optimizer_cls="Adam",
                                    steps_saving=None, no_cuda=True, seed=a.seed)
        TrainingPipeline(training_config=trainer, model=model)(
            train_data=train_images.astype(np.float32) / 255)
    return model


@torch.no_grad()
def test_loss(model: VAE, test_images: np.ndarray) -> float:
    """The negative ELBO per image with one seeded z draw, as the other ways compute it."""
    import textbook

    model.eval()
    torch.manual_seed(1)
    total = 0.0
    for start in range(0, len(test_images), 1000):
        x = torch.from_numpy(test_images[start:start + 1000]).float() / 255
        enc = model.encoder(x)
        mu, logvar = enc.embedding, enc.log_covariance
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        total += float(textbook.vae_loss(model.decoder(z).reconstruction.reshape(len(x), 784), x, mu, logvar))
    return total / len(test_images)
