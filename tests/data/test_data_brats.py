"""BraTS 2020 / 2021 / 2023 loaders: naming, labels, slice policies, scaling, orientation."""

from __future__ import annotations

import numpy as np
import pytest

from data_layouts import brats_2020, brats_2021, brats_2023, brats_volumes, write_nifti
from thetascope.config import BratsSpec, ConfigError, DataConfig, apply_overrides, load_config
from thetascope.data.brats import file_token, load_brats, select_slices
from thetascope.data.problems import DataError, LoadOptions

STRICT = LoadOptions(on_bad_input="strict")


@pytest.mark.parametrize("gz", [False, True])
def test_brats2020_with_misnamed_case_355(tmp_path, gz):
    root = brats_2020(tmp_path, numbers=(1, 355), gz=gz)
    raw = load_brats(BratsSpec(root=root), STRICT)
    assert [r.split("_z")[0] for r in raw.ids] == ["BraTS20_Training_001", "BraTS20_Training_355"]
    assert raw.meta[1]["mask_path"].endswith("W39_1998.09.19_Segm.nii")
    assert raw.scaled and all(m.any() for m in raw.masks) and raw.skipped == []


def test_brats2021_and_2023_names_and_labels(tmp_path):
    for writer, labels in ((brats_2021, "2020/2021"), (brats_2023, "2023")):
        raw = load_brats(BratsSpec(root=writer(tmp_path / labels.replace("/", "-"))), STRICT)
        assert len(raw.ids) == 2 and raw.meta[0]["edition"] == labels
    assert file_token(tmp_path / "BraTS-GLI-00000-000-t2f.nii.gz") == "t2f"
    # the 2023 names map onto the canonical ones; 2023's label 3 is tumour too
    spec = BratsSpec(root=tmp_path / "2023", modality=["t2f", "t1c", "t2w"])
    assert spec.modality == ["flair", "t1ce", "t2"]
    raw = load_brats(spec, STRICT)
    assert raw.images[0].shape[0] == 3 and raw.masks[0].sum() > 0


def test_slice_policies():
    area = np.array([0, 0, 5, 9, 7, 0, 3, 0])
    pick = lambda **kw: select_slices(area, BratsSpec(root=".", **kw))  # noqa: E731
    assert pick(slice_policy="fixed", slice_index=6) == [6]
    assert pick(slice_policy="middle") == [4]
    assert pick(slice_policy="max-tumour") == [3]
    assert pick(slice_policy="all-tumour", max_slices_per_case=10) == [2, 3, 4, 6]
    assert pick(slice_policy="all-tumour", max_slices_per_case=2) == [2, 6]
    assert select_slices(np.zeros(6), BratsSpec(root=".")) == [3]  # no tumour: middle


def test_intensity_rules_and_background(tmp_path):
    root = brats_2020(tmp_path, numbers=(1,))
    img = load_brats(BratsSpec(root=root)).images[0]
    assert img.min() == 0 and img.max() == 1 and img.dtype == np.float32
    vols, _ = brats_volumes(seed=0)
    background = np.rot90(vols["flair"][::-1, ::-1, 6]) == 0
    assert (img[background] == 0).all()  # zero stays zero under percentile-nonzero
    mm = load_brats(BratsSpec(root=root, intensity="minmax")).images[0]
    assert mm.min() == 0 and mm.max() == pytest.approx(1)


def test_orientation_canonical_vs_array(tmp_path):
    root = brats_2020(tmp_path, numbers=(1,))
    canon = load_brats(BratsSpec(root=root, slice_policy="fixed", slice_index=5))
    array = load_brats(BratsSpec(root=root, slice_policy="fixed", slice_index=5,
                                 orientation="array"))
    # stored with affine diag(-1, -1, 1): RAS+ flips x and y, then anterior goes up
    np.testing.assert_array_equal(canon.masks[0], np.rot90(array.masks[0][::-1, ::-1]))


def test_all_tumour_stacks_modalities_as_channels(tmp_path):
    root = brats_2020(tmp_path, numbers=(1, 2))
    spec = BratsSpec(root=root, modality=["flair", "t1", "t2"], slice_policy="all-tumour",
                     max_slices_per_case=3)
    raw = load_brats(spec)
    assert len(raw.ids) == 6 and raw.images[0].shape == (3, 24, 24)
    assert len({r for r in raw.ids}) == 6
    with pytest.raises(ConfigError, match="stacks 2 modalities but data.channels is 3"):
        apply_overrides(load_config("smoke"), [
            f"data.datasets=[{{kind: brats, root: {root}, modality: [flair, t1]}}]"])
    assert DataConfig(channels=3, datasets=[spec]).channels == 3


def test_bad_volumes_skip_and_strict(tmp_path):
    root = brats_2020(tmp_path, numbers=(1, 2, 3, 4, 5, 6), gz=True)
    case = lambda n: root / f"BraTS20_Training_{n:03d}"  # noqa: E731
    f2 = case(2) / "BraTS20_Training_002_flair.nii.gz"
    f2.write_bytes(f2.read_bytes()[:600])  # a download cut short: header ok, data truncated
    write_nifti(case(3) / "BraTS20_Training_003_flair.nii.gz", np.zeros((24, 24), np.float32))
    _, seg = brats_volumes()
    write_nifti(case(4) / "BraTS20_Training_004_seg.nii.gz", np.where(seg > 0, 7, 0)
                .astype(np.int16))
    (case(5) / "BraTS20_Training_005_flair.nii.gz").unlink()
    write_nifti(case(6) / "BraTS20_Training_006_seg.nii.gz", np.zeros_like(seg))
    (root / "BraTS20_Training_007").mkdir()
    raw = load_brats(BratsSpec(root=root))
    reasons = {p.split("/")[-1]: r for p, r in raw.skipped}
    assert reasons["BraTS20_Training_002_flair.nii.gz"].startswith("unreadable NIfTI")
    assert reasons["BraTS20_Training_003_flair.nii.gz"].startswith("not a 3-D volume")
    assert reasons["BraTS20_Training_004_seg.nii.gz"].startswith("unexpected mask labels: [7]")
    assert reasons["BraTS20_Training_005"].startswith("missing modality: no flair")
    assert reasons["BraTS20_Training_007"].startswith("empty folder")
    # the tumour-free case stays (SSP only) with an empty mask; the good case is scored
    assert [i.split("_z")[0][-3:] for i in raw.ids] == ["001", "006"]
    assert not raw.masks[1].any()
    with pytest.raises(DataError, match=r"002_flair\.nii\.gz: unreadable NIfTI.*on_bad_input"):
        load_brats(BratsSpec(root=root), STRICT)


def test_missing_root_and_no_cases(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        load_brats(BratsSpec(root=tmp_path / "nope"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="no BraTS case folders"):
        load_brats(BratsSpec(root=tmp_path))
    with pytest.raises(DataError, match="slice index out of range"):
        load_brats(BratsSpec(root=brats_2020(tmp_path / "b", numbers=(1,)),
                             slice_policy="fixed", slice_index=99), STRICT)
