"""The Fréchet distance in a digits classifier's features (torchmetrics with a custom extractor):
~0 for a set against itself, small between train and test images, large for noise; the
classifier's accuracy tells real digits from wrongly labelled ones; it is cached and reloaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aelab.data import download
from aelab.data.builtin import digits
from aelab.data.splits import split
from aelab.evaluate.feature_classifier import classifier_for
from aelab.evaluate.sample_quality import classifier_accuracy, frechet_distance, judge, nearest

TRAIN, TEST = split(digits(), 0.2, seed=0)


@pytest.fixture(scope="module")
def classifier():
    return classifier_for(TRAIN)


def test_the_frechet_distance_is_zero_for_the_same_images_and_large_for_noise(classifier):
    same = frechet_distance(TEST.images, TEST.images, classifier)
    between = frechet_distance(TRAIN.images, TEST.images, classifier)
    noise = np.random.default_rng(0).random(TEST.images.shape, dtype=np.float32)
    assert abs(same) < 1e-3
    assert between > 1e-3
    assert frechet_distance(TEST.images, noise, classifier) > 10 * between
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(TEST.images, TEST.images[:1], classifier)


def test_classifier_accuracy_is_high_for_true_labels_and_low_for_shuffled_ones(classifier):
    assert classifier_accuracy(TEST.images, TEST.labels, classifier) > 0.85
    shuffled = np.random.default_rng(0).permutation(TEST.labels)
    assert classifier_accuracy(TEST.images, shuffled, classifier) < 0.3


def test_the_classifier_is_cached_per_dataset_and_reloaded_identically(classifier):
    folder = download.cache_root() / "classifiers"
    files = {f: f.stat().st_mtime_ns for f in folder.glob("digits-*.safetensors")}
    assert files  # other tests of the session may have cached classifiers of other digit splits
    again = classifier_for(TRAIN)
    assert {f: f.stat().st_mtime_ns for f in folder.glob("digits-*.safetensors")} == files  # read, not retrained
    for a, b in zip(classifier.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow  # ~5 s on a shared machine
def test_aelab_evaluate_reports_the_frechet_distance_of_a_trained_vaes_samples(tmp_path, capsys, classifier):
    from aelab.cli import main
    import json

    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", "--no-figures", "--set", "training.epochs=15",
                 "--set", "model.latent_dim=4", "--set", "training.threads=1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--splits", "test", "--fd-samples", "300"]) == 0
    assert "frechet_distance" in capsys.readouterr().out
    test = json.loads((run / "metrics.json").read_text())["test"]
    noise = np.random.default_rng(1).random((300, *TEST.shape), dtype=np.float32)
    assert 0 < test["frechet_distance"] < frechet_distance(TEST.images, noise, classifier) / 3
    assert test["classifier_accuracy"] > 0.85  # the same classifier: trained on the run's training split
    # beside the distance, its floor (real images) and the copy check, also in the printed table
    assert 0 < test["frechet_distance_real"] < test["frechet_distance"]
    assert test["frechet_ratio"] == pytest.approx(test["frechet_distance"] / test["frechet_distance_real"])
    assert 0 < test["nearest_training_rms_real"] < test["nearest_training_rms"]  # blurry samples: no copies
    main(["evaluate", str(run), "--fd-samples", "300", "--sampler", "gaussian"])
    table = capsys.readouterr().out
    assert "frechet_distance_gaussian" in table and "frechet_ratio_gaussian" in table


def test_judging_samples_tells_copies_and_noise_from_new_images(classifier):
    """Training images passed off as samples sit at distance 0 from the training set, nearer than
    new (test) images; noise is far from both and its distance is many times the real floor."""
    copies = TRAIN.images[:300]
    judged = judge(copies, {"test": TEST.images}, TRAIN.images, classifier, seed=0)["test"]
    assert judged["nearest_training_rms"] == 0 < judged["nearest_training_rms_real"]
    noise = np.random.default_rng(0).random((300, *TEST.shape), dtype=np.float32)
    judged = judge(noise, {"test": TEST.images}, TRAIN.images, classifier, seed=0, name="frechet_distance_x")["test"]
    assert judged["frechet_ratio_x"] > 10 and judged["nearest_training_rms_x"] > judged["nearest_training_rms_real"]
    index, rms = nearest(TEST.images[:5], TEST.images)
    assert index.tolist() == [0, 1, 2, 3, 4] and np.allclose(rms, 0)
