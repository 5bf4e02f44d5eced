"""`aelab export RUN --format onnx`: real runs trained for seconds, their ONNX graphs run in
onnxruntime on the run's test images and compared with PyTorch; nothing existing is overwritten,
and without the onnx extra the command says what to install."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from aelab import cli, runs
from aelab.config import load_config
from aelab.data.prepare import prepare_data
from aelab.experiments.train_run import train_run
from aelab.layout import EXPORT, EXPORT_INFO

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

RUNS = {
    "font-mlp-ae": ["data.dataset=font5x7", "model.type=ae", "model.latent_dim=2", "model.encoder_layers=[64,32]",
                    "training.epochs=40", "training.batch_size=16"],
    "digits-conv-vae": ["data.dataset=digits", "model.type=vae", "model.architecture=conv", "model.latent_dim=4",
                        "model.conv_channels=[8,16]", "model.conv_dense=32", "training.epochs=4"],
    "digits-mlp-cvae": ["data.dataset=digits", "model.type=cvae", "model.latent_dim=2", "model.encoder_layers=[64]",
                        "training.epochs=4"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    made = {}

    def run(name):
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            train_run(load_config(None, RUNS[name] + ["training.patience=null"]), folder, progress=False,
                      figures=False)
            made[name] = folder
        return made[name]
    return run


def session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", list(RUNS))
@pytest.mark.slow
def test_onnx_graphs_give_what_pytorch_gives_on_the_test_images(trained, name, capsys):
    run = trained(name)
    assert cli.main(["export", str(run), "--format", "onnx"]) == 0
    folder = run / EXPORT
    assert str(folder) in capsys.readouterr().out
    info = json.loads((folder / EXPORT_INFO).read_text())
    model, config, _ = runs.load_model(run)
    test = prepare_data(config)[2]
    x = torch.from_numpy(test.floats())  # every test image: a batch size the graphs were not traced with
    labels = {}
    if model.needs_labels:
        y = torch.nn.functional.one_hot(torch.from_numpy(test.labels).long(), model.options.n_classes).float()
        labels = {"labels": y}
    with torch.no_grad():
        mean, logvar = model.encode(x, **labels)
        images = model.decode(mean, **labels)
    want = {"mean": mean, "logvar": logvar} if logvar is not None else {"code": mean}

    encoder, decoder = session(folder / info["encoder"]["file"]), session(folder / info["decoder"]["file"])
    assert list(info["encoder"]["outputs"]) == list(want) == list(info["encoder_outputs"])
    got = encoder.run(None, {"images": x.numpy(), **{k: v.numpy() for k, v in labels.items()}})
    assert [o.name for o in encoder.get_outputs()] == list(want)
    for value, (key, expected) in zip(got, want.items()):
        assert value.shape == tuple(expected.shape)
        assert np.abs(value - expected.numpy()).max() < 1e-4, key
    decoded = decoder.run(["images"], {"codes": mean.numpy(), **{k: v.numpy() for k, v in labels.items()}})[0]
    assert decoded.shape == (len(test), *model.input_shape)
    assert np.abs(decoded - images.numpy()).max() < 1e-4

    one = encoder.run(None, {"images": x[:1].numpy(), **{k: v[:1].numpy() for k, v in labels.items()}})[0]
    assert one.shape == (1, config.model.latent_dim)  # the batch dimension is dynamic
    assert info["opset"] == onnx.load(str(folder / "encoder.onnx")).opset_import[0].version
    assert info["encoder"]["inputs"]["images"] == ["batch", *model.input_shape]
    assert ("labels" in info) == model.needs_labels


@pytest.mark.slow
def test_exports_never_overwrite_and_a_taken_out_folder_is_refused(trained, tmp_path, capsys):
    run = trained("font-mlp-ae")
    assert cli.main(["export", str(run)]) == 0  # RUN/export, or a numbered one if an earlier test made it
    before = {p: p.read_bytes() for p in run.glob(f"{EXPORT}*/*")}
    folders = set(run.glob(f"{EXPORT}*"))
    assert cli.main(["export", str(run)]) == 0
    (added,) = set(run.glob(f"{EXPORT}*")) - folders
    assert added.name == f"{EXPORT}-{len(folders) + 1}" and (added / "encoder.onnx").is_file()
    assert {p: p.read_bytes() for p in run.glob(f"{EXPORT}*/*") if p.parent != added} == before

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "encoder.onnx").write_text("mine")
    capsys.readouterr()
    assert cli.main(["export", str(run), "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err and "--out" in err
    assert (taken / "encoder.onnx").read_text() == "mine"

    assert cli.main(["export", str(run), "--out", str(tmp_path / "new" / "place")]) == 0
    assert sorted(p.name for p in (tmp_path / "new" / "place").iterdir()) == ["decoder.onnx", "encoder.onnx",
                                                                             EXPORT_INFO]


def test_without_the_onnx_extra_the_command_says_what_to_install(trained, tmp_path, monkeypatch, capsys):
    run = trained("font-mlp-ae")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed: import fails
    assert cli.main(["export", str(run), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "aelab[onnx]"' in err and "onnxscript" in err
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "is not an aelab run" in capsys.readouterr().err
