"""Dataset specs (data/spec.py): a dataset added from a script with aelab.register_dataset trains
through the CLI like a built-in one, `aelab datasets` lists every spec with its description, and
every spec says whether it is available without loading torch (nor the data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aelab
from aelab.cli import main
from aelab.data.registry import dataset_spec, dataset_specs, load_dataset, register_dataset
from aelab.data.spec import Availability, DatasetSpec
from aelab.errors import AelabError
from aelab.vocabulary import DATASET_SPECS, DATASETS

SRC = Path(aelab.__file__).parent.parent


def bars():
    """96 binary 6x6 images, each one full-width horizontal or full-height vertical bar (12 distinct
    images, labelled "row" or "column"): a dataset defined in this file, as a user would."""
    from aelab.data.dataset import ImageData

    images = np.zeros((12, 1, 6, 6), np.uint8)
    for i in range(6):
        images[i, 0, i, :] = 255
        images[6 + i, 0, :, i] = 255
    index = np.arange(96) % 12
    return ImageData(images[index], (index >= 6).astype(np.int64), ["row", "column"], "bars")


BARS = DatasetSpec("bars", "96 binary 6x6 bars, one row or one column lit; labels row/column",
                   lambda cfg: (bars(), None), check=lambda path: Availability(True, "drawn by tests/test_dataset_specs.py"))


@pytest.fixture
def registered():
    register_dataset(BARS)
    yield BARS
    DATASET_SPECS.pop(BARS.name, None)  # a registration lasts for the process: leave the other tests the built-in set


def test_a_dataset_registered_from_a_script_trains_through_the_cli(registered, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["-q", "train", "--set", "data.dataset=bars", "--set", "data.test_split=0.25",
                 "--set", "model.type=ae", "--set", "model.latent_dim=3", "--set", "model.encoder_layers=[24]",
                 "--set", "training.epochs=100", "--set", "training.learning_rate=0.005",
                 "--set", "training.batch_size=16", "--set", "training.threads=1",
                 "--out", str(run), "--no-progress", "--no-figures"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["input_shape"] == [1, 6, 6] and metrics["n_test"] == 24 and metrics["binary_data"]
    # Three numbers for 12 bars: nearly every pixel right (drawing nothing gets 30 of 36, 0.83).
    assert metrics["test"]["pixel_accuracy"] > 0.95, metrics["test"]
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["dataset"] == "bars"
    # The spec's own load, split by data.test_split: the same 72 training images every time.
    train, test = load_dataset(aelab.load_config(None, ["data.dataset=bars", "data.test_split=0.25"]).data, seed=0)
    assert (len(train), len(test)) == (72, 24) and train.shape == (1, 6, 6)


def test_aelab_datasets_lists_every_spec_with_its_description(registered, capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    # Each entry: its name, the OFFLINE column, then the description (wrapped at 100 characters).
    entries = {}
    for line in out.split("\n\n")[0].splitlines()[1:]:
        if not line.startswith(" "):
            name = line.split()[0]
            entries[name] = []
        entries[name].append(line.strip())
    assert list(entries) == [*DATASETS, "bars"]
    for spec in dataset_specs():
        text = " ".join(entries[spec.name])
        assert " ".join(spec.description.split()) in text.replace("- ", "-"), (spec.name, text)
    assert entries["bars"][0].split()[1] == "yes" and "drawn by tests/test_dataset_specs.py" in " ".join(entries["bars"])


def test_every_spec_answers_available_without_torch_or_the_data(tmp_path):
    # In a fresh interpreter: the registry, every spec's available() (with and without a data.path)
    # and the listing itself load neither torch nor scikit-learn, and draw no dSprites.
    code = ("import json, sys, contextlib, io\n"
            "from aelab.data.registry import dataset_specs\n"
            f"answers = {{s.name: [list(s.available(p)) for p in (None, {str(tmp_path)!r})] for s in dataset_specs()}}\n"
            "from aelab.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['datasets'])\n"
            "print(json.dumps({'answers': answers, 'loaded': [m for m in ('torch', 'sklearn', 'cv2') if m in sys.modules]}))\n")
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "AELAB_DATA_DIR": str(tmp_path / "cache"),
           "AELAB_OFFLINE": "1", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loaded"] == [], seen["loaded"]
    answers = seen["answers"]
    assert set(answers) == set(DATASETS)
    for name, ((offline, where, _), (offline_with_path, where_with_path, _)) in answers.items():
        assert isinstance(offline, bool) and where and where_with_path, name
    # What each kind of dataset says: shipped ones load; folders need data.path, then are found.
    assert answers["font5x7"][0][:2] == [True, "inside aelab"] and answers["digits"][0][0] is True
    assert answers["folder"][0][:2] == [False, "needs data.path (a folder of images)"]
    assert answers["faces"][1][:2] == [True, f"{tmp_path} (found)"]
    assert answers["kmnist"][0][0] is False and "AELAB_OFFLINE" in answers["kmnist"][0][1]  # nothing in an empty home
    assert answers["dsprites"][0][0] is True and "on first use" in answers["dsprites"][0][1]
    assert not (tmp_path / "cache" / "dsprites").exists()  # asked, not drawn


def test_a_misspelt_or_unknown_dataset_is_one_line_and_registering_is_checked(registered):
    with pytest.raises(AelabError, match=r"data.dataset: not a dataset; did you mean 'bars'\?.*register_dataset"):
        aelab.load_config(None, ["data.dataset=bras"])
    DATASET_SPECS.pop("bars")
    with pytest.raises(AelabError, match="data.dataset: not a dataset; choose one of font5x7, digits"):
        aelab.load_config(None, ["data.dataset=bars"])  # gone with its registration
    register_dataset(BARS)
    with pytest.raises(AelabError, match="'mnist' is built in"):
        register_dataset(DatasetSpec("mnist", "mine", BARS.load))
    with pytest.raises(AelabError, match="takes an aelab.data.spec.DatasetSpec, not dict"):
        register_dataset({"name": "x"})
    # A spec whose load returns something else than (ImageData, ImageData or None): one line.
    register_dataset(DatasetSpec("arrays", "plain arrays", lambda cfg: (np.zeros((4, 1, 2, 2)), None)))
    try:
        with pytest.raises(AelabError, match=r"dataset 'arrays': its spec's load returned tuple, not \(ImageData"):
            load_dataset(aelab.load_config(None, ["data.dataset=arrays"]).data, seed=0)
    finally:
        DATASET_SPECS.pop("arrays")


def test_the_built_in_names_are_the_specs_names():
    # vocabulary.DATASET_SPECS's one line per dataset names a spec of that very name.
    assert [dataset_spec(name).name for name in DATASETS] == list(DATASETS)
    assert {s.name for s in dataset_specs() if s.needs_path} == {"folder", "faces"}


PACKAGE = """
import numpy as np
from aelab.data.spec import Availability, DatasetSpec


