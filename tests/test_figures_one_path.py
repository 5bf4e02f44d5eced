"""A figure is drawn by one code path: the run's latent_traversal.png and samples.png are exactly
what `aelab traverse` and `aelab generate` draw, and `estimator.sample()` decodes the same codes.
An AE's traversal spans each axis's own range of the training codes, a VAE's the prior's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import aelab
from aelab import explore
from aelab.cli import main
from aelab.config import load_config
from aelab.experiments.train_run import train_run
from aelab.explore.traverse import centre, default_spans


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("digits-ae")
    config = load_config(None, ["data.dataset=digits", "data.limit=400", "model.type=ae", "model.latent_dim=3",
                                "model.encoder_layers=[32]", "training.epochs=4", "training.threads=1"])
    train_run(config, run, progress=False)
    return run


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_ae_traversal_spans_each_axis_over_its_own_training_codes(ae_run):
    ctx = explore.open_run(ae_run)
    spans, source = default_spans(ctx)
    expected = np.percentile(ctx.train_codes, [2, 98], axis=0).T
    np.testing.assert_allclose(spans, expected, rtol=1e-5)
    assert "training codes" in source and not np.allclose(spans[0], spans[1])
    # Every decoded point of the rows lies inside the range where that axis's codes lie.
    lo, hi = ctx.train_codes.min(0), ctx.train_codes.max(0)
    assert (spans[:, 0] >= lo).all() and (spans[:, 1] <= hi).all()
    # and the other axes stay where the codes are too (their median), not at 0
    base, how = centre(ctx, None)
    np.testing.assert_allclose(base, np.median(ctx.train_codes, axis=0), rtol=1e-5)
    assert "median" in how


def test_vae_traversal_spans_the_prior(tmp_path):
    x = np.random.default_rng(0).random((64, 16)).astype(np.float32)
    ctx = aelab.VAE(latent_dim=2, encoder_layers=[8], epochs=1).fit(x).explorer(x)
    spans, source = default_spans(ctx)
    assert spans.tolist() == [[-3.0, 3.0], [-3.0, 3.0]] and "prior" in source


def test_run_figures_are_what_the_commands_draw(ae_run, tmp_path, capsys):
    assert main(["traverse", str(ae_run), "--out", str(tmp_path / "t.png")]) == 0
    np.testing.assert_array_equal(pixels(tmp_path / "t.png"), pixels(ae_run / "latent_traversal.png"))
    assert main(["generate", str(ae_run), "-n", "64", "--out", str(tmp_path / "g.png")]) == 0
    np.testing.assert_array_equal(pixels(tmp_path / "g.png"), pixels(ae_run / "samples.png"))
    # The estimator samples the same codes as `aelab generate` (an AE: the training codes' Gaussian).
    images, _ = explore.generate(explore.open_run(ae_run), 16, out=tmp_path / "g16.png")
    np.testing.assert_allclose(aelab.load(ae_run).sample(16).reshape(images.shape), images, atol=1e-5)
