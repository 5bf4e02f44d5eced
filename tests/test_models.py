"""Every way of shaping a model builds the network it describes, for any input shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aelab.config import load_config
from aelab.errors import AelabError
from aelab.models import Autoencoder, build_model
from aelab.models.topology import layer_rule
from aelab.models.losses import loss_terms


def model(*overrides, shape=(1, 28, 28)) -> Autoencoder:
    torch.manual_seed(0)
    return build_model(load_config(None, list(overrides)).model, shape)


def linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_layer_rule_of_seed_001():
    # D_i = D_x - floor((D_x - D_z) * i / n)
    assert layer_rule(784, 16, 3) == [784, 528, 272, 16]
    assert layer_rule(784, 2, 1) == [784, 2]


def test_widths_from_the_layer_rule():
    m = model("model.type=ae", "model.n_layers=3", "model.latent_dim=16")
    assert linear_sizes(m.encoder) == [(784, 528), (528, 272), (272, 16)]
    assert linear_sizes(m.decoder) == [(16, 272), (272, 528), (528, 784)]


def test_widths_from_seed_000_topology_lists():
    # A VAE's last encoder layer outputs the mean and the log-variance: 2k units.
    m = model("model.encoder_topology=[784,256,128,16]", "model.latent_dim=8")
    assert linear_sizes(m.encoder) == [(784, 256), (256, 128), (128, 16)]
    assert linear_sizes(m.decoder) == [(8, 128), (128, 256), (256, 784)]
    with pytest.raises(AelabError, match="must start at the input size 784"):
        model("model.encoder_topology=[700,128,16]", "model.latent_dim=8")


def test_seed_004_layers_with_per_layer_activations():
    m = model("model.latent_dim=16", 'model.encoder_layers=[{"units":512},{"units":256,"activation":"tanh"}]',
              'model.decoder_layers=[{"units":256},{"units":512,"activation":"cosh"}]', shape=(3, 64, 64))
    assert linear_sizes(m.encoder) == [(12288, 512), (512, 256), (256, 32)]
    assert [type(x).__name__ for x in m.encoder.hidden[1::2]] == ["ReLU", "Tanh"]
    assert [type(x).__name__ for x in m.decoder.hidden[1::2]] == ["ReLU", "Cosh"]
    x = torch.rand(2, 3, 64, 64)
    assert m(x).logits.shape == (2, 3, 64, 64)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64), (1, 8, 8), (3, 13, 17), (1, 7, 5)])
def test_conv_model_takes_any_input_size(shape):
    m = model("model.architecture=conv", "model.latent_dim=4", shape=shape)
    x = torch.rand(3, *shape)
    out = m(x)
    assert out.logits.shape == x.shape and out.mean.shape == (3, 4)
    assert m.decode(out.z).shape == x.shape


def test_conv_channels_follow_seed_002():
    m = model("model.architecture=conv", "model.type=ae", "model.latent_dim=2")
    convs = [(c.in_channels, c.out_channels, c.stride) for c in m.encoder.modules() if isinstance(c, nn.Conv2d)]
    assert convs == [(1, 8, (2, 2)), (8, 16, (2, 2)), (16, 32, (2, 2))]
    assert linear_sizes(m.encoder)[-2:][1] == (64, 2)


def test_normal_init_is_n_0_001():
    m = model("model.init=normal", "model.encoder_layers=[512]")
    weight = [p for n, p in m.encoder.named_parameters() if n.endswith("weight")][0]
    assert abs(weight.std().item() - 0.01) < 0.001 and abs(weight.mean().item()) < 0.001


def test_he_and_xavier_scales():
    he = [p for n, p in model("model.init=he", "model.encoder_layers=[512]").encoder.named_parameters() if n.endswith("weight")][0]
    xa = [p for n, p in model("model.init=xavier", "model.encoder_layers=[512]").encoder.named_parameters() if n.endswith("weight")][0]
    assert he.std().item() == pytest.approx((2 / 784) ** 0.5, rel=0.05)
    assert xa.std().item() == pytest.approx((2 / (784 + 512)) ** 0.5, rel=0.05)


@pytest.mark.parametrize("loss", ["bce", "mse", "l1"])
def test_loss_terms_are_named_and_add_up(loss):
    m = model(f"model.reconstruction_loss={loss}", "model.type=beta_vae", "model.beta=3")
    x = torch.rand(4, 1, 28, 28)
    terms = loss_terms(m, m(x), x)
    assert {"loss", "reconstruction_loss", "kl"} <= set(terms)
    assert terms["loss"].item() == pytest.approx(terms["reconstruction_loss"].item() + 3 * terms["kl"].item(), rel=1e-5)


def test_plain_autoencoder_has_no_kl_and_no_sampling():
    m = model("model.type=ae")
    x = torch.rand(4, 1, 28, 28)
    a, b = m(x), m(x)
    assert a.logvar is None and torch.equal(a.z, b.z)
    assert "kl" not in loss_terms(m, a, x)


def test_vae_with_beta_other_than_one_is_refused():
    with pytest.raises(AelabError, match="beta_vae"):
        load_config(None, ["model.type=vae", "model.beta=4"])


@pytest.mark.parametrize("how", [["model.n_layers=2"], ["model.encoder_topology=[64,40,20,4]"]])
def test_config_json_shows_the_widths_a_rule_or_topology_built(tmp_path, how):
    import json

    from aelab import runs
    from aelab.config import read_config_file
    from aelab.experiments.train_run import train_run

    config = load_config(None, how + ["model.latent_dim=2", "training.epochs=1", "training.threads=1"])
    train_run(config, tmp_path, progress=False, figures=False)
    saved = json.loads((tmp_path / runs.CONFIG).read_text())["model"]
    widths = [33] if "model.n_layers=2" in how else [40, 20]  # 64 - (64 - 2) * 1 // 2 = 33
    assert [l["units"] for l in saved["encoder_layers"]] == widths
    assert [l["units"] for l in saved["decoder_layers"]] == widths[::-1]
    # Re-running the written config builds the same network.
    model, _, _ = runs.load_model(tmp_path)
    again = build_model(load_config(None, [], base=read_config_file(tmp_path / runs.CONFIG)).model, (1, 8, 8))
    assert linear_sizes(again.encoder) == linear_sizes(model.encoder)
    assert linear_sizes(again.decoder) == linear_sizes(model.decoder)
