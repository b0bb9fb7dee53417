"""Read 2-D images and masks with Pillow; every failure is a ``BadFile`` naming the fix.

    img = read_image(Path("a.jpg"), color="luma")     # float32 (H, W)
    img = read_image(Path("a.jpg"), color="rgb")      # float32 (3, H, W); gray stays (H, W)
    m = read_mask(Path("a_mask.jpg"), threshold=0.5)  # bool (H, W)
    m = fit_mask(m, img.shape[-2:], "a.jpg")          # same aspect: nearest resize

Rules (docs/DATASETS.md): colour is converted to ITU-R 601 luma unless ``color="rgb"``;
16-bit and float images keep their values. A mask is foreground where value >
threshold × max; a mask whose pixels are mostly neither ~0 nor ~max (more than 2 % between
25 % and 75 % of its maximum) is not a binary mask and is rejected (JPEG ringing stays
within those bands). A mask of another size but the same aspect ratio (within 2 %) is
resized to its image with nearest neighbour (COVID-19 Radiography: 256² masks, 299²
images); any other size difference is a mismatch.

Hostile files (docs/RELIABILITY.md): an empty (0-byte) file, an image whose header claims
more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a decompression bomb: refused from the
header, before any pixel is allocated), NaN or Inf pixels (float TIFF) and, in a lossless
mask (PNG, TIFF, BMP), two or more non-zero labels each covering ≥ 0.5 % of the pixels (a
label map, e.g. 1, 2, 4, where a binary mask is expected) are each a ``BadFile``. Palette
("P") masks are read as their palette indices; RGBA and LA files lose their alpha channel.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thetascope.data.problems import BadFile

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
LOSSLESS_SUFFIXES = {".png", ".tif", ".tiff", ".bmp"}
_LABEL_SHARE = 0.005  # a non-zero value this common in a lossless mask is a label
_NOT_BINARY_SHARE = 0.02
_ASPECT_TOLERANCE = 0.02
MIN_SIDE = 2  # a 1×N image is a strip, not a picture


def is_image_file(path: Path) -> bool:
    suffix_ok = path.suffix.lower() in IMAGE_SUFFIXES
    return suffix_ok and not path.name.startswith(".") and path.is_file()


def _too_large(size: str) -> BadFile:
    return BadFile(
        f"image too large: {size} pixels, over the decompression-bomb limit of "
        f"{Image.MAX_IMAGE_PIXELS} (PIL.Image.MAX_IMAGE_PIXELS)",
        "downscale the file, or remove it")


def _open(path: Path, color: str, indices: bool = False) -> np.ndarray:
    try:
        if path.stat().st_size == 0:
            raise BadFile("empty file: 0 bytes", "re-download or re-export it, or remove it")
        with warnings.catch_warnings():  # the size is checked below, before any decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im_ctx = Image.open(path)
        with im_ctx as im:
            w, h = im.size
            if Image.MAX_IMAGE_PIXELS and w * h > Image.MAX_IMAGE_PIXELS:
                raise _too_large(f"{w}×{h}")
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or (indices and im.mode == "P"):
                return np.asarray(im, dtype=np.float32)
            if color == "rgb" and im.mode not in ("L", "1", "LA"):
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(
                    rgb[..., 0], rgb[..., 2]
                ):
                    return rgb[..., 0]  # grayscale stored as RGB
                return np.moveaxis(rgb, -1, 0)
            return np.asarray(im.convert("L"), dtype=np.float32)
    except FileNotFoundError:
        raise BadFile("missing file", "check the path") from None
    except Image.DecompressionBombError as exc:  # over 2× the limit: refused by Pillow
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(found.group(1) if found else "too many") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadFile(f"unreadable image: {exc}", "re-export it (PNG/JPEG) or remove it") from None


def read_image(path: Path, color: str = "luma", indices: bool = False) -> np.ndarray:
    """A float32 (H, W) array, or (3, H, W) for a colour image when ``color="rgb"``;
    ``indices``: a palette image gives its palette indices (labels), not colours."""
    arr = _open(Path(path), color, indices)
    check_image(arr)
    return arr


def check_image(arr: np.ndarray) -> None:
    """``BadFile`` unless ``arr`` is a 2-D (or (C, H, W)) image of at least ``MIN_SIDE``
    pixels a side with finite values (files and in-memory datasets share these rules)."""
    if arr.ndim not in (2, 3):
        raise BadFile(f"not a 2-D image: shape {arr.shape}", "give a single-frame 2-D image")
    if min(arr.shape[-2:]) < MIN_SIDE:
        h, w = arr.shape[-2:]
        raise BadFile(f"image too small: {w}×{h} pixels, under {MIN_SIDE} pixels on a side",
                      "remove it (a strip or a single pixel holds no 2-D content)")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise BadFile(f"non-finite pixels: {bad} NaN or Inf values",
                      "repair the file (replace NaN/Inf) or remove it")


def _label_map(m: np.ndarray, path: Path) -> list[int]:
    """Non-zero values that each cover ≥ 0.5 % of a lossless integer mask's pixels."""
    if path.suffix.lower() not in LOSSLESS_SUFFIXES or m.min() < 0 or m.max() > 65535 \
            or not np.array_equal(m, np.round(m)):
        return []
    counts = np.bincount(m.astype(np.int64).ravel())
    common = np.flatnonzero(counts >= _LABEL_SHARE * m.size)
    return [int(v) for v in common if v != 0]


def read_mask(path: Path, threshold: float = 0.5) -> np.ndarray:
    """A bool (H, W) mask: foreground where value > threshold × max (all False if max is 0)."""
    path = Path(path)
    m = read_image(path, "luma", indices=True)
    top = float(m.max())
    if top <= 0:
        return np.zeros(m.shape, bool)
    labels = _label_map(m, path)
    if len(labels) > 1:
        raise BadFile(
            f"unexpected mask values: labels {labels} (a 2-D mask is binary: 0 and one "
            "foreground value)",
            "save it as a binary mask (e.g. foreground = label > 0)")
    between = float(((m > 0.25 * top) & (m < 0.75 * top)).mean())
    if between > _NOT_BINARY_SHARE:
        raise BadFile(
            f"unexpected mask values: {between:.0%} of pixels lie between 25% and 75% of the "
            f"maximum ({top:g})",
            "a mask holds 0 and one foreground value; check that this file is a mask and "
            "not an image",
        )
    return m > threshold * top


def fit_mask(mask: np.ndarray, shape: tuple[int, ...], image_name: str) -> np.ndarray:
    """Return ``mask`` at the image's (H, W): same size as is, same aspect resized (nearest)."""
    h, w = shape[-2:]
    mh, mw = mask.shape
    if (mh, mw) == (h, w):
        return mask
    if abs((mw / mh) / (w / h) - 1) > _ASPECT_TOLERANCE:
        raise BadFile(
            f"size mismatch: mask is {mw}×{mh} but its image {image_name} is {w}×{h}",
            "masks must match their image's size (or its aspect ratio: then they are resized "
            "with nearest neighbour)",
        )
    resized = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)
    return np.asarray(resized) > 127
