"""Writers of tiny synthetic datasets in the exact on-disk layouts of DATA.md (test helpers).

    root = brats_2020(tmp_path, numbers=(1, 355))   # BraTS20_Training_NNN/..._{flair,...}.nii
    root = kvasir(tmp_path, n=4, renamed=True)      # images/image_<i>.jpg + masks/mask_<i>.jpg
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

BRATS_AFFINE = np.diag([-1.0, -1.0, 1.0, 1.0])  # BraTS volumes are stored LPS-like


def save_png(path: Path, arr: np.ndarray, fmt: str | None = None, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(arr).astype(np.uint8))
    if fmt == "JPEG" or path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, format="JPEG", quality=quality)
    else:
        img.save(path, format=fmt)
    return path


def blob(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def gray_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, w)[None, :].repeat(h, 0)
    return np.clip(base + rng.normal(0, 10, (h, w)), 0, 255)


def mask_image(h: int, w: int, seed: int, value: int = 255) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    cy, cx = rng.uniform(0.35, 0.65, 2) * (h, w)
    return blob(h, w, cy, cx, min(h, w) * 0.2).astype(np.uint8) * value


# --------------------------------------------------------------------------- BraTS
def brats_volumes(shape=(24, 24, 12), seed=0, labels=(1, 2, 4), tumour_z=(4, 9)):
    """(dict modality -> float volume, int16 label volume)."""
    rng = np.random.default_rng(seed)
    x, y, z = shape
    brain = np.zeros(shape, bool)
    brain[:, :, :] = blob(x, y, x / 2, y / 2, min(x, y) * 0.42)[:, :, None]
    seg = np.zeros(shape, np.int16)
    cx, cy = x * 0.4 + seed % 3, y * 0.55
    for k in range(*tumour_z):
        r = 2 + 3 * (1 - abs(k - np.mean(tumour_z)) / len(range(*tumour_z)))
        disc = blob(x, y, cx, cy, r)
        seg[:, :, k][disc] = labels[1]
        seg[:, :, k][blob(x, y, cx, cy, r * 0.6)] = labels[0]
        seg[:, :, k][blob(x, y, cx, cy, r * 0.3)] = labels[2]
    vols = {}
    for i, m in enumerate(("flair", "t1", "t1ce", "t2")):
        v = brain * (300 + 50 * i + rng.normal(0, 20, shape)) + (seg > 0) * 200
        vols[m] = np.where(brain, v, 0).astype(np.float32)
    return vols, seg


def write_nifti(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, BRATS_AFFINE), str(path))
    return path


def brats_2020(root: Path, numbers=(1, 2, 3), gz: bool = False, **kw) -> Path:
    """``BraTS20_Training_NNN`` cases; case 355 has the misnamed label file."""
    ext = ".nii.gz" if gz else ".nii"
    for i, num in enumerate(numbers):
        case = f"BraTS20_Training_{num:03d}"
        vols, seg = brats_volumes(seed=i, **kw)
        for m, v in vols.items():
            write_nifti(root / case / f"{case}_{m}{ext}", v)
        seg_name = "W39_1998.09.19_Segm.nii" if num == 355 else f"{case}_seg{ext}"
        write_nifti(root / case / seg_name, seg)
    return root


def brats_2021(root: Path, n_cases: int = 2) -> Path:
    for i in range(n_cases):
        case = f"BraTS2021_{i:05d}"
        vols, seg = brats_volumes(seed=i)
        for m, v in vols.items():
            write_nifti(root / case / f"{case}_{m}.nii.gz", v)
        write_nifti(root / case / f"{case}_seg.nii.gz", seg)
    return root


def brats_2023(root: Path, n_cases: int = 2) -> Path:
    names = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w"}
    for i in range(n_cases):
        case = f"BraTS-GLI-{i:05d}-000"
        vols, seg = brats_volumes(seed=i, labels=(1, 2, 3))
        for m, v in vols.items():
            write_nifti(root / case / f"{case}-{names[m]}.nii.gz", v)
        write_nifti(root / case / f"{case}-seg.nii.gz", seg)
    return root


# --------------------------------------------------------------------------- 2-D sets
def lung_paper(root: Path, n: int = 3, size=(40, 40)) -> Path:
    for i in range(n):
        save_png(root / "train" / "image" / f"cxrimage_{i}.png", gray_image(*size, i))
        save_png(root / "train" / "mask" / f"cxrmask_{i}.jpeg", mask_image(*size, i))
    return root


def lung_kaggle(root: Path, n: int = 2, size=(40, 40)) -> Path:
    for i in range(n):
        for prefix, suffix in (("MCUCXR", ""), ("CHNCXR", "_mask")):
            stem = f"{prefix}_{i + 1:04d}_{i % 2}"
            save_png(root / "CXR_png" / f"{stem}.png", gray_image(*size, i))
            save_png(root / "masks" / f"{stem}{suffix}.png", mask_image(*size, i))
    return root


def lung_montgomery(root: Path, n: int = 2, size=(40, 40)) -> Path:
    h, w = size
    for i in range(n):
        stem = f"MCUCXR_{i + 1:04d}_0"
        save_png(root / "CXR_png" / f"{stem}.png", gray_image(h, w, i))
        left, right = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
        left[10:30, 5:15], right[10:30, 25:35] = 255, 255
        save_png(root / "ManualMask" / "leftMask" / f"{stem}.png", left)
        save_png(root / "ManualMask" / "rightMask" / f"{stem}.png", right)
    return root


def lung_covid(root: Path, classes=("COVID", "Normal"), n: int = 2) -> Path:
    """299² images with 256² masks, as in the COVID-19 Radiography Database."""
    for c in classes:
        for i in range(1, n + 1):
            save_png(root / c / "images" / f"{c}-{i}.png", gray_image(299, 299, i))
            save_png(root / c / "masks" / f"{c}-{i}.png", mask_image(256, 256, i))
    return root


def kvasir(root: Path, n: int = 3, renamed: bool = False, size=(48, 56)) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        rgb = np.clip(rng.normal(120, 30, (*size, 3)), 0, 255)
        stem_i, stem_m = (f"image_{i}", f"mask_{i}") if renamed else (f"cju{i}abc", f"cju{i}abc")
        save_png(root / "images" / f"{stem_i}.jpg", rgb)
        save_png(root / "masks" / f"{stem_m}.jpg", mask_image(*size, i))
    return root
