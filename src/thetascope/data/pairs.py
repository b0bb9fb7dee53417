"""Shared by every 2-D layout: pair image files with mask files, then read the pairs.

    pairs, orphans = match_by_stem(images_by_stem, masks_by_stem, suffixes=("", "_mask"))
    raw = load_pairs(pairs, threshold=0.5, source="kvasir /data/kvasir",
                     problems=Problems(LoadOptions()), orphans=orphans)

A pair with several mask files (Montgomery's left and right lung) uses their union. Bad
input follows ``data.on_bad_input`` (see ``problems.py``): unreadable files and size
mismatches drop the pair; an image without a mask or with an all-zero mask stays in the
SSP pool under ``skip`` and stops the run under ``strict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thetascope.data.builtin import RawSet
from thetascope.data.imageio import fit_mask, is_image_file, read_image, read_mask
from thetascope.data.problems import BadFile, Problems, outside_root


@dataclass(frozen=True)
class Pair:
    id: str
    image: Path
    masks: tuple[Path, ...] = ()
    no_mask_reason: str = "no mask"


def files_by_stem(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by file stem (sorted, hidden files ignored)."""
    return {p.stem: p for p in sorted(Path(folder).iterdir()) if is_image_file(p)}


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
) -> RawSet:
    """Read ``pairs`` (the first ``limit``) into a ``RawSet``; problems per the policy.
    With ``root``, a file that resolves (through a symlink) outside it is refused."""
    report_orphans(orphans, problems, "the image folder")
    out = RawSet([], [], [], synthetic=False, source=source)
    for pair in list(pairs)[:limit]:
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
        out.images.append(image)
        out.masks.append(mask)
        out.ids.append(pair.id)
        out.meta.append({
            "image_path": str(pair.image),
            "mask_path": ";".join(str(p) for p in pair.masks) or None,
            "raw_shape": [int(s) for s in image.shape[-2:]],
            **({"no_mask_reason": pair.no_mask_reason} if not pair.masks else {}),
        })
    out.skipped = problems.skipped
    return out
