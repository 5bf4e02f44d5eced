"""Priors learned with the model (issue 22, item 2): the VampPrior VAE ('vamp') and the VQ-VAE with a
grid of codes and a PixelCNN prior over it ('vqvae_grid'), trained for seconds on the digits and
MNIST's test set, resumed exactly, served by the CLI, refused clearly."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from sklearn.datasets import load_digits

import aelab
from aelab import cli, runs
from aelab.config import load_config
from aelab.data.prepare import prepare_data
from aelab.evaluate.likelihood import likelihood_bounds
from aelab.experiments.train_run import train_run
from aelab.models.registry import build_model
from shared_data import MNIST_TEST_DIR

X = load_digits().data / 16
DIGITS = torch.from_numpy(X[:400].astype(np.float32)).view(-1, 1, 1, 64)
needs_mnist_test = pytest.mark.skipif(not (MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                                      reason="MNIST's test files (../shared/data/mnist) are not on this machine")
# a grid VQ-VAE small enough for seconds: 2 stages (28x28 -> 7x7 codes), a 3-layer PixelCNN, and no
# dead-code restarts, which give entries new meanings that the prior must learn again: in 200 steps
# it would not catch up
GRID = dict(architecture="image_conv", stage_channels=[16, 32], learning_rate=2e-3, batch_size=32, seed=0,
            options={"codebook_size": 32, "code_dim": 8, "prior_channels": 32, "prior_layers": 3,
                     "restart_threshold": 0})


def fit(model_type, options=None, epochs=15, latent_dim=8, **params):
    return aelab.Estimator(model_type=model_type, options=options, latent_dim=latent_dim, encoder_layers=[64],
                           epochs=epochs, batch_size=32, seed=0, **params).fit(X)


# ------------------------------------------------------------------------------------- vamp

@pytest.mark.slow
def test_vamp_elbo_improves_its_samples_decode_and_its_nll_beats_a_vaes():
    vamp, vae = fit("vamp", {"pseudo_inputs": 50}), fit("vae")
    first, last = vamp.history_[0], vamp.history_[-1]
    assert {"reconstruction_loss", "kl"} <= last.keys()
    assert last["loss"] < first["loss"] - 10, (first["loss"], last["loss"])  # -ELBO: 40 -> 25 nats
    assert last["loss"] == pytest.approx(last["reconstruction_loss"] + last["kl"], rel=1e-5)
    images = vamp.sample(32, seed=2)
    assert images.shape == (32, 64) and 0 <= images.min() and images.max() <= 1
    assert images.std(0).mean() > 0.05  # different digits, not one image 32 times
    nll = {name: -float(likelihood_bounds(m.model_, DIGITS, samples=200, seed=1)[0].mean())
           for name, m in (("vamp", vamp), ("vae", vae))}
    print("NLL (nats) on 400 digits, 200 importance samples:", nll)
    assert math.isfinite(nll["vamp"]) and nll["vamp"] < nll["vae"] - 0.1, nll  # measured: 24.2 against 24.5
    # the NLL weighs each draw by the vamp's own prior: a VAE with the vamp's networks, whose prior
    # is N(0, I), gets a far worse one
    as_vae = build_model(vamp.config_.model.model_copy(update={"type": "vae", "options": {}}), (1, 1, 64))
    as_vae.load_state_dict({k: v for k, v in vamp.model_.state_dict().items() if k != "pseudo_inputs"})
    wrong = -float(likelihood_bounds(as_vae.eval(), DIGITS, samples=200, seed=1)[0].mean())
    assert wrong > nll["vamp"] + 1.0, (wrong, nll["vamp"])


def test_vamp_pseudo_inputs_start_as_training_images_and_are_learned():
    config = load_config(None, ["model.type=vamp", "model.latent_dim=4", "model.encoder_layers=[32]",
                                'model.options={"pseudo_inputs": 20}'])
    model = build_model(config.model, (1, 1, 64), seed=0)
    train = torch.from_numpy((X * 255).round().astype(np.uint8)).view(-1, 1, 1, 64)
    model.init_from_data(train, torch.Generator().manual_seed(0))
    start = model.pseudo_inputs.detach().flatten(1)
    pixels = train.float().flatten(1) / 255
    assert (start[:, None] == pixels[None]).all(-1).any(1).all()  # each one a training image
    assert len({tuple(row.tolist()) for row in start}) == 20  # twenty different ones
    vamp = fit("vamp", {"pseudo_inputs": 20}, epochs=3)
    learned = vamp.model_.pseudo_inputs.detach().flatten(1)
    assert not (learned[:, None] == pixels[None]).all(-1).any()  # moved by training


def test_vamp_log_variances_stay_finite_and_keep_a_gradient_outside_their_range():
    from aelab.models.vamp import LOGVAR_RANGE, soft_range

    raw = torch.tensor([-1e30, -60.0, -3.0, 1.0, 30.0, 1e30], requires_grad=True)
    kept = soft_range(raw, *LOGVAR_RANGE)
    kept.sum().backward()
    assert torch.equal(kept[2:4], raw[2:4])  # inside the range: as the encoder gives them
    assert -80 < kept.min() and kept.max() < 80  # exp(-logvar) stays finite in float32
    assert (raw.grad[1:5] > 0.01).all()  # a unit that starts at 30 can still come back (a clamp: 0)


def test_vamp_batchnorm_encodes_pseudo_inputs_with_the_data_batch_statistics():
    config = load_config(None, ["model.type=vamp", "model.architecture=image_conv", "model.stage_channels=[8,16]",
                                "model.latent_dim=4", 'model.options={"pseudo_inputs": 5}'])
    model = build_model(config.model, (1, 16, 16), seed=0).train()
    x = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    alone = copy.deepcopy(model)
    alone.encoder(x)  # the running statistics of the data alone
    with torch.no_grad():
        model.pseudo_inputs.copy_(x[:5])  # pseudo-inputs that are images of the batch
    (mean, logvar), (u_mean, u_logvar) = model.encode_with_pseudo_inputs(x)
    # the same function of the same image: identical posteriors, in training mode too
    torch.testing.assert_close(u_mean, mean[:5], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(u_logvar, logvar[:5], rtol=1e-4, atol=1e-5)
    stats = {k: v for k, v in model.state_dict().items() if k.startswith("encoder") and "running" in k}
    assert stats and all(torch.equal(v, alone.state_dict()[k]) for k, v in stats.items())
    model.objective(x, torch.Generator().manual_seed(1))["loss"].backward()
    assert model.pseudo_inputs.grad.abs().sum() > 0  # the prior learns its pseudo-inputs


# ------------------------------------------------------------------------------- vqvae_grid

@pytest.fixture(scope="module")
def mnist():
    config = load_config(None, ["data.dataset=mnist", f"data.path={MNIST_TEST_DIR}", "data.published_split=test",
                                "data.test_split=0.25"])
    train, _, test = prepare_data(config)
    return train.images[:1000], test.images[:300]


def distinct_per_position(index: torch.Tensor) -> float:
    """Mean number of different codes a position takes across samples (n, h, w)."""
    flat = index.flatten(1)
    return float(np.mean([len(set(flat[:, p].tolist())) for p in range(flat.shape[1])]))


def test_pixelcnn_logits_depend_on_every_earlier_position_and_on_no_later_one():
    from aelab.models.pixelcnn import GatedPixelCNN

    torch.manual_seed(0)
    net = GatedPixelCNN(codes=8, channels=16, layers=5)
    index = torch.randint(8, (4, 5))
    positions = [(a, b) for a in range(4) for b in range(5)]
    variants = index.repeat(len(positions), 1, 1)  # variant p: the code at position p changed
    for p, (a, b) in enumerate(positions):
        variants[p, a, b] = (index[a, b] + 1) % 8
    with torch.no_grad():
        base, logits = net(index[None])[0], net(variants)  # (codes, 4, 5), (20, codes, 4, 5)
    for i, j in positions:
        changed = {positions[p] for p in range(len(positions))
                   if (logits[p, :, i, j] - base[:, i, j]).abs().max() > 1e-5}
        assert changed == {q for q in positions if q < (i, j)}, (i, j, changed)  # raster order


@needs_mnist_test
@pytest.mark.slow
def test_grid_vqvae_reconstructs_mnist_and_its_prior_samples_structured_varied_codes(mnist):
    train, test = mnist
    vq = aelab.Estimator(model_type="vqvae_grid", epochs=6, **GRID).fit(train)
    model, history = vq.model_, vq.history_
    assert vq.config_.model.latent_dim == 7 * 7 * 8 and model.grid == (7, 7)
    assert {"reconstruction_loss", "codebook_loss", "commitment_loss", "prior_loss", "perplexity"} <= history[-1].keys()
    x = test.astype(np.float32) / 255
    sse = ((vq.reconstruct(test) - x) ** 2).reshape(len(x), -1).sum(1).mean()
    assert sse < 15, sse  # squared error summed over 784 pixels: the mean image is at 50
    losses = [row["prior_loss"] for row in history]
    assert losses[-1] < max(losses) - 0.5, losses  # rises while the codes spread, then falls
    # on the test images' codes, the PixelCNN beats the per-position code frequencies it would
    # reduce to without context (the flat VQ-VAE's categorical prior)
    with torch.no_grad():
        codes = model.quantise(model.encoder(torch.from_numpy(x)))[0].view(-1, 7, 7)
        ar = float(model.prior_net.loss(codes))
    share = torch.nn.functional.one_hot(codes.flatten(1), 32).float().mean(0).clamp_min(1e-6)  # (49, 32)
    independent = float(-share.log().gather(1, codes.flatten(1).T).mean())
    assert ar < independent - 0.15, (ar, independent)
    draw = lambda t: model.prior_net.sample(32, model.grid, torch.Generator().manual_seed(4), temperature=t)
    index = draw(1.0)
    assert distinct_per_position(index) >= 3  # positions take several codes across samples
    assert all(len(set(s.flatten().tolist())) >= 3 for s in index)  # a sample is not one code everywhere
    assert distinct_per_position(draw(0.2)) < distinct_per_position(index) - 1  # cold: less varied
    images = vq.sample(8, seed=4)
    assert images.shape == (8, 1, 28, 28) and images.std(0).mean() > 0.05


def test_grid_vqvae_latent_dim_is_derived_and_a_contradiction_or_unknown_option_is_one_line(tmp_path, capsys):
    base = ["model.type=vqvae_grid", "model.architecture=image_conv", "model.stage_channels=[8,16]",
            "training.epochs=1", 'model.options={"code_dim": 4, "prior_channels": 8, "prior_layers": 1}']
    run = tmp_path / "grid"
    assert cli.main(["train", *sum((["--set", s] for s in base), []), "--out", str(run), "--no-progress",
                     "--no-figures"]) == 0
    assert runs.read_config(run).model.latent_dim == 2 * 2 * 4  # digits 8x8 -> a 2x2 grid of 4-value codes
    for setting, named in (("model.latent_dim=10", "model.latent_dim 10 contradicts"),
                           ('model.options={"grid_size": 3}', "model.options.grid_size"),
                           ("model.architecture=conv", "image_conv")):
        code = cli.main(["train", *sum((["--set", s] for s in base + [setting]), []),
                         "--runs-dir", str(tmp_path / "refused"), "--no-progress"])
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aelab: error:")]
        assert code == 2 and len(errors) == 1 and named in errors[0], errors
    assert cli.main(["train", "--set", "model.type=vamp", "--set", 'model.options={"pseudo": 5}',
                     "--runs-dir", str(tmp_path / "refused"), "--no-progress"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aelab: error:")]
    assert len(errors) == 1 and "model.options.pseudo" in errors[0] and "pseudo_inputs" in errors[0], errors


# ----------------------------------------------------------------------- both: runs, resume

RUN_SETTINGS = {
    "vamp": ["model.type=vamp", "model.latent_dim=4", "model.architecture=image_conv",
             "model.stage_channels=[8,16]", 'model.options={"pseudo_inputs": 10}'],
    "vqvae_grid": ["model.type=vqvae_grid", "model.architecture=image_conv", "model.stage_channels=[8,16]",
                   'model.options={"codebook_size": 16, "code_dim": 4, "prior_channels": 16, "prior_layers": 2}'],
}


@pytest.mark.parametrize("model_type", sorted(RUN_SETTINGS))
@pytest.mark.slow
def test_resume_gives_identical_weights_prior_included(tmp_path, model_type):
    from test_training import StopAfter

    overrides = RUN_SETTINGS[model_type] + ["training.epochs=4", "training.checkpoint_every=1",
                                            "training.batch_size=64", "data.limit=600"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter(2)])
    train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False)
    wa, wb = load_file(str(whole / runs.MODEL)), load_file(str(resumed / runs.MODEL))
    prior = "pseudo_inputs" if model_type == "vamp" else "prior_net.head.3.weight"
    assert prior in wa and any("running_mean" in k for k in wa)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("model_type", sorted(RUN_SETTINGS))
@pytest.mark.slow
def test_a_run_generates_evaluates_and_reloads(tmp_path, model_type):
    run = tmp_path / model_type
    settings = RUN_SETTINGS[model_type] + ["training.epochs=3", "data.limit=600"]
    assert cli.main(["train", *sum((["--set", s] for s in settings), []), "--out", str(run), "--no-progress"]) == 0
    assert (run / "samples.png").is_file() and (run / "interpolation.png").is_file()
    assert cli.main(["generate", str(run), "-n", "8", "--temperature", "0.7", "--out", str(tmp_path / "g.png")]) == 0
    assert cli.main(["evaluate", str(run), "--nll-samples", "20", "--no-progress"]) == 0
    test = runs.read_json(run / runs.METRICS)["test"]
    if model_type == "vamp":  # the likelihood applies to the VAE family only
        assert math.isfinite(test["nll"]) and test["nll"] > 0 and test["elbo"] <= -test["nll"] + 1e-3, test
    else:
        assert "nll" not in test
    loaded = aelab.load(run)
    assert np.array_equal(loaded.sample(4, seed=5), loaded.sample(4, seed=5))
