"""The IDX reader on MNIST's real test files, and on damaged copies of them."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from aelab.data.idx import read_idx
from aelab.data.mnist_family import DATASETS
from aelab.errors import AelabError
from shared_data import MNIST_TEST_DIR

MNIST = MNIST_TEST_DIR
IMAGES, LABELS = MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz"

pytestmark = pytest.mark.skipif(not IMAGES.is_file(), reason="MNIST's test files (../shared/data/mnist) are not on this machine")


def test_reads_the_real_mnist_test_set_and_its_checksums():
    images, images_sha = read_idx(IMAGES)
    labels, labels_sha = read_idx(LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.tolist()[:10] == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.min() == 0 and images.max() == 255 and images.flags.writeable
    # The content hashes aelab verifies against are those of the official files.
    files = DATASETS["mnist"].files
    assert images_sha == files["test_images"].content_sha256
    assert labels_sha == files["test_labels"].content_sha256
    assert hashlib.sha256(IMAGES.read_bytes()).hexdigest() == files["test_images"].archive_sha256


def test_raw_and_gzipped_files_read_the_same(tmp_path):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(LABELS.read_bytes()))
    a, sha_a = read_idx(raw)
    b, sha_b = read_idx(LABELS)
    assert np.array_equal(a, b) and sha_a == sha_b


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) - 100], "truncated"),
    (lambda raw: raw[:10], "truncated inside its header"),
    (lambda raw: raw + b"\0" * 7, "longer than its header"),
    (lambda raw: b"\x00\x00\x08\x09" + raw[4:], "longer than its header"),  # 9 dimensions: 0 values
    (lambda raw: raw[:4] + b"\xff\xff\xff\xff" + raw[8:], "truncated"),  # 4 billion images: no allocation
    (lambda raw: b"\x00\x00\x07\x03" + raw[4:], "not an IDX file"),  # no type 0x07
    (lambda raw: b"PK\x03\x04" + raw[4:], "not an IDX file"),
    (lambda raw: b"", "fewer than 4 bytes"),
])
def test_damaged_raw_files_are_one_line_errors_naming_the_file(tmp_path, damage, message):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(damage(gzip.decompress(IMAGES.read_bytes())))
    with pytest.raises(AelabError, match=message) as e:
        read_idx(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_truncated_gzip_is_an_error(tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(LABELS.read_bytes()[:2000])
    with pytest.raises(AelabError, match="broken gzip"):
        read_idx(bad)
