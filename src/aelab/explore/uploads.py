"""An image from outside the run (a file's bytes: `aelab serve`'s upload or drawing pad) made into
what the run's model takes: sized, coloured and binarised as its training data was (the config's
resize mode, background and binarisation)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from aelab.config import DataConfig
from aelab.data.dataset import ImageData
from aelab.data.folder import FORMATS, flatten
from aelab.data.transforms import binarize, conform
from aelab.errors import AelabError

MAX_PIXELS = 4096 * 4096  # larger pictures are refused before they are decoded


def image_as_trained(data: bytes, input_shape: tuple[int, int, int], data_config: DataConfig) -> np.ndarray:
    """Image file bytes -> (1, C, H, W) float in [0, 1], as the run's training images were made."""
    c, h, w = input_shape
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            if img.width * img.height > MAX_PIXELS:
                raise AelabError(f"the image is {img.width}x{img.height} pixels; send one of at most "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            img.seek(0)
            img.load()
            img = flatten(img, tuple(data_config.background), c)
            array = np.array(img, dtype=np.uint8)  # a writable copy
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, EOFError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AelabError(f"the upload is not a readable image ({reason}); send a PNG, JPEG, BMP, GIF or WebP") from None
    array = array[None, None] if c == 1 else array.transpose(2, 0, 1)[None]
    image = conform(ImageData(np.ascontiguousarray(array)), (h, w), c, data_config.resize)
    if data_config.binarize == "threshold":  # "dynamic" draws pixels while training only
        image = binarize(image)
    return image.floats()
