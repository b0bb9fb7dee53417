"""``kind: auto``: look at a folder (or file) and pick the loader of the layout found.

    d = detect_layout(Path("/data/MICCAI_BraTS2020_TrainingData"))
    d.kind, d.layout, d.root          # 'brats', 'BraTS case folders', PosixPath(...)
    spec = resolve_spec(AutoSpec(root="/data/lung"))   # -> LungSpec(root=..., layout=...)

Checked in order: a ``.csv``/``.json`` manifest file; BraTS case folders; the chest X-ray
layouts (paper, Montgomery, Kaggle, COVID-19); Kvasir-SEG (JPEG ``images/`` + ``masks/``);
any other ``images/`` + ``masks/`` pair (the generic folder loader). If none matches, the
``DataError`` lists what was looked for and what the folder holds instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from thetascope.config import (
    AutoSpec,
    BratsSpec,
    FolderSpec,
    KvasirSpec,
    LungSpec,
    ManifestSpec,
)
from thetascope.data.brats import CASE_NAME, case_files, find_case_dirs
from thetascope.data.kvasir import kvasir_layout
from thetascope.data.lung import LAYOUTS as LUNG_LAYOUTS
from thetascope.data.lung import lung_layout
from thetascope.data.problems import DataError
from thetascope.data.roots import check_root

LOOKED_FOR = [
    "a manifest file (.csv or .json)",
    "BraTS case folders (BraTS20_Training_NNN/, BraTS2021_NNNNN/, BraTS-GLI-NNNNN-NNN/ "
    "with .nii[.gz] volumes)",
    *(f"chest X-ray '{k}': {v}" for k, v in LUNG_LAYOUTS.items()),
    "Kvasir-SEG: images/*.jpg + masks/*.jpg",
    "a generic images/ + masks/ folder pair",
]


@dataclass(frozen=True)
class Detection:
    kind: str  # the loader: brats | lung | kvasir | folder | manifest
    layout: str  # the layout within it, in words
    root: Path  # the folder (or file) the loader reads


def _is_brats(root: Path) -> bool:
    for case in find_case_dirs(root)[:5]:
        mods, seg, _ = case_files(case)
        if CASE_NAME.match(case.name) or (mods and seg is not None):
            return True
    return False


def _brats_root(root: Path) -> Path:
    cases = find_case_dirs(root)
    return cases[0].parent if cases else root


def describe(root: Path, limit: int = 12) -> str:
    """What a folder holds, in one line: sub-folders and file counts by suffix."""
    if root.is_file():
        return f"a file ({root.suffix or 'no suffix'})"
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    if not entries:
        return "an empty folder"
    dirs = [p.name + "/" for p in entries if p.is_dir()]
    suffixes = Counter(p.suffix.lower() or "(none)" for p in entries if p.is_file())
    parts = dirs[:limit] + (["…"] if len(dirs) > limit else [])
    parts += [f"{n} {s} file{'s' if n > 1 else ''}" for s, n in suffixes.most_common(5)]
    return ", ".join(parts)


def detect_layout(root: Path) -> Detection:
    root = Path(root).expanduser()
    check_root(root)  # not found, a link loop, a dangling link, no permission: in words
    if root.is_file():
        if root.suffix.lower() in (".csv", ".json"):
            return Detection("manifest", f"{root.suffix.lower()[1:]} manifest", root)
        raise DataError(f"{root}: a file, but not a .csv/.json manifest; give a dataset folder")
    if _is_brats(root):
        return Detection("brats", "BraTS case folders", _brats_root(root))
    if (lung := lung_layout(root)) is not None:
        return Detection("lung", lung[0], lung[1])
    if (kv := kvasir_layout(root)) is not None:
        return Detection("kvasir", kv[0], kv[1])
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return Detection("folder", "images/ + masks/", root)
    raise DataError(
        f"{root}: no known dataset layout. Looked for: " + "; ".join(LOOKED_FOR)
        + f". Found instead: {describe(root)}. Point root at the dataset's own folder, or "
        "use kind: folder (images/ + masks/) or kind: manifest (a CSV of image, mask paths)"
    )


def resolve_spec(spec):
    """An ``AutoSpec`` becomes the detected loader's spec (same name and caps); any other
    spec is returned unchanged."""
    if not isinstance(spec, AutoSpec):
        return spec
    d = detect_layout(spec.root)
    common = {"name": spec.display_name, "max_eval": spec.max_eval, "crop": spec.crop}
    if d.kind == "manifest":
        return ManifestSpec(path=d.root, **common)
    if d.kind == "brats":
        return BratsSpec(root=d.root, **common)
    if d.kind == "lung":
        return LungSpec(root=d.root, layout=d.layout, **common)
    if d.kind == "kvasir":
        return KvasirSpec(root=d.root, **common)
    return FolderSpec(root=d.root, **common)
