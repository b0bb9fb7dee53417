"""A generic ``images/`` + ``masks/`` folder dataset, paired by file stem.

    raw = load_folder(Path("/data/mine"))      # images/a.png pairs with masks/a.png,
                                               # masks/a_mask.png or masks/a-mask.png

PNG, JPEG, TIFF and BMP are read with Pillow; colour images are converted to grayscale
(ITU-R 601 luma). Masks are foreground where value > threshold × max, which also cleans
JPEG ringing. Images without a mask are used for SSP only and counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thetascope.data.builtin import RawSet

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
MASK_SUFFIXES = ("", "_mask", "-mask", "_Mask", "_seg")


class DataError(ValueError):
    """A problem with input data, worded for the user: names the file and the fix."""


def read_gray(path: Path) -> np.ndarray:
    """Read an image file as a 2-D float32 array, with a clear error on corrupt files."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(
            f"{path}: cannot be read as an image ({exc}); re-export or remove it"
        ) from None
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise DataError(f"{path}: expected a 2-D image, got shape {arr.shape}")
    return arr


def _files(folder: Path) -> dict[str, Path]:
    return {
        p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    }


def load_folder(
    root: Path, image_dir: str = "images", mask_dir: str = "masks", threshold: float = 0.5
) -> RawSet:
    root = Path(root).expanduser()
    img_dir, msk_dir = root / image_dir, root / mask_dir
    for d in (img_dir, msk_dir):
        if not d.is_dir():
            raise DataError(
                f"{d}: folder not found; a 'folder' dataset needs {root}/{image_dir}/ and "
                f"{root}/{mask_dir}/ (set image_dir/mask_dir if yours are named differently)"
            )
    images, masks = _files(img_dir), _files(msk_dir)
    if not images:
        raise DataError(f"{img_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    out = RawSet([], [], [], synthetic=False, source=f"folder {root}")
    for stem, path in images.items():
        mpath = next((masks[stem + s] for s in MASK_SUFFIXES if stem + s in masks), None)
        image = read_gray(path)
        mask = None
        if mpath is not None:
            m = read_gray(mpath)
            if m.shape != image.shape:
                raise DataError(
                    f"{mpath}: mask is {m.shape[1]}×{m.shape[0]} but its image {path.name} is "
                    f"{image.shape[1]}×{image.shape[0]}; masks must match their image's size"
                )
            mask = m > threshold * m.max() if m.max() > 0 else np.zeros(m.shape, bool)
        out.images.append(image)
        out.masks.append(mask)
        out.ids.append(stem)
        out.meta.append({"image_path": str(path), "mask_path": str(mpath) if mpath else None})
    return out
