"""Image folders: formats, transparency, sizes, labels, damaged files, and the decoded cache."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelab.cli import main
from aelab.config import load_config
from aelab.data.folder import cache_dir, load_folder
from aelab.data.registry import available, load_dataset
from aelab.errors import AelabError

YELLOW = (255, 200, 0)
EMOJIS = Path(__file__).resolve().parents[1] / "examples" / "emojis"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))
    return tmp_path / "aelab-data"


def emoji(size=(40, 50)) -> Image.Image:
    """A yellow disc on a transparent background, like an emoji set's PNGs."""
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[inside] = (*YELLOW, 255)
    return Image.fromarray(rgba, "RGBA")


@pytest.fixture
def emojis(tmp_path):
    """Sub-folders (labels), every format, transparency, and three damaged files."""
    root = tmp_path / "emojis"
    rng = np.random.default_rng(0)
    for label in ("faces", "hands"):
        (root / label / "nested").mkdir(parents=True)
        for i in range(3):
            emoji().save(root / label / f"e{i}.png")
        emoji().save(root / label / "nested" / "deep.webp", lossless=True)
        Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(root / label / "photo.jpg")
        Image.fromarray(np.full((28, 28, 3), 90, np.uint8)).save(root / label / "grey.bmp")
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(root / "hands" / "anim.gif", save_all=True, append_images=frames[1:])
    (root / "faces" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "faces" / "cut.jpg").write_bytes((root / "faces" / "photo.jpg").read_bytes()[:200])
    (root / "hands" / "empty.gif").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"junk")
    return root


def test_every_format_loads_with_labels_and_damaged_files_skipped(emojis, caplog):
    with caplog.at_level(logging.WARNING, logger="aelab"):
        data = load_folder(emojis, (32, 32), 3)
    assert data.images.shape == (2 * 6 + 1, 3, 32, 32) and data.images.dtype == np.uint8
    assert data.label_names == ["faces", "hands"]
    assert np.bincount(data.labels).tolist() == [6, 7]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(skipped) == 3 and any("broken.png" in m for m in skipped) and any("cut.jpg" in m for m in skipped)
    assert any("3 of 16 files" in r.getMessage() for r in caplog.records)


def test_transparency_becomes_the_background_and_pad_keeps_the_aspect(tmp_path):
    root = tmp_path / "one"
    root.mkdir()
    emoji((40, 80)).save(root / "wide.png")
    white = load_folder(root, (32, 32), 3, resize="pad", cache=False).images[0]
    assert white[:, 0, 0].tolist() == [255, 255, 255]  # padding and transparent pixels: white
    assert white[:, 16, 16].tolist() == list(YELLOW)
    black = load_folder(root, (32, 32), 3, resize="pad", background=(0, 0, 0), cache=False).images[0]
    assert black[:, 0, 0].tolist() == [0, 0, 0]
    crop = load_folder(root, (32, 32), 3, resize="crop", cache=False).images[0]
    stretch = load_folder(root, (32, 32), 3, resize="stretch", cache=False).images[0]
    # The disc fills more of a centre crop than of a padded (letterboxed) image.
    yellow = lambda img: int((img[2] < 50).sum())  # noqa: E731 (yellow: no blue)
    assert yellow(crop) > yellow(white) and yellow(stretch) > yellow(white)
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (root / "wide.png").rename(tmp_path / "wide.png")
    (tmp_path / "anim.gif").rename(root / "anim.gif")
    assert load_folder(root, (8, 8), 3, cache=False).images[0, :, 4, 4].tolist() == [0, 0, 255]  # frame 1
    (tmp_path / "wide.png").rename(root / "wide.png")
    grey = load_folder(root, (16, 16), 1, cache=False).images[1]
    assert grey.shape == (1, 16, 16) and grey[0, 0, 0] == 255
    assert abs(int(grey[0, 8, 8]) - round(0.299 * 255 + 0.587 * 200)) <= 2  # luma of yellow


def test_unset_size_and_channels_come_from_the_first_image(tmp_path):
    root = tmp_path / "grey"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((12, 10), 40 * i, np.uint8), "L").save(root / f"{i}.png")
    data = load_folder(root)
    assert data.shape == (1, 12, 10) and data.labels is None
    assert data.images[:, 0, 0, 0].tolist() == [0, 40, 80]


def test_the_second_load_comes_from_the_cache_until_the_folder_changes(emojis, caplog):
    first = load_folder(emojis, (24, 24), 3)
    assert len(list(cache_dir().glob("emojis-*.npz"))) == 1
    with caplog.at_level(logging.INFO, logger="aelab"):
        second = load_folder(emojis, (24, 24), 3)
    assert any("from the cache" in r.getMessage() for r in caplog.records)
    assert np.array_equal(first.images, second.images) and np.array_equal(first.labels, second.labels)
    assert second.label_names == first.label_names
    other = load_folder(emojis, (16, 16), 1)  # other preprocessing: its own cache beside the first
    assert other.shape == (1, 16, 16) and len(list(cache_dir().glob("emojis-*.npz"))) == 2
    emoji().save(emojis / "faces" / "new.png")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aelab"):
        third = load_folder(emojis, (24, 24), 3)
    assert len(third) == len(first) + 1
    assert not any("from the cache" in r.getMessage() for r in caplog.records)
    assert len(list(cache_dir().glob("emojis-*.npz"))) == 2  # the stale one was replaced


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "does not exist"),
    (lambda root: root.mkdir(), "has no images"),
    (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"nope")), "no readable image"),
    (lambda root: root.write_text("x"), "is a file, not a folder"),
])
def test_bad_folders_are_one_line_errors_and_nothing_is_cached(tmp_path, setup, message, private_cache):
    root = tmp_path / "images"
    setup(root)
    with pytest.raises(AelabError, match=message) as e:
        load_dataset(load_config(None, ["data.dataset=folder", f"data.path={root}"]).data, seed=0)
    assert "\n" not in str(e.value)
    assert not private_cache.exists()


def test_cli_reports_a_missing_folder_and_bad_config_keys_in_one_line(tmp_path, capsys):
    for overrides, expected in [
        (["data.dataset=folder", f"data.path={tmp_path / 'missing'}"], "does not exist"),
        (["data.dataset=folder", "data.channels=2"], "data.channels"),
        (["data.input_size=0"], "data.input_size"),
    ]:
        args = ["train", "--out", str(tmp_path / "run")] + [a for o in overrides for a in ("--set", o)]
        assert main(args) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aelab: error:")]
        assert len(errors) == 1 and expected in errors[0], errors


def test_folder_availability(emojis):
    assert available("folder", str(emojis)) and not available("folder", None)
    assert not available("folder", str(emojis / "nope"))
    assert os.path.isdir(emojis)


@pytest.mark.skipif(not EMOJIS.is_dir(), reason="examples/emojis is not in this checkout")
def test_the_shipped_noto_emojis_as_seed_004_and_seed_003_use_them():
    rgb = load_folder(EMOJIS, (64, 64), 3)  # seed 004: 64x64 RGB
    assert rgb.images.shape == (172, 3, 64, 64) and rgb.label_names == ["animals", "faces", "food"]
    white_corner = (rgb.images[:, :, 0, 0] == 255).all(axis=1)
    assert white_corner.mean() > 0.9  # transparent corners composited on white (a few fill the box)
    grey = load_folder(EMOJIS, (28, 28), 1)  # seed 003: 28x28 grey
    assert grey.images.shape == (172, 1, 28, 28) and grey.images.std() > 20
