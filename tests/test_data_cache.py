"""The decoded folder cache on disk: decoded by worker processes into a .npy, read back whole or
through a memory map, and a model trained from the map learns exactly what it learns in memory."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.config import load_config
from aelab.data.cache import decode_into, drop_rows, open_images
from aelab.data.dataset import ImageData
from aelab.data.folder import decode_image, load_folder
from aelab.data import ondisk
from aelab.data.ondisk import DiskImages, DiskTensor
from aelab.data.splits import split
from aelab.evaluate.metrics import evaluate
from aelab.models.registry import build_model
from aelab.train.trainer import Trainer

def build(config, shape):
    return build_model(config.model, tuple(shape), seed=config.training.seed)



@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))


@pytest.fixture
def folder(tmp_path):
    """300 small RGB images of discs in two labelled sub-folders, one damaged file."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:12, :12]
    root = tmp_path / "discs"
    for i in range(300):
        sub = root / f"class{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        image = np.zeros((12, 12, 3), np.uint8)
        cy, cx, r = rng.integers(3, 9, 3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
        Image.fromarray(image).save(sub / f"{i:03d}.png")
    (root / "class0" / "broken.png").write_bytes(b"not a png")
    return root


def test_two_workers_decode_the_same_images_as_one_process(folder, tmp_path):
    files = sorted(folder.rglob("*.png"))
    decode = functools.partial(decode_image, size=(12, 12), channels=3, resize="pad", background=(255, 255, 255))
    parallel, serial = tmp_path / "parallel.npy", tmp_path / "serial.npy"
    failures = decode_into(parallel, files, (3, 12, 12), decode, workers=2)
    assert decode_into(serial, files, (3, 12, 12), decode, workers=1) == failures
    assert list(failures) == [files.index(folder / "class0" / "broken.png")]
    assert np.array_equal(np.load(parallel), np.load(serial))
    drop_rows(parallel, list(failures))
    assert len(np.load(parallel)) == len(files) - 1


def test_a_cached_folder_equals_the_uncached_one_and_reads_back_mapped(folder):
    plain = load_folder(folder, (12, 12), 3, cache=False)
    cached = load_folder(folder, (12, 12), 3)  # decoded into the cache
    again = load_folder(folder, (12, 12), 3)  # read back from it
    assert len(plain) == 300 and plain.label_names == ["class0", "class1"]
    for data in (cached, again):
        assert np.array_equal(np.asarray(data.images), plain.images)
        assert np.array_equal(data.labels, plain.labels)
    cache_files = sorted((folder.parent / "aelab-data" / "folders").glob("discs-*"))
    assert [f.suffix for f in cache_files] == [".npy", ".npz"]
    mapped = open_images(cache_files[0], in_memory=False)
    assert isinstance(mapped, DiskImages) and mapped.shape == plain.images.shape
    assert np.array_equal(mapped[[5, 2, 299, 2]], plain.images[[5, 2, 299, 2]])  # any order, repeats
    assert np.array_equal(mapped[-1], plain.images[-1]) and np.array_equal(mapped[10:20], plain.images[10:20])


def test_training_from_the_map_gives_the_same_weights_as_in_memory(folder, monkeypatch):
    monkeypatch.setattr(ondisk, "SMALL_SUBSET", 0)  # splits of this small folder stay on disk too
    plain = load_folder(folder, (12, 12), 3, cache=False)
    load_folder(folder, (12, 12), 3)
    npy = next((folder.parent / "aelab-data" / "folders").glob("discs-*.npy"))
    on_disk = ImageData(open_images(npy, in_memory=False), plain.labels, plain.label_names, plain.name)
    config = load_config(None, ["model.encoder_layers=[32]", "model.latent_dim=4", "training.epochs=3",
                                "training.batch_size=32", "training.validation_split=0.2"])
    results = []
    for data in (plain, on_disk):
        train, validation = split(data, 0.2, seed=0)
        assert isinstance(train.images, DiskImages) == (data is on_disk)  # a split is a view, not a copy
        model = build(config, data.shape)
        state = Trainer(model, config, "cpu", progress=False).fit(train.tensor(), validation.tensor())
        results.append((model.state_dict(), state.history, evaluate(model, validation.tensor(), 1, False)))
    (w_mem, h_mem, m_mem), (w_map, h_map, m_map) = results
    assert isinstance(on_disk.tensor(), DiskTensor)
    assert all(torch.equal(w_mem[k], w_map[k]) for k in w_mem)
    timeless = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert timeless(h_mem) == timeless(h_map)
    assert m_mem == m_map
    assert h_mem[-1]["loss"] < h_mem[0]["loss"]
