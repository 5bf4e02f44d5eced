"""Run folders for the `aelab serve` tests, trained once per test session in a few seconds: every
kind of model the explorer must handle (MLP and conv; grey and RGB; 2-D and 16-D latents;
labelled and unlabelled data; VAE, DAE and beta-VAE; and one tiny run of each further model type,
CVAE, IWAE, beta-TC-VAE, VQ-VAE, WAE, VampPrior VAE and grid VQ-VAE), and a server on a free port
serving them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aelab.config import load_config
from aelab.experiments.train_run import train_run

EMOJIS = Path(__file__).resolve().parents[1] / "examples" / "emojis"

RUNS = {
    # the default job, briefly: a 2-D VAE on the digits (labelled, grey, MLP)
    "digits-vae-2d": ["data.dataset=digits", "model.latent_dim=2", "model.encoder_layers=[64]",
                      "training.epochs=40"],
    # a 16-D conv DAE on the digits
    "digits-dae-conv-16d": ["data.dataset=digits", "model.type=dae", "model.architecture=conv",
                            "model.conv_channels=[8,16]", "model.conv_dense=32", "model.latent_dim=16",
                            "training.epochs=4"],
    # a 16-D beta-VAE on RGB emojis in one flat folder: no labels
    "emojis-rgb-betavae-16d": ["data.dataset=folder", "data.path={flat}", "data.input_size=[24,24]",
                               "data.channels=3", "model.type=beta_vae", "model.latent_dim=16",
                               "model.encoder_layers=[64]", "training.epochs=4", "training.batch_size=16"],
}
# a few epochs of each further model type on the digits: enough to decode, sample and encode
TINY = ["data.dataset=digits", "model.encoder_layers=[32]", "training.epochs=10", "training.batch_size=64"]
MODEL_TYPE_RUNS = {
    "digits-cvae-2d": ["model.type=cvae", "model.latent_dim=2"],
    "digits-iwae-4d": ["model.type=iwae", "model.latent_dim=4", "model.options={\"samples\": 2}"],
    "digits-betatcvae-4d": ["model.type=beta_tcvae", "model.latent_dim=4"],
    "digits-vqvae-4d": ["model.type=vqvae", "model.latent_dim=4", "model.options={\"codebook_size\": 16}"],
    "digits-wae-2d": ["model.type=wae", "model.latent_dim=2"],
    "digits-vamp-4d": ["model.type=vamp", "model.latent_dim=4", "model.options={\"pseudo_inputs\": 20}"],
    # a 2x2 grid of 4-value codes (latent_dim 16, derived) with its PixelCNN prior
    "digits-vqvaegrid-16d": ["model.type=vqvae_grid", "model.encoder_layers=null", "model.architecture=image_conv",
                             "model.stage_channels=[16,32]", "model.options={\"codebook_size\": 16, \"code_dim\": 4, "
                             "\"prior_channels\": 16, \"prior_layers\": 2}"],
}
RUNS.update({name: TINY + overrides for name, overrides in MODEL_TYPE_RUNS.items()})


def flat_emojis(folder: Path, n: int = 48) -> Path:
    """The first n shipped emojis in one folder without sub-folders: an unlabelled RGB data set."""
    folder.mkdir()
    for i, path in enumerate(sorted(p for p in EMOJIS.glob("*/*.png"))[:n]):
        shutil.copy(path, folder / f"{i:03d}{path.suffix}")
    return folder


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-runs")
    flat = flat_emojis(tmp_path_factory.mktemp("serve-data") / "emojis-flat")
    for name, overrides in RUNS.items():
        overrides = [o.replace("{flat}", str(flat)) for o in overrides] + ["training.threads=1", "training.seed=1"]
        train_run(load_config(None, overrides), root / name, progress=False, figures=False)
    return root


@pytest.fixture(scope="session")
def explorer_server(serve_runs):
    from aelab.serve import Server

    server = Server([serve_runs], port=0).start()
    yield server
    server.stop()
