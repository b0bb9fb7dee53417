"""The batched HoG equals skimage's hog image by image."""

import numpy as np
import pytest
from skimage.feature import hog

from thetascope.data.phantoms import generate
from thetascope.orient.hog_batch import hog_batch


@pytest.mark.parametrize("params", [
    dict(orientations=9, pixels_per_cell=16, cells_per_block=2, block_norm="L2-Hys"),
    dict(orientations=9, pixels_per_cell=64, cells_per_block=1, block_norm="L2-Hys"),
    dict(orientations=6, pixels_per_cell=8, cells_per_block=3, block_norm="L1"),
    dict(orientations=12, pixels_per_cell=7, cells_per_block=2, block_norm="L2"),
    # 180/7 and 180/8 are not integers: the corrected binning path
    dict(orientations=7, pixels_per_cell=16, cells_per_block=2, block_norm="L1-sqrt"),
    dict(orientations=8, pixels_per_cell=16, cells_per_block=2, block_norm="L2-Hys"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_skimage(params, dtype):
    rng = np.random.default_rng(0)
    phantoms = generate("phantom-cxr", 3, 128, seed=0)[0]
    noise = rng.random((2, 128, 128))
    steps = np.zeros((1, 128, 128))
    steps[:, :, 64:] = 1.0  # exact 0°/90° gradients sit on bin edges
    gray = np.concatenate([phantoms, noise, steps]).astype(dtype)
    ours = hog_batch(gray, **params)
    ref = np.stack([hog(g, pixels_per_cell=(params["pixels_per_cell"],) * 2,
                        cells_per_block=(params["cells_per_block"],) * 2,
                        orientations=params["orientations"], block_norm=params["block_norm"])
                    for g in gray])
    assert ours.shape == ref.shape
    # skimage's Cython accumulates each cell's votes in single precision (``cdef float``)
    # and in another order, so agreement is to float32 rounding, whatever the input dtype
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=1e-7)


def test_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        hog_batch(np.zeros((1, 20, 20)), pixels_per_cell=16, cells_per_block=2)