def load(cfg):
    from aelab.data.dataset import ImageData

    images = np.zeros((12, 1, 6, 6), np.uint8)
    for i in range(6):
        images[i, 0, i, :] = 255
        images[6 + i, 0, :, i] = 255
    index = np.arange(96) % 12
    return ImageData(images[index], (index >= 6).astype(np.int64), ["row", "column"], "bars"), None


SPEC = DatasetSpec("pkgbars", "96 binary 6x6 bars from an installed package", load,
                   check=lambda path: Availability(True, "drawn by barspkg"))
"""


def installed_package(tmp_path: Path) -> dict:
    """A package declaring two aelab.datasets entry points, installed as pip would (its module and
    a .dist-info folder on the path): one right, one naming a spec of another name."""
    site = tmp_path / "site"
    (site / "barspkg-1.0.dist-info").mkdir(parents=True)
    (site / "barspkg.py").write_text(PACKAGE)
    (site / "barspkg-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: barspkg\nVersion: 1.0\n")
    (site / "barspkg-1.0.dist-info" / "entry_points.txt").write_text(
        "[aelab.datasets]\npkgbars = barspkg:SPEC\nmislabelled = barspkg:SPEC\n")
    return {**__import__("os").environ, "PYTHONPATH": f"{site}{__import__('os').pathsep}{SRC}"}


def test_a_dataset_of_an_installed_package_trains_in_any_process(tmp_path):
    # The entry point reaches a fresh interpreter (as a sweep's worker on another machine would be),
    # where a dataset registered from a script does not exist.
    env = installed_package(tmp_path)
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "aelab", "-q", "train", "--set", "data.dataset=pkgbars",
                           "--set", "data.test_split=0.25", "--set", "model.type=ae", "--set", "model.latent_dim=3",
                           "--set", "model.encoder_layers=[24]", "--set", "training.epochs=60",
                           "--set", "training.learning_rate=0.005", "--set", "training.batch_size=16",
                           "--set", "training.threads=1", "--out", str(run), "--no-progress", "--no-figures"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["input_shape"] == [1, 6, 6] and metrics["n_test"] == 24
    listed = subprocess.run([sys.executable, "-m", "aelab", "datasets"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and "pkgbars" in listed.stdout and "from an installed package" in listed.stdout
    assert "mislabelled" not in listed.stdout and "'mislabelled'" in listed.stderr  # a warning, the rest listed
    wrong = subprocess.run([sys.executable, "-m", "aelab", "-q", "train", "--set", "data.dataset=mislabelled",
                            "--out", str(tmp_path / "wrong"), "--no-progress"], env=env, capture_output=True,
                           text=True, timeout=120)
    line = wrong.stderr.strip()
    assert wrong.returncode != 0 and len(line.splitlines()) == 1, line
    assert "mislabelled" in line and "barspkg:SPEC" in line and "DatasetSpec" in line
    assert not (tmp_path / "wrong").exists()
