"""The textbook PyTorch loops the benchmark compares against, written as the tutorials write them:
a DataLoader over a TensorDataset of floats with shuffle=True, nn defaults everywhere.

- the classic VAE of pytorch/examples (vae/main.py): 784-H-latent, ReLU, sigmoid output,
  loss BCE summed over pixels and batch + KL, Adam;
- seed 002's convolutional autoencoder (tanh, MSE, Adam) as the same layers in plain nn;
- the image network of examples/images_rgb_vae.json (`image_conv` [32, 64, 128, 256], BatchNorm,
  LeakyReLU, latent 128, a beta-VAE with MSE) as the same layers in plain nn.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self, hidden: int = 400, latent: int = 20):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def vae_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class ConvAE(nn.Module):
    """Seed 002: conv 8-16-32 (3x3, stride 2, tanh), dense 64, code 2, mirrored decoder."""

    def __init__(self, latent: int = 2):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, 2, 1), nn.Tanh(), nn.Conv2d(8, 16, 3, 2, 1), nn.Tanh(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.Tanh(), nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64), nn.Tanh(), nn.Linear(64, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, 64), nn.Tanh(), nn.Linear(64, 32 * 4 * 4), nn.Tanh(), nn.Unflatten(1, (32, 4, 4)),
            nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=0), nn.Tanh(),  # 4 -> 7
            nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), nn.Tanh(),  # 7 -> 14
            nn.ConvTranspose2d(8, 1, 3, 2, 1, output_padding=1), nn.Sigmoid())  # 14 -> 28

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ImageVAE(nn.Module):
    """aelab's image_conv VAE for 64x64 RGB: stride-2 3x3 conv + BatchNorm + LeakyReLU per stage,
    a linear head to [mean | log-variance]; the decoder mirrors it with 4x4 transposed convs."""

    def __init__(self, latent: int = 128, channels=(32, 64, 128, 256), image_channels: int = 3, size: int = 64):
        super().__init__()
        layers, c_in = [], image_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU()]
            c_in = c
        side = size // 2 ** len(channels)
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, 2 * latent))
        layers = [nn.Linear(latent, c_in * side * side), nn.Unflatten(1, (c_in, side, side)),
                  nn.BatchNorm2d(c_in), nn.LeakyReLU()]
        for c in reversed(channels[:-1]):
            layers += [nn.ConvTranspose2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU()]
            c_in = c
        self.decoder = nn.Sequential(*layers, nn.ConvTranspose2d(c_in, image_channels, 4, 2, 1), nn.Sigmoid())

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def image_vae_loss(recon, x, mu, logvar, beta: float):
    """Per batch: MSE summed over pixels + beta * KL, averaged over the images."""
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (F.mse_loss(recon, x, reduction="sum") + beta * kl) / len(x)


IMAGE_BETA = 0.05  # examples/images_rgb_vae.json's model.beta


def train(kind: str, train_images, epochs: int, batch_size: int, lr: float, hidden: int = 400,
          latent: int = 20, precision: str = "fp32", seed: int = 0, device: str = "cpu") -> nn.Module:
    torch.manual_seed(seed)
    data = TensorDataset(torch.from_numpy(train_images).float() / 255)
    # on a GPU as the tutorials do it: pinned host batches copied to the device each step
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, pin_memory=device == "cuda")
    model = {"vae": lambda: VAE(hidden, latent), "conv": lambda: ConvAE(latent),
             "image": lambda: ImageVAE(latent, image_channels=train_images.shape[1], size=train_images.shape[-1])}[kind]()
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for (x,) in loader:
            x = x.to(device, non_blocking=True)
            optimizer.zero_grad()
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                if kind == "vae":
                    recon, mu, logvar = model(x)
                    loss = vae_loss(recon.float(), x, mu.float(), logvar.float())
                elif kind == "image":
                    recon, mu, logvar = model(x)
                    loss = image_vae_loss(recon.float(), x, mu.float(), logvar.float(), IMAGE_BETA)
                else:
                    loss = F.mse_loss(model(x).float(), x, reduction="sum") / len(x)
            loss.backward()
            optimizer.step()
    return model


@torch.no_grad()
def test_loss(kind: str, model: nn.Module, test_images, seed: int = 1) -> float:
    """Per image: the negative ELBO with one seeded z draw (VAE; the image VAE: MSE + beta KL), or
    the pixel-summed MSE (conv AE)."""
    model.eval()
    torch.manual_seed(seed)
    total = 0.0
    for start in range(0, len(test_images), 1000):
        x = torch.from_numpy(test_images[start:start + 1000]).float() / 255
        if kind == "vae":
            recon, mu, logvar = model(x)
            total += float(vae_loss(recon, x, mu, logvar))
        elif kind == "image":
            recon, mu, logvar = model(x)
            total += float(image_vae_loss(recon, x, mu, logvar, IMAGE_BETA)) * len(x)
        else:
            total += float(F.mse_loss(model(x), x, reduction="sum"))
    return total / len(test_images)
