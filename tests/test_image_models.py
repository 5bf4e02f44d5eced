"""The image network (model.architecture image_conv) and the training knobs real images need:
trained on the shipped emojis, checked by what they reach, resumed exactly, refused clearly."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from safetensors.numpy import load_file

from aelab import runs
from aelab.cli import main
from aelab.config import load_config
from aelab.data.augment import augment
from aelab.errors import AelabError
from aelab.train.trainer import Trainer
from aelab.train import schedules
from aelab.data.prepare import prepare_data
from aelab.experiments.train_run import train_run
from aelab.models.registry import build_model


def build(config, shape):
    return build_model(config.model, shape, seed=config.training.seed)

EMOJIS = ["data.dataset=folder", "data.path=examples/emojis", "data.input_size=32", "data.channels=3",
          "model.architecture=image_conv", "model.stage_channels=[16,32,64]", "model.latent_dim=32",
          "model.activation=leaky_relu", "training.batch_size=16", "training.patience=null",
          "training.learning_rate=0.002"]


@pytest.mark.parametrize("shape", [(3, 64, 64), (1, 28, 28), (3, 70, 70), (1, 45, 33), (3, 128, 96)])
def test_any_image_size_and_channels_come_back_in_shape(shape):
    config = load_config(None, ["model.architecture=image_conv", "model.latent_dim=512",
                                "model.residual_blocks=[1,0,0,1]", "model.normalization=group"])
    model = build(config, shape)
    out = model(torch.rand(2, *shape))
    assert out.logits.shape == (2, *shape) and out.mean.shape == (2, 512)


@pytest.mark.slow
def test_vae_on_the_shipped_emojis_beats_the_mean_image_and_logs_its_schedules(tmp_path):
    run = tmp_path / "emojis"
    config = load_config(None, EMOJIS + [
        "training.epochs=25", "training.kl_annealing=linear", "training.kl_annealing_epochs=5",
        "training.lr_schedule=cosine", "training.free_bits=0.05", "training.gradient_clip=1000",
        "data.augment_flip=true", "data.augment_shift=2", "model.reconstruction_loss=bce"])
    metrics = train_run(config, run, progress=False)
    train, _, test = prepare_data(config)
    mean_image = train.images.astype(np.float64).mean(0) / 255
    baseline = np.mean([10 * math.log10(1 / np.mean((x / 255 - mean_image) ** 2)) for x in test.images])
    assert metrics["test"]["psnr"] > baseline + 3.0, (metrics["test"]["psnr"], baseline)
    assert 0 < metrics["test"]["ssim"] <= 1 and metrics["validation"]["psnr"] > baseline
    history = list(csv.DictReader((run / runs.HISTORY).open()))
    betas = [float(r["beta"]) for r in history]
    rates = [float(r["learning_rate"]) for r in history]
    assert betas[0] < 0.25 and betas[-1] == 1.0 and betas == sorted(betas)  # the warm-up, then beta
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.01 * rates[0]  # the cosine decay
    assert (run / "loss.png").stat().st_size > 0


def test_psnr_is_the_per_image_mean_of_the_reconstructions(tmp_path):
    config = load_config(None, EMOJIS + ["training.epochs=2", "model.type=ae"])
    metrics = train_run(config, tmp_path / "ae", progress=False, figures=False)
    model, _, _ = runs.load_model(tmp_path / "ae" / runs.MODEL)
    _, _, test = prepare_data(config)
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(test.images).float() / 255
        x_hat = model.decode(model(x, sample=False).mean)
    per_image = (x_hat - x).square().flatten(1).mean(1)
    assert metrics["test"]["psnr"] == pytest.approx(float((10 * torch.log10(1 / per_image)).mean()), rel=1e-4)


def test_resume_with_schedules_and_augmentation_gives_identical_weights(tmp_path):
    from test_training import StopAfter

    overrides = EMOJIS + ["training.epochs=4", "training.checkpoint_every=1", "training.lr_schedule=plateau",
                          "training.lr_patience=1", "training.kl_annealing=cyclical",
                          "training.kl_annealing_epochs=2", "data.augment_flip=true", "data.augment_shift=3",
                          "model.stage_channels=[8,16]", "data.input_size=16"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter(3)])
    train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False)
    wa, wb = load_file(str(whole / runs.MODEL)), load_file(str(resumed / runs.MODEL))
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    betas = [float(r["beta"]) for r in csv.DictReader((resumed / runs.HISTORY).open())]
    # cyclical, 2-epoch cycles (the weight at each epoch's last step): rising, held, rising again
    assert betas[0] < 1.0 and betas[1] == 1.0 and betas[2] == pytest.approx(betas[0]) and betas[3] == 1.0


def test_schedules_ramp_cycle_decay_and_halve():
    cfg = load_config(None, ["training.epochs=10", "training.kl_annealing=linear", "training.kl_annealing_epochs=4",
                             "training.lr_schedule=cosine", "training.learning_rate=0.01"]).training
    assert [schedules.kl_weight(cfg, 2.0, p) for p in (0, 1, 2, 4, 9)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    cyc = cfg.model_copy(update={"kl_annealing": "cyclical"})
    assert [schedules.kl_weight(cyc, 1.0, p) for p in (0, 1, 2, 3, 4, 5)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    assert schedules.learning_rate(cfg, 0) == 0.01 and schedules.learning_rate(cfg, 5) == pytest.approx(0.005)
    assert schedules.learning_rate(cfg, 10) == pytest.approx(0.0, abs=1e-12)
    plateau = cfg.model_copy(update={"lr_schedule": "plateau", "lr_patience": 2})
    best, bad, scale = schedules.plateau_step(plateau, 1.0, 0.5, 0, 1.0)
    assert (best, bad, scale) == (0.5, 1, 1.0)
    assert schedules.plateau_step(plateau, 1.0, 0.5, bad, scale) == (0.5, 0, 0.5)  # the second stall halves
    assert schedules.plateau_step(plateau, 0.4, 0.5, 1, 0.5) == (0.4, 0, 0.5)


def test_a_latent_grid_is_sized_from_the_images_and_each_position_codes_its_own_patch(tmp_path, caplog):
    overrides = EMOJIS + ["training.epochs=2", "model.latent_channels=3", "model.latent_dim=32"]
    with caplog.at_level("WARNING", logger="aelab"):
        train_run(load_config(None, overrides), tmp_path / "g", progress=False, figures=False)
    # 32x32 images, three stride-2 stages: a 4x4 grid of 3 values = 48, which replaces the 32 asked for
    assert runs.read_config(tmp_path / "g").model.latent_dim == 48
    assert "model.latent_dim 32 is replaced by 48" in caplog.text
    model, _, _ = runs.load_model(tmp_path / "g")
    _, _, test = prepare_data(runs.read_config(tmp_path / "g"))
    with torch.no_grad():
        z = model.encode(torch.from_numpy(test.images[:4]).float() / 255)[0]
        moved = z.clone()
        moved[:, :3] += 3.0  # the first position's three values: the top-left corner of the grid
        change = (model.decode(moved) - model.decode(z)).abs().mean((0, 1))  # (32, 32)
    assert change[:16, :16].sum() > 3 * change[16:, 16:].sum()
    with pytest.raises(AelabError, match="model.latent_channels"):
        load_config(None, ["model.architecture=conv", "model.latent_channels=4"])


def test_warmup_raises_the_learning_rate_over_its_steps_then_the_schedule_takes_over(tmp_path):
    cfg = load_config(None, ["training.epochs=10", "training.lr_schedule=cosine", "training.learning_rate=0.01",
                             "training.warmup_steps=4"]).training
    assert [schedules.learning_rate(cfg, 0, step=s) for s in range(4)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert schedules.learning_rate(cfg, 5, step=40) == pytest.approx(0.005)  # after it: the cosine alone
    # In a run: 41 training images, 8 a step, 6 steps an epoch; the history logs each epoch's last step.
    config = load_config(None, EMOJIS + ["training.epochs=3", "training.batch_size=8", "data.limit=46",
                                         "training.warmup_steps=10", "model.stage_channels=[8,16]", "data.input_size=16"])
    metrics = train_run(config, tmp_path / "w", progress=False, figures=False)
    rates = [float(r["learning_rate"]) for r in csv.DictReader((tmp_path / "w" / runs.HISTORY).open())]
    assert metrics["n_train"] == 41 and rates == pytest.approx([0.002 * 6 / 10, 0.002, 0.002])


def test_a_budget_in_steps_sets_the_epochs_for_the_data(tmp_path):
    config = load_config(None, EMOJIS + ["training.steps=10", "training.batch_size=8", "data.limit=46",
                                         "model.stage_channels=[8,16]", "data.input_size=16"])
    metrics = train_run(config, tmp_path / "s", progress=False, figures=False)
    # 41 training images, 8 a step: 6 steps an epoch, so 10 steps take 2 epochs
    assert metrics["n_train"] == 41 and metrics["epochs_run"] == 2
    assert runs.read_config(tmp_path / "s").training.epochs == 2  # config.json says what ran


def test_the_posterior_log_variance_is_bounded_above_and_untouched_below():
    from aelab.models.vae import LOGVAR_MAX, bounded_logvar

    raw = torch.tensor([-20.0, -5.0, 0.0, 5.0, 40.0, 1e4], requires_grad=True)
    bounded = bounded_logvar(raw)
    values = bounded.tolist()
    assert max(values) <= LOGVAR_MAX and values[-1] == pytest.approx(LOGVAR_MAX)
    assert values[0] == pytest.approx(-20.0, abs=1e-6) and values[1] == pytest.approx(-5.0, abs=1e-3)
    bounded.sum().backward()
    assert (raw.grad[:5] > 0).all()  # it fades but keeps its sign: Adam, which divides by its size, moves it back


def test_a_divergence_is_caught_in_the_epoch_it_happens(tmp_path, caplog):
    """Plain SGD warming up to a learning rate far too high: epoch 1 learns, epoch 2 ends in NaN:
    one line naming epoch 2, the checkpoint of epoch 1 kept."""
    config = load_config(None, ["data.dataset=digits", "data.limit=300", "model.type=ae", "model.latent_dim=4",
                                "model.encoder_layers=[32]", "model.reconstruction_loss=mse",
                                "model.output_activation=identity", "training.epochs=4", "training.optimizer=sgd",
                                "training.learning_rate=0.2", "training.warmup_steps=28", "training.batch_size=16",
                                "training.checkpoint_every=1", "training.threads=1"])
    with pytest.raises(AelabError, match=r"^training diverged in epoch 2: .*training.learning_rate \(now 0.2\)"
                                         r".*the last checkpoint, epoch 1, is kept"):
        train_run(config, tmp_path / "d", progress=False, figures=False)
    # A loss that jumps but stays finite (one step blew up, as a VAE's KL did on the shipped emojis
    # before its log-variance was bounded) is one warning line in that epoch.
    model = build(config, (1, 8, 8))
    trainer = Trainer(model, config, progress=False)
    trainer.state.history, trainer.state.epoch = [{"epoch": 1, "loss": 20.0}, {"epoch": 2, "loss": 9.0}], 3
    caplog.clear()
    with caplog.at_level("WARNING", logger="aelab"):
        trainer._warn_if_diverged({"epoch": 3, "loss": 4e11})
        trainer._warn_if_diverged({"epoch": 3, "loss": 30.0})  # KL annealing raises a loss far less
        trainer.state.epoch = 4
        trainer._warn_if_diverged({"epoch": 4, "loss": 5e11})  # again: counted, not a line per epoch
    assert [r.getMessage()[:61] for r in caplog.records] == [
        "training diverged in epoch 3: its mean training loss 4e+11 is"]
    assert trainer._divergences == [3, 4]


def test_augmentation_flips_and_shifts_whole_images():
    x = torch.rand(64, 3, 8, 8)
    generator = torch.Generator().manual_seed(0)
    flipped = augment(x, flip=True, shift=0, generator=generator)
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54
    shifted = augment(x, flip=False, shift=2, generator=torch.Generator().manual_seed(1))
    assert shifted.shape == x.shape
    # Each image is the original moved by (dy, dx) in [-2, 2], edges repeated: find that move.
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    for i in range(len(x)):
        moves = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(padded[i, :, dy:dy + 8, dx:dx + 8], shifted[i])]
        assert moves, i
    assert not torch.equal(shifted, x)


@pytest.mark.parametrize("setting, message", [
    ("model.residual_blocks=[1,2]", "model.residual_blocks lists 2 stages but stage_channels has 4"),
    ("model.normalization=layer", "model.normalization"),
    ("training.kl_annealing=sigmoid", "training.kl_annealing"),
    ("training.free_bits=-1", "training.free_bits"),
    ("training.lr_schedule=step", "training.lr_schedule"),
    ("training.gradient_clip=0", "training.gradient_clip"),
    ("data.augment_shift=40", "data.augment_shift"),
])
def test_bad_image_settings_are_one_clear_line(setting, message, capsys):
    assert main(["train", "--set", "model.architecture=image_conv", "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_kl_knobs_on_a_plain_autoencoder_are_refused(capsys):
    assert main(["train", "--set", "model.type=ae", "--set", "training.kl_annealing=linear"]) == 2
    assert "training.kl_annealing acts on the KL term, which a model of type 'ae' has not" in capsys.readouterr().err


def test_free_bits_leave_small_kl_unpenalised():
    config = load_config(None, ["model.architecture=image_conv", "model.stage_channels=[8]", "model.latent_dim=4"])
    model = build(config, (1, 8, 8))
    x = torch.rand(5, 1, 8, 8)
    out = model(x, generator=torch.Generator().manual_seed(0))
    plain = model.loss_terms(out, x)
    model.kl_weight, model.free_bits = 1.0, 1e6  # as the trainer sets them during a step
    free = model.loss_terms(out, x)
    assert free["kl"] == plain["kl"]  # the reported KL is the true one
    assert float((free["loss"] - free["reconstruction_loss"]).detach()) == pytest.approx(4 * 1e6)
    assert json.dumps(config.to_dict()["model"]["residual_blocks"]) == "[0]"


def test_pytorch_init_keeps_the_layers_own_defaults():
    config = load_config(None, ["model.architecture=conv", "model.type=ae", "model.init=pytorch",
                                "model.activation=tanh"])
    model = build(config, (1, 28, 28))
    head = model.encoder.head  # Linear(64, 2): PyTorch draws weights and biases from U(-1/8, 1/8)
    bound = 1 / math.sqrt(head.in_features)
    assert float(head.weight.abs().max()) <= bound and float(head.bias.abs().max()) > 0
    xavier = build(load_config(None, ["model.architecture=conv", "model.type=ae", "model.activation=tanh",
                                      "model.init=xavier"]), (1, 28, 28))
    assert float(xavier.encoder.head.bias.abs().max()) == 0.0  # Xavier weights, zero biases


def _layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]


def test_auto_init_of_the_conv_net_with_tanh_is_pytorchs_default():
    """Seed 002's conv AE (tanh): `init: auto` keeps PyTorch's layer defaults, which trained to a
    7.9% lower test loss than Xavier (BENCHMARKS.md); relu-like conv nets keep He."""
    auto = build(load_config(None, ["model.architecture=conv", "model.type=ae", "model.activation=tanh"]), (1, 28, 28))
    checked = 0
    for layer in _layers(auto):
        fan_in = layer.weight[0].numel() if not isinstance(layer, nn.ConvTranspose2d) else \
            layer.weight.shape[1] * layer.weight[0, 0].numel()
        if layer.weight.numel() >= 2000:  # enough weights for a 5% estimate of the std
            # Kaiming-uniform with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std 1/sqrt(3 fan_in);
            # Xavier would give sqrt(2 / (fan_in + fan_out)) instead (e.g. 0.059 against 0.072 here)
            assert float(layer.weight.std()) == pytest.approx((3 * fan_in) ** -0.5, rel=0.05), layer
            checked += 1
        assert float(layer.bias.abs().max()) > 0, layer  # uniform biases, not zeros
    assert checked >= 3
    relu = build(load_config(None, ["model.architecture=conv", "model.type=ae", "model.activation=relu"]), (1, 28, 28))
    dense = relu.decoder.dense[2]  # Linear(64, 512) before a relu: He, std sqrt(2 / 64), zero bias
    assert float(dense.weight.std()) == pytest.approx((2 / 64) ** 0.5, rel=0.05)
    assert float(dense.bias.abs().max()) == 0.0


@pytest.mark.slow
def test_the_shipped_rgb_example_as_shipped_beats_the_mean_image_on_the_shipped_emojis(tmp_path, caplog):
    """A new user's first try: `aelab train --config examples/images_rgb_vae.json` on its own 172
    emojis (124 for training). Once the KL reached 4e13 in epoch 2 here and every reconstruction was
    one yellow square (10.5 dB); now it trains steadily. Briefly (a 150-step budget instead of the
    example's), it must already clearly beat the mean image, with no divergence reported."""
    run = tmp_path / "example"
    code = main(["train", "--config", "examples/images_rgb_vae.json", "--out", str(run), "--no-progress",
                 "--no-figures", "--set", "training.steps=150"])
    assert code == 0
    metrics = json.loads((run / runs.METRICS).read_text())
    config = load_config(str(run / runs.CONFIG), [])
    train, _, test = prepare_data(config)
    mean_image = train.images.astype(np.float64).mean(0) / 255
    baseline = np.mean([10 * math.log10(1 / np.mean((x / 255 - mean_image) ** 2)) for x in test.images])
    assert metrics["test"]["psnr"] > baseline + 3.0, (metrics["test"]["psnr"], baseline)
    assert not [r for r in caplog.records if "diverged" in r.getMessage()]
    history = list(csv.DictReader((run / runs.HISTORY).open()))
    assert max(float(r["kl"]) for r in history) < 1e4  # nats per image: no blow-up on the way
