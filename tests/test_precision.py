"""training.precision: auto picks bf16 only where it pays, says which and why, and either can be forced."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from aelab import runs
from aelab.config import load_config
from aelab.data.builtin import digits
from aelab.experiments.train_run import train_run
from aelab.models.registry import build_model
from aelab.train.precision import choose_precision
from aelab.train.speed import native_bf16
from aelab.train.trainer import Trainer


def build(config, shape):
    return build_model(config.model, tuple(shape), seed=config.training.seed)


CPU = torch.device("cpu")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BF16_CPU = native_bf16(CPU)


def model(*overrides, shape=(1, 28, 28)):
    return build(load_config(None, list(overrides)), shape)


def test_auto_keeps_small_and_conv_models_in_fp32_and_forcing_wins():
    small = model("model.encoder_layers=[16]", shape=(1, 8, 8))
    conv = model("model.type=ae", "model.architecture=conv")
    assert choose_precision("auto", small, CPU, 64).name == "fp32"
    assert choose_precision("auto", conv, CPU, 128).name == "fp32"
    assert choose_precision("fp32", model("model.encoder_layers=[400]"), CPU, 128).name == "fp32"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forced = choose_precision("bf16", small, CPU, 64)
    assert bool(caught) == (not BF16_CPU)  # forcing bf16 without bf16 hardware warns that it is slow
    assert (forced.name, forced.autocast_dtype) == ("bf16", torch.bfloat16)


def test_auto_uses_bf16_for_a_large_mlp_only_where_the_cpu_has_bf16_hardware():
    big = model("model.encoder_layers=[400]", "model.latent_dim=20")
    chosen = choose_precision("auto", big, CPU, 128)
    assert chosen.name == ("bf16" if BF16_CPU else "fp32")
    assert chosen.reason.startswith("auto: ")


def test_metrics_json_says_which_precision_ran_and_why(tmp_path):
    metrics = train_run(load_config(None, ["training.epochs=2"]), tmp_path, progress=False, figures=False)
    saved = json.loads((tmp_path / runs.METRICS).read_text())
    assert saved["precision"] == metrics["precision"] == "fp32"
    # where the CPU has bf16 hardware, auto keeps this small model in fp32 for its size; where it
    # has none (an AVX2-only CPU), for that reason first: the test holds on any x86-64 CPU
    expected = "small step" if BF16_CPU else "no bf16 hardware"
    assert expected in saved["precision_reason"], saved["precision_reason"]


def test_bf16_training_learns_and_lands_near_fp32():
    images = torch.from_numpy(digits().images[:512])
    losses = {}
    for precision in ("fp32", "bf16"):
        config = load_config(None, ["training.epochs=8", "training.batch_size=64", "training.validation_split=0",
                                    "training.patience=null", "model.encoder_layers=[256]", "model.latent_dim=8",
                                    f"training.precision={precision}"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # without bf16 hardware: slow, but it must still learn
            trainer = Trainer(build(config, (1, 8, 8)), config, "cpu", progress=False)
        history = trainer.fit(images).history
        assert trainer.precision.name == precision
        assert history[-1]["loss"] < 0.8 * history[0]["loss"]
        losses[precision] = history[-1]["loss"]
    assert abs(losses["bf16"] / losses["fp32"] - 1) < 0.02, losses


def test_auto_uses_bf16_for_a_large_image_conv_network_only_where_the_cpu_has_bf16_hardware():
    rgb = build(load_config(str(EXAMPLES / "images_rgb_vae.json"), ["training.precision=auto"]), (3, 64, 64))
    chosen = choose_precision("auto", rgb, CPU, 64)
    assert chosen.name == ("bf16" if BF16_CPU else "fp32")
    assert ("image_conv" in chosen.reason) == BF16_CPU
    tiny = model("model.architecture=image_conv", "model.stage_channels=[8,16]", shape=(1, 8, 8))
    assert choose_precision("auto", tiny, CPU, 64).name == "fp32"  # a small step: fp32 everywhere
