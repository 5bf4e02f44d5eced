"""Config-driven training runs on an RGB image folder (32x32) and on the 5x7 font, and `aelab datasets`."""

import json
from pathlib import Path

import pytest

from aelab import runs
from aelab.cli import main
from aelab.config import load_config
from aelab.experiments.train_run import train_run


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))
    monkeypatch.setenv("AELAB_OFFLINE", "1")


EMOJIS = Path(__file__).resolve().parents[1] / "examples" / "emojis"


@pytest.mark.skipif(not EMOJIS.is_dir(), reason="examples/emojis is not in this checkout")
@pytest.mark.slow  # ~6 s on a shared machine; the font run keeps config training in the quick tier
def test_training_on_the_shipped_rgb_emoji_folder(tmp_path):
    config = load_config(None, [
        "data.dataset=folder", f"data.path={EMOJIS}", "data.input_size=32", "data.channels=3",
        "model.type=vae", "model.architecture=conv", "model.latent_dim=2", "model.conv_channels=[8, 16]",
        "model.conv_dense=32", "training.epochs=6", "training.batch_size=16", "training.seed=1",
        "training.learning_rate=0.005", "training.checkpoint_every=100", "training.threads=1",
    ])
    run = tmp_path / "run"
    run.mkdir()
    metrics = train_run(config, run, progress=False)
    assert metrics["input_shape"] == [3, 32, 32]
    assert metrics["n_train"] + metrics["n_validation"] + metrics["n_test"] == 172
    history = runs.read_history(run / runs.HISTORY)
    assert history[-1]["loss"] < history[0]["loss"]
    _, _, meta = runs.load_model(run)
    assert meta["label_names"] == ["animals", "faces", "food"] and meta["dataset"] == "emojis"
    assert (run / "reconstruction.png").is_file()


def test_training_on_the_font_from_the_cli(tmp_path, capsys):
    config = tmp_path / "font.json"
    config.write_text(json.dumps({
        "data": {"dataset": "font5x7", "test_split": 0.0},
        "model": {"type": "ae", "latent_dim": 2, "encoder_layers": [32, 16], "activation": "tanh"},
        "training": {"epochs": 150, "batch_size": 32, "learning_rate": 0.02, "validation_split": 0,
                     "patience": None, "checkpoint_every": 1000, "threads": 1},
    }))
    assert main(["-q", "train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress",
                 "--no-figures"]) == 0
    metrics = json.loads((tmp_path / "run" / runs.METRICS).read_text())
    assert metrics["binary_data"] and metrics["n_test"] == 32 and metrics["input_shape"] == [1, 7, 5]
    assert metrics["test"]["pixel_accuracy"] > 0.9  # 2 latent numbers for 32 glyphs: most pixels right


def test_datasets_command_lists_every_name_and_where_it_is(capsys, tmp_path):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("font5x7", "digits", "mnist", "fashion-mnist", "kmnist", "folder", "faces"):
        assert f"\n{name} " in out
    assert "needs data.path" in out
    # One entry per dataset (its name, then indented lines), saying where it is found once: no
    # "shipped / shipped inside aelab"; no line wider than 100 characters (issue 27).
    names = ("font5x7", "digits", "mnist", "fashion-mnist", "kmnist", "folder", "faces", "dsprites")
    table = out.split("\n\n")[0].splitlines()
    heads = [line for line in table if not line.startswith(" ")]
    assert len(heads) == 1 + len(names) and all(line.split()[0] in names for line in heads[1:]), table
    wide = [line for line in out.splitlines() if len(line) > 100]
    assert all(len(line.split()) == 1 for line in wide), wide  # only a path, kept whole to be copied
    entry = {name: " ".join(table[table.index(head):][:4]) for name, head in zip(names, heads[1:])}
    font, digits_line = entry["font5x7"].split("digits ")[0], entry["digits"].split("mnist ")[0]
    assert "inside aelab" in font and font.count("shipped") == 0
    assert "inside scikit-learn" in digits_line and digits_line.count("bundled") == 0
    assert "AELAB_OFFLINE" in out
    mnist_line = next(line for line in out.splitlines() if line.startswith("mnist "))
    assert " no " in mnist_line  # the 60k training files are not on this machine
    assert main(["datasets", "--set", f"data.path={tmp_path}"]) == 0
    assert "folder" in capsys.readouterr().out


def test_datasets_says_test_split_only_when_only_mnists_test_files_are_there(capsys, tmp_path):
    from shared_data import MNIST_TEST_DIR

    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(MNIST_TEST_DIR / name)
    assert main(["datasets", "--set", f"data.path={folder}"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("mnist "))
    entry = " ".join(line.strip() for line in lines[head:head + 4])
    assert lines[head].split()[1:3] == ["test", "only"], lines[head]
    assert "test split only" in entry and "data.published_split test" in entry and "missing" not in entry
