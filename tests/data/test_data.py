import gzip

import numpy as np
import pytest
from PIL import Image

from thetascope.config import DataConfig, FolderSpec, MRILesionSpec, PhantomSpec
from thetascope.data.builtin import load_builtin_arrays, lung_window
from thetascope.data.folder import DataError, load_folder
from thetascope.data.nrrd import read_nrrd
from thetascope.data.phantoms import generate
from thetascope.data.preprocess import resize_mask, scale_intensity, to_model_input
from thetascope.data.problems import LoadOptions
from thetascope.data.registry import create_dataset


@pytest.mark.parametrize("kind", ["phantom-cxr", "phantom-polyp"])
def test_phantoms_are_deterministic_and_prefix_stable(kind):
    a_img, a_msk = generate(kind, count=3, size=48, seed=5)
    b_img, b_msk = generate(kind, count=5, size=48, seed=5)
    c_img, _ = generate(kind, count=3, size=48, seed=6)
    assert np.array_equal(a_img, b_img[:3]) and np.array_equal(a_msk, b_msk[:3])
    assert not np.array_equal(a_img, c_img)
    assert a_img.dtype == np.float32 and a_img.min() >= 0 and a_img.max() <= 1
    assert all(m.any() for m in a_msk)


@pytest.mark.parametrize("kind", ["phantom-cxr", "phantom-polyp"])
def test_phantom_foreground_is_not_the_brightest_region(kind):
    images, masks = generate(kind, count=8, size=96, seed=0)
    for img, m in zip(images, masks, strict=True):
        brightest = img >= np.quantile(img, 0.95)
        # the top-5% brightest pixels are mostly NOT foreground
        assert (brightest & m).sum() < 0.5 * brightest.sum()


def test_builtin_real_data_loads():
    mri = load_builtin_arrays("mri-lesion")
    assert len(mri.images) == 48 and mri.images[0].shape == (256, 256)
    assert sum(m.any() for m in mri.masks) == 10
    assert not mri.synthetic and "pyradiomics" in mri.source
    ct = load_builtin_arrays("ct-nodule", window_center=-600, window_width=1500)
    assert len(ct.images) == 109 and sum(m.any() for m in ct.masks) == 14
    assert ct.images[0].min() >= 0 and ct.images[0].max() <= 1


def test_lung_window():
    hu = np.array([-2000, -1350, -600, 150, 3000])
    assert lung_window(hu, -600, 1500).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_registry_split_and_counts():
    ds = create_dataset(MRILesionSpec(), DataConfig(image_size=32, max_eval_images=4))
    assert len(ds.ssp) == 48 and len(ds.eval) == 4
    # at 32 px one tiny lesion covers less than half a pixel: counted, not silently dropped
    assert ds.skipped == {"empty mask": 38, "mask lost in resize": 1, "over max_eval": 5}
    img, msk, ids = ds.eval_arrays()
    assert img.shape == (4, 3, 32, 32) and msk.shape == (4, 32, 32) and msk.any(axis=(1, 2)).all()
    assert ds.fingerprint() == create_dataset(MRILesionSpec(), DataConfig(
        image_size=32, max_eval_images=4)).fingerprint()


def test_phantom_registry_marks_synthetic():
    ds = create_dataset(PhantomSpec(kind="phantom-polyp", count=6, size=48), DataConfig())
    assert ds.synthetic and "SYNTHETIC" in ds.source


def _nrrd(arr: np.ndarray, encoding="gzip", typ="short") -> bytes:
    sizes = " ".join(str(s) for s in arr.shape[::-1])
    head = f"NRRD0004\ntype: {typ}\ndimension: {arr.ndim}\nsizes: {sizes}\nendian: little\n" \
           f"encoding: {encoding}\n\n"
    payload = arr.astype("<i2").tobytes()
    return head.encode() + (gzip.compress(payload) if encoding == "gzip" else payload)


def test_nrrd_reader_round_trip_and_errors():
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    for enc in ("gzip", "raw"):
        out, header = read_nrrd(_nrrd(arr, enc), "x.nrrd")
        assert np.array_equal(out, arr) and header["encoding"] == enc
    with pytest.raises(ValueError, match="x.nrrd: not an NRRD"):
        read_nrrd(b"hello", "x.nrrd")
    with pytest.raises(ValueError, match="encoding 'bzip2'"):
        read_nrrd(_nrrd(arr, "bzip2"), "x.nrrd")
    with pytest.raises(ValueError, match="payload has"):
        read_nrrd(_nrrd(arr, "raw")[:-4], "x.nrrd")


def test_scale_and_resize():
    img = np.array([[0, 50], [100, 1000]], dtype=float)
    np.testing.assert_allclose(scale_intensity(img, "minmax"), [[0, 0.05], [0.1, 1.0]],
                               rtol=1e-6)
    assert scale_intensity(np.ones((3, 3))).max() == 0  # constant image: zeros, no nan
    with pytest.raises(ValueError, match="no finite"):
        scale_intensity(np.full((2, 2), np.nan))
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True
    assert resize_mask(m, 4).sum() == 4
    x, mm = to_model_input(np.random.rand(10, 14), np.ones((10, 14), bool), size=8, channels=3)
    assert x.shape == (3, 8, 8) and mm.shape == (8, 8)


def _save(path, arr, mode="L", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(path, format=fmt)


def test_folder_pairs_by_stem_and_suffix(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((40, 40)) * 255)
    mask = np.zeros((40, 40))
    mask[10:20, 10:20] = 255
    _save(tmp_path / "images" / "a.png", img)
    _save(tmp_path / "masks" / "a_mask.png", mask)
    _save(tmp_path / "images" / "b.jpg", img)
    _save(tmp_path / "masks" / "b.jpg", mask)  # JPEG mask: ringing must be thresholded
    _save(tmp_path / "images" / "c.png", img)  # no mask: SSP only, counted
    raw = load_folder(tmp_path)
    assert raw.ids == ["a", "b", "c"]
    assert raw.masks[2] is None
    for m in raw.masks[:2]:
        assert m.dtype == bool and abs(int(m.sum()) - 100) <= 12
    ds = create_dataset(FolderSpec(root=tmp_path), DataConfig(image_size=32))
    assert len(ds.ssp) == 3 and len(ds.eval) == 2 and ds.skipped == {"no mask": 1}


def test_folder_errors_name_the_file(tmp_path):
    strict = LoadOptions(on_bad_input="strict")
    with pytest.raises(DataError, match="folder not found"):
        load_folder(tmp_path)
    _save(tmp_path / "images" / "a.png", np.zeros((20, 30)))
    _save(tmp_path / "masks" / "a.png", np.zeros((10, 10)))
    with pytest.raises(DataError, match=r"a\.png: size mismatch: mask is 10×10 but its image "
                       r"a\.png is 30×20"):
        load_folder(tmp_path, opts=strict)
    (tmp_path / "masks" / "a.png").unlink()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with pytest.raises(DataError, match=r"a\.png: unreadable image"):
        load_folder(tmp_path, opts=strict)
    assert load_folder(tmp_path).skipped[0][1].startswith("unreadable image")  # skip policy


def test_dataset_without_masks_is_a_clear_error(tmp_path):
    _save(tmp_path / "images" / "a.png", np.zeros((20, 20)))
    _save(tmp_path / "images" / "b.png", np.zeros((20, 20)))
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="no image has a non-empty mask"):
        create_dataset(FolderSpec(root=tmp_path), DataConfig(image_size=16))
