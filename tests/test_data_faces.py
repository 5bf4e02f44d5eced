"""Faces found in photos with OpenCV's Haar cascade: scikit-image's astronaut and LFW faces, and
photos without a face (coffee, a rocket, LFW's non-face patches)."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")

from aelab.config import load_config  # noqa: E402
from aelab.data.faces import MANIFEST, crops_folder, load_faces  # noqa: E402
from aelab.data.registry import load_dataset  # noqa: E402
from aelab.errors import AelabError  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))


def save(array: np.ndarray, path, size=None):
    image = Image.fromarray(array if array.dtype == np.uint8 else (array * 255).astype(np.uint8))
    if size:  # LFW's patches are 25x25: too small for the detector, as a thumbnail would be
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "my_photos"
    save(skimage_data.astronaut(), root / "astronaut.jpg")
    save(skimage_data.coffee(), root / "coffee.jpg")
    save(skimage_data.rocket(), root / "rocket.png")
    lfw = skimage_data.lfw_subset()  # 100 faces, then 100 non-faces
    for i in range(0, 100, 10):
        save(lfw[i], root / "people" / f"face{i}.png", size=100)
        save(lfw[100 + i], root / "patches" / f"patch{i}.png", size=100)
    return root


@pytest.mark.slow
def test_faces_are_cropped_once_into_the_cache(photos, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="aelab"):
        data = load_faces(photos)
    out = crops_folder(photos)
    assert out.parent == tmp_path / "aelab-data" / "faces" and (out / MANIFEST).is_file()
    assert sorted(p.name for p in photos.parent.iterdir()) == ["aelab-data", "my_photos"]  # nothing beside the photos
    assert data.shape == (1, 70, 70) and data.images.dtype == np.uint8
    manifest = json.loads((out / MANIFEST).read_text())["photos"]
    found = {name for name, entry in manifest.items() if entry["crop"]}
    assert "astronaut.jpg" in found and not {"coffee.jpg", "rocket.png"} & found
    faces = sum(n.startswith("people/") for n in found)
    patches = sum(n.startswith("patches/") for n in found)
    assert faces >= 7 and patches <= 1, (faces, patches)
    assert len(data) == len(found) and (out / "astronaut.jpg.png").is_file()
    # The astronaut's crop is a face: brighter skin in the middle than the dark background corners.
    astronaut = np.asarray(Image.open(out / "astronaut.jpg.png"), dtype=float)
    assert astronaut[25:45, 25:45].mean() > astronaut[:10, :10].mean()
    # Sub-folders of the photos carry over as labels.
    assert "people" in data.label_names and "my_photos" in data.label_names and data.name == "my_photos"
    report = " ".join(r.getMessage() for r in caplog.records)
    assert "had no detectable face" in report and "coffee.jpg" in report

    # The next run reuses the crops (same files, untouched) and only looks at new photos.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    save(skimage_data.astronaut()[:, ::-1], photos / "mirrored.jpg")
    again = load_faces(photos)
    assert len(again) == len(data) + 1
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


@pytest.mark.slow
def test_rgb_crops_of_another_size_replace_the_old_ones(photos):
    grey = load_faces(photos)
    rgb = load_faces(photos, size=(32, 32), channels=3, margin=0.1)
    assert rgb.shape == (3, 32, 32) and len(rgb) == len(grey)
    assert Image.open(crops_folder(photos) / "astronaut.jpg.png").size == (32, 32)


@pytest.mark.slow  # ~6 s on a shared machine; photos without faces keep detection in the quick tier
def test_faces_through_the_config(photos):
    config = load_config(None, ["data.dataset=faces", f"data.path={photos}", "data.input_size=48",
                                "data.face_margin=0.3", "data.test_split=0.25"]).data
    train, test = load_dataset(config, seed=0)
    assert train.shape == (1, 48, 48) and len(train) + len(test) >= 8


def test_photos_without_faces_are_an_error_that_leaves_nothing(tmp_path):
    root = tmp_path / "landscapes"
    save(skimage_data.coffee(), root / "coffee.jpg")
    save(skimage_data.rocket(), root / "rocket.png")
    with pytest.raises(AelabError, match="no face found in any of the 2 photos"):
        load_faces(root)
    assert not crops_folder(root).exists()


@pytest.mark.slow  # ~4 s on a shared machine
def test_a_crops_folder_not_made_by_aelab_is_left_alone(photos):
    mine = crops_folder(photos)
    mine.mkdir(parents=True)
    (mine / "precious.png").write_bytes(b"user data")
    assert len(load_faces(photos)) > 0  # never a dead end: the crops go beside it
    assert sorted(p.name for p in mine.iterdir()) == ["precious.png"]
    assert crops_folder(photos) == mine.with_name(mine.name + "-2")


@pytest.mark.slow
def test_the_face_check_finds_the_cameraman_and_rejects_coins_and_the_moon(tmp_path, capsys):
    """The cameraman (half profile) in shifted and scaled copies of scikit-image's `camera`, and
    photos whose Haar candidates are not faces. Before the check: 1 of 30 copies, coins cropped."""
    from aelab.cli import main
    from aelab.data.faces import read_report

    root = tmp_path / "shoot"
    rng = np.random.default_rng(0)
    camera = skimage_data.camera()
    shifts = []
    for i in range(8):
        dy, dx = rng.integers(0, 60, 2)
        scale = rng.uniform(0.8, 1.2)
        crop = Image.fromarray(camera[dy:dy + 450, dx:dx + 450])
        side = round(450 * scale)
        save(np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR)), root / f"camera{i}.png")
        shifts.append((dy, dx, scale))
    save(skimage_data.coins(), root / "coins.png")
    save(skimage_data.moon(), root / "moon.png")
    assert main(["datasets", "faces", "--set", f"data.path={root}", "--preview", "--out", str(tmp_path / "grid.png")]) == 0
    printed = capsys.readouterr().out
    assert "10 photos gave" in printed and (tmp_path / "grid.png").stat().st_size > 1000
    manifest = json.loads((crops_folder(root) / MANIFEST).read_text())["photos"]
    assert manifest["coins.png"]["crop"] is None and manifest["moon.png"]["crop"] is None
    assert manifest["coins.png"]["rejected"] > 0  # candidates were found, and the check threw them out
    found = 0
    for i, (dy, dx, scale) in enumerate(shifts):
        entry = manifest[f"camera{i}.png"]
        if entry["crop"]:
            x, y, w, h = entry["box"]
            centre = ((x + w / 2) / scale + dx, (y + h / 2) / scale + dy)
            assert 160 < centre[0] < 270 and 80 < centre[1] < 210, centre  # on his head, nowhere else
            found += 1
    assert found >= 3, found  # 19 of 30 copies in a longer run; 1 of 30 before the check
    report = read_report(root)
    assert report["photos"] == 10 and report["crops"] == found and "coins.png" in report["only_rejected_candidates"]
