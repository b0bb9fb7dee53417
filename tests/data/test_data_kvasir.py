"""Kvasir-SEG in both namings, JPEG masks, and the grayscale / RGB choice."""

from __future__ import annotations

import numpy as np
import pytest

from data_layouts import kvasir, mask_image, save_png
from thetascope.config import DataConfig, KvasirSpec
from thetascope.data.kvasir import kvasir_layout, load_kvasir
from thetascope.data.problems import DataError, LoadOptions
from thetascope.data.registry import create_dataset


@pytest.mark.parametrize("renamed", [False, True])
def test_both_namings_pair_and_threshold(tmp_path, renamed):
    root = kvasir(tmp_path / "Kvasir-SEG", n=3, renamed=renamed)
    (root.parent / "kavsir_bboxes.json").write_text("{}")
    raw = load_kvasir(KvasirSpec(root=tmp_path), LoadOptions(on_bad_input="strict"))
    assert raw.ids == (["image_0", "image_1", "image_2"] if renamed else
                       ["cju0abc", "cju1abc", "cju2abc"])
    assert kvasir_layout(tmp_path)[0] == ("renamed" if renamed else "original")
    truth = mask_image(48, 56, 1) > 0
    assert (raw.masks[1] ^ truth).sum() <= 6  # JPEG ringing thresholded away
    assert raw.images[0].shape == (48, 56)  # luma by default


def test_rgb_keeps_colour_channels(tmp_path):
    root = kvasir(tmp_path, n=2)
    raw = load_kvasir(KvasirSpec(root=root), LoadOptions(color="rgb"))
    assert raw.images[0].shape == (3, 48, 56)
    ds = create_dataset(KvasirSpec(root=root), DataConfig(image_size=32, color="rgb",
                                                          cache=False))
    img = ds.eval[0].image
    assert img.shape == (3, 32, 32) and not np.array_equal(img[0], img[1])
    gray = create_dataset(KvasirSpec(root=root), DataConfig(image_size=32, cache=False))
    assert np.array_equal(gray.eval[0].image[0], gray.eval[0].image[2])
    with pytest.raises(ValueError, match="data.color=rgb needs data.channels=3"):
        DataConfig(color="rgb", channels=1)


def test_unpaired_and_missing(tmp_path):
    root = kvasir(tmp_path, n=2)
    save_png(root / "masks" / "stray.jpg", mask_image(48, 56, 0))
    raw = load_kvasir(KvasirSpec(root=root))
    assert raw.skipped == [(str(root / "masks" / "stray.jpg"),
                            "mask without image: no matching image in the image folder")]
    with pytest.raises(DataError, match=r"stray\.jpg: mask without image"):
        load_kvasir(KvasirSpec(root=root), LoadOptions(on_bad_input="strict"))
    with pytest.raises(DataError, match="no images/ and masks/"):
        load_kvasir(KvasirSpec(root=root / "images"))
