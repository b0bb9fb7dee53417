"""Chest X-rays with lung masks, in the four layouts users download.

    raw = load_lung(LungSpec(root="/data/lung"))                 # layout detected
    raw = load_lung(LungSpec(root="/data/COVID-19_Radiography_Dataset", layout="covid",
                             classes=["COVID", "Normal"]))
    lung_layout(Path("/data/MontgomerySet"))                     # 'montgomery'

Layouts (exact trees in docs/DATASETS.md):
- ``paper``: ``train/image/cxrimage_<i>.png`` + ``train/mask/cxrmask_<i>.jpeg`` (JPEG masks);
- ``kaggle`` ("Chest Xray Masks and Labels"): ``CXR_png/{MCUCXR,CHNCXR}_NNNN_<0|1>.png`` +
  ``masks/``; Shenzhen masks carry a ``_mask`` suffix, Montgomery masks do not;
- ``montgomery`` (original NLM set): ``CXR_png/`` + ``ManualMask/leftMask/`` and
  ``ManualMask/rightMask/``; the lung mask is their union;
- ``covid`` (COVID-19 Radiography Database): ``<Class>/images/<Class>-<n>.png`` +
  ``<Class>/masks/<Class>-<n>.png``; the 256² masks are resized to the 299² images with
  nearest neighbour (the general same-aspect rule of ``imageio.fit_mask``).
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from thetascope.config import LungSpec
from thetascope.data.builtin import RawSet
from thetascope.data.pairs import (
    Pair,
    files_by_stem,
    load_pairs,
    match_by_stem,
    report_orphans,
)
from thetascope.data.problems import DataError, LoadOptions, Problems
from thetascope.data.roots import check_root

LAYOUTS = {
    "paper": "train/image/cxrimage_<i>.png + train/mask/cxrmask_<i>.jpeg",
    "kaggle": "CXR_png/*.png + masks/*.png (Shenzhen masks end in _mask)",
    "montgomery": "CXR_png/*.png + ManualMask/leftMask/ + ManualMask/rightMask/",
    "covid": "<Class>/images/*.png + <Class>/masks/*.png",
}


def _covid_classes(root: Path) -> list[Path]:
    """Class folders ``<Class>/images/<Class>-<n>.png`` (+ ``masks/``) under ``root``."""
    return sorted(d for d in root.iterdir()
                  if d.is_dir() and (d / "images").is_dir() and (d / "masks").is_dir()
                  and next((d / "images").glob(f"{glob.escape(d.name)}-*"), None) is not None)


def _layout_here(root: Path) -> str | None:
    if (root / "train" / "image").is_dir() and (root / "train" / "mask").is_dir():
        return "paper"
    if (root / "CXR_png").is_dir() and (root / "ManualMask").is_dir():
        return "montgomery"
    if (root / "CXR_png").is_dir() and (root / "masks").is_dir():
        return "kaggle"
    if _covid_classes(root):
        return "covid"
    return None


def lung_layout(root: Path) -> tuple[str, Path] | None:
    """(layout, folder) found at ``root`` or in its only sub-folder; None if none."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return None
    if (found := _layout_here(root)) is not None:
        return found, root
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if len(subdirs) == 1 and (found := _layout_here(subdirs[0])) is not None:
        return found, subdirs[0]
    return None


def _paper(root: Path) -> tuple[list[Pair], list[Path]]:
    def by_index(folder: Path, prefix: str) -> dict[str, Path]:
        out = {}
        for stem, path in files_by_stem(folder).items():
            m = re.fullmatch(rf"{prefix}_?(\d+)", stem)
            out[m.group(1) if m else stem] = path
        return out

    images = by_index(root / "train" / "image", "cxrimage")
    masks = by_index(root / "train" / "mask", "cxrmask")
    pairs, orphans = match_by_stem(images, masks)
    return [Pair(p.image.stem, p.image, p.masks) for p in pairs], orphans


def _kaggle(root: Path) -> tuple[list[Pair], list[Path]]:
    return match_by_stem(files_by_stem(root / "CXR_png"), files_by_stem(root / "masks"),
                         ("", "_mask"))


def _montgomery(root: Path) -> tuple[list[Pair], list[Path]]:
    left = files_by_stem(root / "ManualMask" / "leftMask")
    right = files_by_stem(root / "ManualMask" / "rightMask")
    pairs = []
    images = files_by_stem(root / "CXR_png")
    for stem, path in images.items():
        sides = [d[stem] for d in (left, right) if stem in d]
        if len(sides) == 2:
            pairs.append(Pair(stem, path, tuple(sides)))
        else:
            side = "rightMask" if stem in left else "leftMask" if stem in right else "both"
            pairs.append(Pair(stem, path, (), f"no mask: {side} missing in ManualMask/"))
    orphans = [p for d in (left, right) for k, p in d.items() if k not in images]
    return pairs, orphans


def _covid(root: Path, spec: LungSpec) -> tuple[list[Pair], list[Path]]:
    found = {d.name: d for d in _covid_classes(root)}
    wanted = spec.classes or sorted(found)
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise DataError(f"{root}: no class folder {unknown[0]!r} with images/ and masks/; "
                        f"classes found: {sorted(found)}")
    pairs, orphans = [], []
    for name in wanted:
        p, o = match_by_stem(files_by_stem(found[name] / "images"),
                             files_by_stem(found[name] / "masks"))
        pairs += p
        orphans += o
    return pairs, orphans


def load_lung(spec: LungSpec, opts: LoadOptions | None = None) -> RawSet:
    root = Path(spec.root).expanduser()
    check_root(root, missing_ok=True)  # a link loop, no permission: in words
    if not root.is_dir():
        raise DataError(f"{root}: folder not found; a 'lung' dataset needs the folder of one "
                        f"of these layouts: {'; '.join(LAYOUTS.values())}")
    found = lung_layout(root)
    if spec.layout == "auto":
        if found is None:
            raise DataError(f"{root}: no chest X-ray layout found; expected one of: "
                            f"{'; '.join(f'{k}: {v}' for k, v in LAYOUTS.items())}")
        layout, root = found
    else:
        layout = spec.layout
        if found is not None and found[0] == layout:
            root = found[1]
        elif _layout_here(root) != layout:
            raise DataError(f"{root}: not the '{layout}' layout ({LAYOUTS[layout]}); "
                            "set layout: auto or point root at that folder")
    if layout == "covid":
        pairs, orphans = _covid(root, spec)
    else:
        pairs, orphans = {"paper": _paper, "kaggle": _kaggle,
                          "montgomery": _montgomery}[layout](root)
    problems = Problems(opts or LoadOptions())
    if not pairs:
        raise DataError(f"{root}: the '{layout}' layout holds no images ({LAYOUTS[layout]})")
    report_orphans(orphans, problems, f"the '{layout}' image folder")
    return load_pairs(pairs, spec.mask_threshold, f"lung ({layout}) {root}", problems,
                      limit=spec.max_images, root=Path(spec.root).expanduser(),
                      check_stems=True)
