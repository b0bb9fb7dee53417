"""Chest X-ray layouts: the paper's, Kaggle (``_mask`` suffix), Montgomery, COVID-19."""

from __future__ import annotations

import numpy as np
import pytest

from data_layouts import (
    lung_covid,
    lung_kaggle,
    lung_montgomery,
    lung_paper,
    mask_image,
    save_png,
)
from thetascope.config import LungSpec
from thetascope.data.lung import load_lung, lung_layout
from thetascope.data.problems import DataError, LoadOptions

STRICT = LoadOptions(on_bad_input="strict")


def test_paper_layout_pairs_by_index_and_thresholds_jpeg_masks(tmp_path):
    root = lung_paper(tmp_path / "lung", n=3)
    raw = load_lung(LungSpec(root=root), STRICT)
    assert raw.ids == ["cxrimage_0", "cxrimage_1", "cxrimage_2"]
    assert raw.meta[0]["mask_path"].endswith("cxrmask_0.jpeg")
    truth = mask_image(40, 40, 0) > 0
    for m in raw.masks[:1]:  # JPEG ringing removed by the threshold
        assert m.dtype == bool and (m ^ truth).sum() <= 4
    # root may also point at the folder above (an unzipped archive)
    assert lung_layout(tmp_path) == ("paper", root)


def test_kaggle_shenzhen_masks_carry_a_suffix(tmp_path):
    root = lung_kaggle(tmp_path / "Lung Segmentation", n=2)
    save_png(root / "CXR_png" / "CHNCXR_0099_1.png", np.zeros((40, 40)))  # no mask
    raw = load_lung(LungSpec(root=tmp_path))  # found one level down
    assert raw.ids[:2] == ["CHNCXR_0001_0", "CHNCXR_0002_1"]
    by_id = dict(zip(raw.ids, raw.meta, strict=True))
    assert by_id["CHNCXR_0001_0"]["mask_path"].endswith("CHNCXR_0001_0_mask.png")
    assert by_id["MCUCXR_0001_0"]["mask_path"].endswith("masks/MCUCXR_0001_0.png")
    assert raw.masks[raw.ids.index("CHNCXR_0099_1")] is None
    with pytest.raises(DataError, match=r"CHNCXR_0099_1\.png: no mask"):
        load_lung(LungSpec(root=root, layout="kaggle"), STRICT)


def test_montgomery_lung_is_the_union_of_both_sides(tmp_path):
    root = lung_montgomery(tmp_path, n=2)
    (root / "ManualMask" / "rightMask" / "MCUCXR_0002_0.png").unlink()
    raw = load_lung(LungSpec(root=root, layout="montgomery"))
    assert raw.masks[0].sum() == 20 * 10 * 2
    assert raw.masks[0][:, :20].any() and raw.masks[0][:, 20:].any()
    assert raw.masks[1] is None
    assert raw.meta[1]["no_mask_reason"] == "no mask: rightMask missing in ManualMask/"


def test_covid_masks_are_resized_to_their_images(tmp_path):
    root = lung_covid(tmp_path, classes=("COVID", "Normal", "Viral Pneumonia"), n=2)
    raw = load_lung(LungSpec(root=root), STRICT)
    assert raw.ids[0] == "COVID-1" and len(raw.ids) == 6
    assert raw.images[0].shape == (299, 299) and raw.masks[0].shape == (299, 299)
    expected = mask_image(256, 256, 1).astype(bool)
    assert abs(raw.masks[0].mean() - expected.mean()) < 0.01
    only = load_lung(LungSpec(root=root, classes=["Viral Pneumonia"]))
    assert only.ids == ["Viral Pneumonia-1", "Viral Pneumonia-2"]
    with pytest.raises(DataError, match="no class folder 'Lung_Opacity'"):
        load_lung(LungSpec(root=root, classes=["Lung_Opacity"]))


def test_wrong_or_missing_layout_is_explained(tmp_path):
    root = lung_paper(tmp_path / "p", n=1)
    with pytest.raises(DataError, match="not the 'covid' layout"):
        load_lung(LungSpec(root=root, layout="covid"))
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="no chest X-ray layout found.*cxrimage"):
        load_lung(LungSpec(root=tmp_path))
    with pytest.raises(DataError, match="folder not found"):
        load_lung(LungSpec(root=tmp_path / "missing"))
    assert len(load_lung(LungSpec(root=root, max_images=1)).ids) == 1
