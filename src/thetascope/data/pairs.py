"""Shared by every 2-D layout: pair image files with mask files, then read the pairs.

    pairs, orphans = match_by_stem(images_by_stem, masks_by_stem, suffixes=("", "_mask"))
    raw = load_pairs(pairs, threshold=0.5, source="kvasir /data/kvasir",
                     problems=Problems(LoadOptions()), orphans=orphans)

A pair with several mask files (Montgomery's left and right lung) uses their union. Bad
input follows ``data.on_bad_input`` (see ``problems.py``): unreadable files and size
mismatches drop the pair; an image without a mask or with an all-zero mask stays in the
SSP pool under ``skip`` and stops the run under ``strict``. Identities are unique: a second
pair with an id already read ("duplicate id"), a second listing of one image file
("duplicate image") and, with ``check_stems``, a file that no pair reads because another
file in its folder has the same stem (``a.jpg`` beside ``a.png``: "duplicate name") are
bad input too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thetascope.data.builtin import RawSet
from thetascope.data.imageio import (
    IMAGE_SUFFIXES,
    fit_mask,
    is_image_file,
    read_image,
    read_mask,
)
from thetascope.data.problems import BadFile, DataError, Problems, outside_root


@dataclass(frozen=True)
class Pair:
    id: str
    image: Path
    masks: tuple[Path, ...] = ()
    no_mask_reason: str = "no mask"
    group: str | None = None  # the image's source (patient, volume), when the layout says


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(Path(folder).iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc}); check "
                        "that it is a readable folder") from None


def _image_entry(p: Path) -> bool:
    """An image file, or a link named like one that leads nowhere (a broken link or a loop:
    kept, so that the loader lists it instead of passing over it)."""
    if is_image_file(p):
        return True
    return p.is_symlink() and not p.name.startswith(".") and not p.exists() \
        and p.suffix.lower() in IMAGE_SUFFIXES


def files_by_stem(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by file stem (sorted, hidden files ignored; of two
    files with one stem the last in sorted order is kept: ``stem_clashes`` lists the other)."""
    return {p.stem: p for p in _listing(folder) if _image_entry(p)}


def stem_clashes(used: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, the file read instead) for each image file in the folders of ``used`` that
    no pair reads although a used file there has its stem (``a.jpg`` beside ``a.png``)."""
    by_folder: dict[Path, dict[str, Path]] = {}
    used = set(used)
    for p in used:
        by_folder.setdefault(p.parent, {})[p.stem] = p
    out = []
    for folder, stems in sorted(by_folder.items()):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        out += [(p, stems[p.stem]) for p in entries
                if p not in used and p.stem in stems and _image_entry(p)]
    return out


def match_by_stem(
    images: dict[str, Path], masks: dict[str, Path], suffixes: Sequence[str] = ("",)
) -> tuple[list[Pair], list[Path]]:
    """Pair each image with the first mask named ``stem + suffix``; unused masks are orphans."""
    pairs, used = [], set()
    for stem, path in images.items():
        key = next((stem + s for s in suffixes if stem + s in masks), None)
        if key is None:
            pairs.append(Pair(stem, path))
        else:
            used.add(key)
            pairs.append(Pair(stem, path, (masks[key],)))
    orphans = [p for k, p in masks.items() if k not in used]
    return pairs, orphans


def report_orphans(orphans: Iterable[Path], problems: Problems, where: str) -> None:
    for path in orphans:
        problems.report(path, f"mask without image: no matching image in {where}",
                        "add its image or remove the mask")


def _read_mask_union(pair: Pair, shape: tuple[int, ...], threshold: float) -> np.ndarray:
    union = np.zeros(shape[-2:], bool)
    for mpath in pair.masks:
        try:
            union |= fit_mask(read_mask(mpath, threshold), shape, pair.image.name)
        except BadFile as bad:
            raise _MaskProblem(mpath, bad) from None
    return union


class _MaskProblem(Exception):
    def __init__(self, path: Path, bad: BadFile) -> None:
        super().__init__(str(bad))
        self.path, self.bad = path, bad


def load_pairs(
    pairs: Sequence[Pair],
    threshold: float,
    source: str,
    problems: Problems,
    orphans: Iterable[Path] = (),
    limit: int | None = None,
    root: Path | None = None,
    check_stems: bool = False,
) -> RawSet:
    """Read ``pairs`` (the first ``limit``) into a ``RawSet``; problems per the policy.
    With ``root``, a file that resolves (through a symlink) outside it is refused; with
    ``check_stems`` (folder layouts, not manifests), files hidden by a stem clash are listed."""
    orphans = list(orphans)
    report_orphans(orphans, problems, "the image folder")
    if check_stems:
        used = [p for pair in pairs for p in (pair.image, *pair.masks)] + orphans
        for path, kept in stem_clashes(used):
            problems.report(path, f"duplicate name: {path.name} has the same stem as "
                            f"{kept.name}, which is read instead",
                            "rename or remove one of the two files")
    out = RawSet([], [], [], synthetic=False, source=source)
    ids: dict[str, Path] = {}
    images: dict[str, str] = {}
    for pair in list(pairs)[:limit]:
        where = os.path.abspath(pair.image)
        if pair.id in ids or where in images:
            why = (f"duplicate id: {pair.id!r} is also the id of {ids[pair.id]}"
                   if pair.id in ids else f"duplicate image: already read as {images[where]!r}")
            problems.report(pair.image, why, "list each image once, with a distinct id")
            continue
        escaped = [(p, why) for p in (pair.image, *pair.masks) if root is not None
                   and (why := outside_root(p, root)) is not None]
        if escaped:
            problems.report(escaped[0][0], *escaped[0][1])
            continue
        try:
            image = read_image(pair.image, problems.opts.color)
        except BadFile as bad:
            problems.report(pair.image, bad.reason, bad.fix)
            continue
        mask = None
        if not pair.masks:
            problems.tolerate(pair.image, pair.no_mask_reason,
                              "add its mask, or remove the image")
        else:
            try:
                mask = _read_mask_union(pair, image.shape, threshold)
            except _MaskProblem as mp:
                problems.report(mp.path, mp.bad.reason, mp.bad.fix)
                continue
            if not mask.any():
                problems.tolerate(pair.masks[0], "empty mask: no foreground pixel",
                                  "check the mask (or its mask_threshold)")
        ids[pair.id], images[where] = pair.image, pair.id
        out.images.append(image)
        out.masks.append(mask)
        out.ids.append(pair.id)
        out.meta.append({
            "image_path": str(pair.image),
            "mask_path": ";".join(str(p) for p in pair.masks) or None,
            "raw_shape": [int(s) for s in image.shape[-2:]],
            **({"no_mask_reason": pair.no_mask_reason} if not pair.masks else {}),
            **({"group": pair.group} if pair.group else {}),
        })
    out.skipped = problems.skipped
    return out
