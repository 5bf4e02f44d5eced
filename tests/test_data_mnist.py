"""The MNIST family end to end: lookup order, verification, the decoded cache, downloads over real
HTTP (a local server with the real MNIST test files), and the one-line errors when files are missing."""

import dataclasses
import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from aelab.cli import main
from aelab.config import load_config
from aelab.data import download, mnist_family
from aelab.data.registry import available, load_dataset
from aelab.errors import AelabError
from shared_data import MNIST_TEST_DIR

SHARED_MNIST = MNIST_TEST_DIR
FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                                   reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
needs_mnist_test = pytest.mark.skipif(not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                                      reason="MNIST's test files (../shared/data/mnist) are not on this machine")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))
    monkeypatch.setenv("AELAB_OFFLINE", "1")
    return tmp_path / "aelab-data"


def data_config(*overrides):
    return load_config(None, list(overrides)).data


@needs_fashion
def test_fashion_mnist_loads_as_published_and_again_from_the_cache(private_cache):
    train, test = load_dataset(data_config("data.dataset=fashion-mnist"), seed=0)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.shape == (1, 28, 28) and train.images.dtype == np.uint8 and train.images.flags.c_contiguous
    assert train.label_names[0] == "T-shirt/top" and train.label_names[9] == "Ankle boot"
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert test.label_text(0) == "Ankle boot"  # the first test image is a boot
    cached = private_cache / "decoded" / "fashion-mnist" / "train-images-idx3-ubyte.npy"
    assert cached.is_file()
    written = cached.stat().st_mtime_ns
    again, _ = load_dataset(data_config("data.dataset=fashion-mnist"), seed=0)
    assert cached.stat().st_mtime_ns == written  # read from the cache, not decoded again (bench/ times it)
    assert np.array_equal(again.images, train.images)
    assert available("fashion-mnist")


@needs_fashion
def test_mnist_family_preprocessing_and_limit():
    train, test = load_dataset(data_config("data.dataset=fashion-mnist", "data.limit=100",
                                           "data.input_size=32", "data.binarize=threshold"), seed=0)
    assert len(train) == 100 and len(test) == 10000 and train.shape == (1, 32, 32) and train.binary


