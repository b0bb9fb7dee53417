"""A generic ``images/`` + ``masks/`` folder dataset, paired by file stem.

    raw = load_folder(Path("/data/mine"))      # images/a.png pairs with masks/a.png,
                                               # masks/a_mask.png or masks/a-mask.png
    raw = load_folder(Path("/data/mine"), opts=LoadOptions(on_bad_input="strict"))

PNG, JPEG, TIFF and BMP are read with Pillow; colour images are converted to grayscale
(ITU-R 601 luma) unless ``data.color=rgb``. Masks are foreground where value > threshold ×
max, which also cleans JPEG ringing. Images without a mask are used for SSP only and
listed; bad files follow ``data.on_bad_input`` (see ``problems.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thetascope.data.builtin import RawSet
from thetascope.data.imageio import IMAGE_SUFFIXES, read_image
from thetascope.data.pairs import files_by_stem, load_pairs, match_by_stem
from thetascope.data.problems import BadFile, DataError, LoadOptions, Problems
from thetascope.data.roots import check_root

__all__ = ["DataError", "IMAGE_SUFFIXES", "MASK_SUFFIXES", "load_folder", "read_gray"]

MASK_SUFFIXES = ("", "_mask", "-mask", "_Mask", "_seg")


def read_gray(path: Path) -> np.ndarray:
    """Read an image file as a 2-D float32 array, with a clear error on corrupt files."""
    try:
        return read_image(Path(path), "luma")
    except BadFile as bad:
        raise DataError(f"{path}: {bad.reason}; {bad.fix}") from None


def load_folder(
    root: Path,
    image_dir: str = "images",
    mask_dir: str = "masks",
    threshold: float = 0.5,
    opts: LoadOptions | None = None,
) -> RawSet:
    root = Path(root).expanduser()
    check_root(root, missing_ok=True)  # a link loop, no permission: in words
    img_dir, msk_dir = root / image_dir, root / mask_dir
    for d in (img_dir, msk_dir):
        if not d.is_dir():
            raise DataError(
                f"{d}: folder not found; a 'folder' dataset needs {root}/{image_dir}/ and "
                f"{root}/{mask_dir}/ (set image_dir/mask_dir if yours are named differently)"
            )
    images = files_by_stem(img_dir)
    if not images:
        raise DataError(f"{img_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    pairs, orphans = match_by_stem(images, files_by_stem(msk_dir), MASK_SUFFIXES)
    return load_pairs(pairs, threshold, f"folder {root}", Problems(opts or LoadOptions()),
                      orphans, root=root, check_stems=True)
