"""The speed settings of the training loop are scoped to `fit` and leave the process as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aelab.config import load_config
from aelab.data.builtin import digits
from aelab.data.prepare import prepare_data
from aelab.models import build_model
from aelab.train import speed
from aelab.train.speed import SMALL_STEP_MACS, step_macs
from aelab.train.trainer import Trainer


def test_step_macs_counts_the_multiply_adds_of_linear_and_conv_layers():
    vae = build_model(load_config(None, ["model.encoder_layers=[400]", "model.latent_dim=20"]).model, (1, 28, 28))
    assert step_macs(vae, 128) == 128 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784)
    conv = build_model(load_config(None, ["model.type=ae", "model.architecture=conv"]).model, (1, 28, 28))
    # first conv: 8 kernels of 3x3 at 14x14 output positions; the last transposed conv: 8->1 at 14x14 inputs
    assert step_macs(conv, 1) > 8 * 9 * 14 * 14 + 8 * 9 * 14 * 14
    assert step_macs(vae, 128) > SMALL_STEP_MACS > step_macs(build_model(load_config(None, []).model, (1, 8, 8)), 64)


def test_fit_uses_one_thread_for_a_small_model_and_restores_the_setting():
    config = load_config(None, ["training.epochs=2", "model.encoder_layers=[16]"])
    data = torch.from_numpy(digits().images[:256])
    seen = []
    trainer = Trainer(build_model(config.model, (1, 8, 8)), config, "cpu", progress=False,
                      callbacks=[lambda t, row: seen.append(torch.get_num_threads())])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer.fit(data)
        assert seen == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert trainer.optimizer.param_groups[0]["fused"] is True
    assert trainer.state.history[-1]["loss"] < trainer.state.history[0]["loss"]


@pytest.mark.slow  # ~6 s on a shared machine
def test_fit_keeps_the_threads_for_a_model_with_many_parameters_even_at_batch_2():
    """Seed 004's MLP (64x64x3 -> 512-256-128 -> 16): few multiply-adds at batch 2, but 13 M
    parameters streamed through memory every step: not a small model."""
    emojis = Path(__file__).resolve().parents[1] / "examples" / "emojis"
    config = load_config(None, ["training.epochs=1", "training.batch_size=2", "model.latent_dim=16",
                                "model.encoder_layers=[512,256,128]", "training.validation_split=0",
                                "data.dataset=folder", f"data.path={emojis}", "data.input_size=[64,64]",
                                "data.channels=3"])
    train, _, _ = prepare_data(config)
    model = build_model(config.model, train.shape)
    assert step_macs(model, 2) < SMALL_STEP_MACS
    assert sum(p.numel() for p in model.parameters()) >= speed.LARGE_MODEL_PARAMETERS
    seen = []
    trainer = Trainer(model, config, "cpu", progress=False, callbacks=[lambda t, row: seen.append(torch.get_num_threads())])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer.fit(train.tensor()[:16])  # 16 real emojis, 8 steps
        assert seen == [2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