@needs_fashion
def test_a_damaged_file_in_data_path_wins_the_lookup_and_is_refused(tmp_path, private_cache):
    folder = tmp_path / "fashion"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(FASHION / name)
    labels = bytearray(gzip.decompress((FASHION / "train-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10  # one wrong label: still valid IDX, wrong content
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes(labels))
    with pytest.raises(AelabError, match="checksum mismatch") as e:
        load_dataset(data_config("data.dataset=fashion-mnist", f"data.path={folder}"), seed=0)
    assert "train-labels-idx1-ubyte" in str(e.value)
    assert not (private_cache / "decoded").exists()  # nothing cached from a refused dataset
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes(labels[:-5000]))  # truncated now
    assert main(["train", "--set", "data.dataset=fashion-mnist", "--set", f"data.path={folder}",
                 "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run" / "model.safetensors").exists()


@needs_mnist_test
def test_mnist_with_only_the_test_files_names_the_missing_train_files(capsys, tmp_path):
    config = data_config("data.dataset=mnist", f"data.path={SHARED_MNIST}")
    with pytest.raises(AelabError) as e:
        load_dataset(config, seed=0)
    message = str(e.value)
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz not found" in message
    assert "found t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message
    assert "data.path" in message and "$AELAB_DATA_DIR/mnist/" in message and "internet" in message
    assert "\n" not in message and "data.published_split" in message
    assert not available("mnist", str(SHARED_MNIST))
    code = main(["train", "--set", "data.dataset=mnist", "--set", f"data.path={SHARED_MNIST}",
                 "--out", str(tmp_path / "run")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aelab: error:")]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("aelab: error: mnist: train-images")


@needs_mnist_test
def test_mnist_published_test_set_alone_is_split_by_test_split():
    config = data_config("data.dataset=mnist", f"data.path={SHARED_MNIST}", "data.published_split=test",
                         "data.test_split=0.25")
    train, test = load_dataset(config, seed=0)
    assert (len(train), len(test)) == (7500, 2500) and train.shape == (1, 28, 28)
    assert sorted(set(train.labels.tolist())) == list(range(10)) and train.label_names[3] == "3"
    again, _ = load_dataset(config, seed=0)
    assert np.array_equal(again.images, train.images)  # the split is seeded


def test_data_path_that_is_not_a_folder_is_an_error(tmp_path):
    with pytest.raises(AelabError, match="is not a folder"):
        load_dataset(data_config("data.dataset=kmnist", f"data.path={tmp_path / 'nowhere'}"), seed=0)


# ---------------------------------------------------------------------- downloads over real HTTP

@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A local HTTP server with MNIST's real test archives, plus a damaged copy of one."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("MNIST's test files (../shared/data/mnist) are not on this machine")
    root = tmp_path_factory.mktemp("mirror")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (root / name).write_bytes((SHARED_MNIST / name).read_bytes())
    (root / "bad").mkdir()
    (root / "bad" / "t10k-labels-idx1-ubyte.gz").write_bytes((SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()[:-10])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_fetch_verifies_and_writes_atomically(mirror, tmp_path):
    spec = mnist_family.DATASETS["mnist"].files["test_labels"]
    dest = tmp_path / "dl" / spec.archive
    download.fetch([mirror + "bad/" + spec.archive, mirror + spec.archive], dest, spec.archive_sha256,
                   progress=False)  # the first mirror serves a damaged file: the second one is used
    assert dest.read_bytes() == (SHARED_MNIST / spec.archive).read_bytes()
    with pytest.raises(download.DownloadError, match="does not match"):
        download.fetch([mirror + "bad/" + spec.archive], tmp_path / "x" / spec.archive, spec.archive_sha256,
                       progress=False)
    with pytest.raises(download.DownloadError, match="HTTP 404"):
        download.fetch([mirror + "nothing.gz"], tmp_path / "x" / "nothing.gz", "0" * 64, progress=False)
    assert list((tmp_path / "x").iterdir()) == []  # no partial or unverified file kept
    with pytest.raises(download.DownloadError, match="unreachable"):
        download.fetch(["http://127.0.0.1:9/x.gz"], tmp_path / "y" / "x.gz", "0" * 64, progress=False)
    assert not (tmp_path / "y").exists()  # no folder made for a mirror that never answered


def test_missing_files_are_downloaded_into_the_cache(mirror, monkeypatch, private_cache, tmp_path):
    monkeypatch.delenv("AELAB_OFFLINE")
    spec = dataclasses.replace(mnist_family.DATASETS["mnist"], mirrors=(mirror,))
    empty = tmp_path / "empty"
    empty.mkdir()
    # The mirror has only the test files: those arrive (verified); the train files are reported.
    with pytest.raises(AelabError, match="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz not found") as e:
        mnist_family.resolve(spec, str(empty), progress=False)
    assert "HTTP 404" in str(e.value)
    got = sorted(p.name for p in (private_cache / "mnist").iterdir())
    assert got == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    images, _ = mnist_family.read_idx(private_cache / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28)


@needs_mnist_test
def test_datasets_does_not_list_mnists_test_files_as_another_datasets(capsys, private_cache):
    # MNIST's t10k files where Fashion-MNIST's and KMNIST's are looked for: the names match, the
    # content does not. The listing must say what loading says (refused), not "test only".
    for name in ("fashion-mnist", "kmnist"):
        folder = private_cache / name
        folder.mkdir(parents=True)
        for file in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            (folder / file).symlink_to(SHARED_MNIST / file)
    assert main(["datasets", "--set", f"data.path={SHARED_MNIST}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entries = {}
    for i, line in enumerate(lines):
        if line and not line.startswith(" "):
            entries[line.split()[0]] = " ".join(part.strip() for part in lines[i:i + 6])
    assert entries["mnist"].split()[1:3] == ["test", "only"]  # MNIST's own files still count
    for name in ("fashion-mnist", "kmnist"):
        assert entries[name].split()[1] == "no", entries[name]
        assert f"not {name}'s (checksum)" in entries[name] and "test split only" not in entries[name]
        assert not available(name) and not mnist_family.test_split_only(name)
        with pytest.raises(AelabError, match="checksum mismatch"):  # what the listing said
            load_dataset(data_config(f"data.dataset={name}", "data.published_split=test"), seed=0)
