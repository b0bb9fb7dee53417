"""Kvasir-SEG polyp images with JPEG masks (white = polyp), in either naming.

    raw = load_kvasir(KvasirSpec(root="/data/Kvasir-SEG"))
    kvasir_layout(Path("/data/Kvasir-SEG"))      # ('original', PosixPath(...)) or None

Layouts: ``images/<id>.jpg`` + ``masks/<id>.jpg`` (the download: same file name), or the
paper's renamed copy ``images/image_<i>.jpg`` + ``masks/mask_<i>.jpg`` (paired by ``<i>``).
Masks are JPEG, so they are thresholded at ``mask_threshold`` × max. Files next to the
folders (``kavsir_bboxes.json``) are ignored. A root whose only sub-folder holds the
layout (an unzipped archive) is accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

from thetascope.config import KvasirSpec
from thetascope.data.builtin import RawSet
from thetascope.data.pairs import Pair, files_by_stem, load_pairs, match_by_stem
from thetascope.data.problems import DataError, LoadOptions, Problems
from thetascope.data.roots import check_root

LAYOUT = "images/<id>.jpg + masks/<id>.jpg, or images/image_<i>.jpg + masks/mask_<i>.jpg"


def _has_pair_dirs(root: Path) -> bool:
    return (root / "images").is_dir() and (root / "masks").is_dir()


def kvasir_layout(root: Path) -> tuple[str, Path] | None:
    """('renamed' | 'original', folder) when ``root`` (or its only sub-folder) holds
    ``images/`` + ``masks/`` with JPEG images; None otherwise."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return None
    candidates = [root]
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if not _has_pair_dirs(root) and len(subdirs) == 1:
        candidates.append(subdirs[0])
    for folder in candidates:
        if not _has_pair_dirs(folder):
            continue
        images = files_by_stem(folder / "images")
        if not images or not all(p.suffix.lower() in (".jpg", ".jpeg") for p in
                                 images.values()):
            continue
        renamed = all(re.fullmatch(r"image_\d+", s) for s in images)
        return ("renamed" if renamed else "original"), folder
    return None


def _by_index(files: dict[str, Path], prefix: str) -> dict[str, Path]:
    out = {}
    for stem, path in files.items():
        m = re.fullmatch(rf"{prefix}_(\d+)", stem)
        out[m.group(1) if m else stem] = path
    return out


def load_kvasir(spec: KvasirSpec, opts: LoadOptions | None = None) -> RawSet:
    root = Path(spec.root).expanduser()
    check_root(root, missing_ok=True)  # a link loop, no permission: in words
    if not root.is_dir():
        raise DataError(f"{root}: folder not found; a 'kvasir' dataset needs {LAYOUT}")
    found = kvasir_layout(root)
    if found is not None:
        root = found[1]
    elif not _has_pair_dirs(root):
        raise DataError(f"{root}: no images/ and masks/ folders; expected {LAYOUT}")
    images, masks = files_by_stem(root / "images"), files_by_stem(root / "masks")
    if not images:
        raise DataError(f"{root / 'images'}: no images; expected {LAYOUT}")
    if found is not None and found[0] == "renamed":
        by_index, orphans = match_by_stem(_by_index(images, "image"), _by_index(masks, "mask"))
        pairs = [Pair(p.image.stem, p.image, p.masks) for p in by_index]
    else:
        pairs, orphans = match_by_stem(images, masks)
    return load_pairs(pairs, spec.mask_threshold, f"kvasir {root}",
                      Problems(opts or LoadOptions()), orphans, limit=spec.max_images,
                      root=Path(spec.root).expanduser(), check_stems=True)
