"""dSprites drawn procedurally: the published factor grid, deterministic, positions where the
factors say, loaded through the config with its factors; a file that is not dSprites is refused."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.config import load_config
from aelab.data import dsprites
from aelab.data.registry import load_dataset
from aelab.errors import AelabError


def test_the_grid_has_the_published_factor_counts_and_order():
    assert dsprites.N_IMAGES == 737_280 == 3 * 6 * 40 * 32 * 32
    classes = dsprites.factor_classes(np.arange(dsprites.N_IMAGES))
    assert [len(np.unique(c)) for c in classes.T] == [3, 6, 40, 32, 32]
    assert classes[1].tolist() == [0, 0, 0, 0, 1]  # position y varies fastest, as published
    assert classes[-1].tolist() == [2, 5, 39, 31, 31]
    index = np.random.default_rng(0).choice(dsprites.N_IMAGES, 1000)
    assert np.array_equal(dsprites.factor_index(dsprites.factor_classes(index)), index)
    assert len(dsprites.SCALES) == 6 and len(dsprites.ORIENTATIONS) == 40 and len(dsprites.POSITIONS) == 32


def test_drawing_is_deterministic_binary_and_follows_the_factors():
    first, second = dsprites.load(n=600), dsprites.load(n=600)
    assert np.array_equal(first.images, second.images) and np.array_equal(first.factors, second.factors)
    assert first.images.shape == (600, 1, 64, 64) and first.binary
    assert np.array_equal(first.labels, first.factors[:, 0]) and first.label_names == ["square", "ellipse", "heart"]
    pixels = first.images[:, 0] > 0
    assert pixels.sum((1, 2)).min() > 20  # every image shows its sprite
    rows, cols = np.indices((64, 64))
    centre_x = (pixels * cols).sum((1, 2)) / pixels.sum((1, 2))
    centre_y = (pixels * rows).sum((1, 2)) / pixels.sum((1, 2))
    assert np.corrcoef(centre_x, first.factors[:, 3])[0, 1] > 0.98
    assert np.corrcoef(centre_y, first.factors[:, 4])[0, 1] > 0.98
    corner = first.factors.copy()
    corner[:, 3:] = 0  # the same sprite at position (0, 0), shifted by the position factors
    at_corner = dsprites.render(dsprites.factor_index(corner))
    for image, sprite, (x, y) in zip(pixels[:50], at_corner[:50], first.factors[:50, 3:]):
        assert np.array_equal(image, np.roll(sprite, (y, x), axis=(0, 1)))
    area = pixels.sum((1, 2))
    for shape in range(3):  # larger scale, larger sprite
        mine = first.factors[:, 0] == shape
        assert np.corrcoef(area[mine], dsprites.SCALES[first.factors[mine, 1]] ** 2)[0, 1] > 0.95
    again = dsprites.render(dsprites.factor_index(first.factors))
    assert np.array_equal(again, pixels)


def test_the_config_limit_draws_a_uniform_subset_with_its_factors():
    config = load_config(None, ["data.dataset=dsprites", "data.limit=400"])
    train, test = load_dataset(config.data, seed=0)
    assert len(train) == 400 and 90 <= len(test) <= 110
    assert train.factor_names == ["shape", "scale", "orientation", "position_x", "position_y"]
    assert train.factors.shape == (400, 5)
    assert len(np.unique(train.factors[:, 2])) > 30  # spread over the grid, not its first images
    redrawn = dsprites.render(dsprites.factor_index(test.factors))
    assert np.array_equal(redrawn, test.images[:, 0] > 0)


def test_a_file_that_is_not_the_original_npz_is_refused_in_one_line(tmp_path):
    wrong = tmp_path / dsprites.ORIGINAL_FILE
    np.savez(wrong, imgs=np.zeros((5, 64, 64), np.uint8), latents_classes=np.zeros((5, 6), np.int64))
    with pytest.raises(AelabError, match="dSprites has"):
        dsprites.load(str(tmp_path))
    with pytest.raises(AelabError, match="not found"):
        dsprites.load(str(tmp_path / "missing.npz"))


def test_aelab_datasets_lists_dsprites_as_available_offline(capsys):
    from aelab.cli import main

    assert main(["datasets"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("dsprites "))
    assert " yes " in line and "737,280" in line


def test_factor_values_draws_a_smaller_grid_evenly_spaced_and_refuses_unknown_factors():
    config = load_config(None, ["data.dataset=dsprites", "data.factor_values.orientation=1",
                                "data.factor_values.position_x=4", "data.test_split=0.1"])
    train, test = load_dataset(config.data, seed=0)
    assert len(train) + len(test) == 3 * 6 * 1 * 4 * 32  # the whole smaller grid, no limit
    factors = np.concatenate([train.factors, test.factors])
    assert np.unique(factors[:, 2]).tolist() == [0]  # upright: the first orientation
    assert np.unique(factors[:, 3]).tolist() == [0, 10, 21, 31]  # evenly spaced, both ends kept
    assert len(np.unique(factors[:, 4])) == 32 and len(np.unique(factors[:, 1])) == 6
    assert np.array_equal(dsprites.render(dsprites.factor_index(test.factors)), test.images[:, 0] > 0)
    limited = load_config(None, ["data.dataset=dsprites", "data.factor_values.orientation=1", "data.limit=500"])
    train, _ = load_dataset(limited.data, seed=0)
    assert len(train) == 500 and np.unique(train.factors[:, 2]).tolist() == [0]
    with pytest.raises(AelabError, match="no factor 'rotation'; did you mean 'orientation'"):
        load_dataset(load_config(None, ["data.dataset=dsprites", "data.factor_values.rotation=1"]).data, seed=0)
    with pytest.raises(AelabError, match="factor_values.shape: 4 values asked, dSprites has 3"):
        load_dataset(load_config(None, ["data.dataset=dsprites", "data.factor_values.shape=4"]).data, seed=0)
    with pytest.raises(AelabError, match="data.dataset is 'digits'"):
        load_config(None, ["data.factor_values.shape=1"])
