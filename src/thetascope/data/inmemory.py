"""Arrays a researcher already holds, checked and turned into a ``RawSet``.

    raw = as_rawset((images, masks), "mine")                       # (N, H, W) each
    raw = as_rawset({"images": imgs, "masks": masks, "groups": vols, "ids": names}, "mine")
    raw = as_rawset(RawSet(...), "mine")                           # checked as is

Accepted: ``images`` a (N, H, W) or (N, C, H, W) array, or a list of (H, W) / (C, H, W)
arrays of any sizes (float, integer or bool); ``masks`` a (N, H, W) array or a list of
(H, W) arrays (``None`` for an image without a mask: SSP only), binary: bool, or 0 and one
foreground value (0/1, 0/255); ``groups`` (optional) the source (volume, patient) of each
image: its images are resampled and split together; ``ids`` (optional) unique names
(default ``<name>_0000``, ...).

Every problem is a ``DataError`` naming the dataset, the image and the fix: in-memory
data comes from the researcher's own code, so a bad array is a bug to fix, not a file to
skip (``data.on_bad_input`` applies to files). Image checks are those of files
(``imageio.check_image``: 2-D, at least 2 pixels a side, no NaN or Inf).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from thetascope.data.builtin import RawSet
from thetascope.data.imageio import check_image
from thetascope.data.problems import BadFile, DataError

KEYS = ("images", "masks", "groups", "ids")
_SHAPES = ("return (images, masks), (images, masks, groups), a dict with keys 'images', "
           "'masks' and optionally 'groups' and 'ids', or a RawSet")


def as_rawset(result: Any, name: str, source: str = "") -> RawSet:
    """Check what a registered loader returned and give it as a ``RawSet``."""
    if isinstance(result, RawSet):
        raw = _build(name, result.images, result.masks, None, result.ids, result.source)
        if result.meta:
            if len(result.meta) != len(raw.ids):
                raise DataError(f"dataset '{name}': {len(raw.ids)} images but "
                                f"{len(result.meta)} meta entries; give one dict per image")
            raw.meta = [dict(m) for m in result.meta]
        raw.synthetic, raw.scaled, raw.skipped = result.synthetic, result.scaled, result.skipped
        return raw
    if isinstance(result, Mapping):
        extra = sorted(set(map(str, result)) - set(KEYS))
        if extra or "images" not in result or "masks" not in result:
            why = f"unknown key(s) {extra}" if extra else "no 'images' or no 'masks'"
            raise DataError(f"dataset '{name}': the loader returned a dict with {why}; "
                            + _SHAPES)
        parts = [result.get(k) for k in KEYS]
    elif isinstance(result, tuple | list) and 2 <= len(result) <= 4 \
            and not np.isscalar(result[0]):
        parts = [*result, None, None][:4]
    else:
        raise DataError(f"dataset '{name}': the loader returned {_what(result)}; " + _SHAPES)
    return _build(name, parts[0], parts[1], parts[2], parts[3], source)


def _what(x: Any) -> str:
    if isinstance(x, tuple | list):
        return f"a {type(x).__name__} of {len(x)} item(s)"
    return f"a value of type {type(x).__name__}"


def _items(x: Any, what: str, name: str) -> list:
    """A per-image list from an (N, ...) array or a sequence."""
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            raise DataError(f"dataset '{name}': {what} is a single value; give one per image")
        return list(x)
    if isinstance(x, Sequence) and not isinstance(x, str | bytes):
        return list(x)
    raise DataError(f"dataset '{name}': {what} is a {type(x).__name__}; give a numpy array "
                    "(N, H, W) or a list with one entry per image")


def _image(x: Any, i: int, name: str, sid: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) \
            or np.iscomplexobj(a):
        raise DataError(f"dataset '{name}': image {i} ({sid}) has dtype {a.dtype}; give "
                        "real numbers (float or integer)")
    try:
        check_image(a)
    except BadFile as bad:
        fix = ("replace them (np.nan_to_num) or drop the image" if "non-finite" in bad.reason
               else "give images as (N, H, W) or (N, C, H, W) arrays" if "2-D" in bad.reason
               else bad.fix)
        raise DataError(f"dataset '{name}': image {i} ({sid}): {bad.reason}; {fix}") from None
    return a.astype(np.float32) if a.dtype == bool else a


def _mask(x: Any, i: int, name: str, sid: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if x is None:
        return None
    m = np.asarray(x)
    if m.shape != shape:
        raise DataError(f"dataset '{name}': mask {i} ({sid}) has shape {m.shape} but its "
                        f"image is {shape} (H, W); give one (H, W) mask per image, the same "
                        "size as the image")
    if m.dtype == bool:
        return m
    if not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m) \
            or not np.isfinite(m).all():
        raise DataError(f"dataset '{name}': mask {i} ({sid}) is not a binary mask (dtype "
                        f"{m.dtype}, or NaN/Inf values); give bool masks or 0 and one "
                        "foreground value")
    values = np.unique(m)
    fg = values[values != 0]
    if len(fg) > 1:
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise DataError(f"dataset '{name}': mask {i} ({sid}) is not binary: it holds the "
                        f"values {shown}; a mask holds 0 and one foreground value, so "
                        "threshold it first (e.g. mask > 0.5) or pick one label (mask == k)")
    return m != 0


def _build(name: str, images: Any, masks: Any, groups: Any, ids: Any, source: str) -> RawSet:
    imgs = _items(images, "images", name)
    msks = _items(masks, "masks", name)
    n = len(imgs)
    if n == 0:
        raise DataError(f"dataset '{name}': the loader returned no images")
    lists = {"masks": msks}
    if groups is not None:
        lists["groups"] = _items(groups, "groups", name)
    if ids is not None:
        lists["ids"] = _items(ids, "ids", name)
    for what, items in lists.items():
        if len(items) != n:
            raise DataError(f"dataset '{name}': {n} images but {len(items)} {what}; give one "
                            f"entry of {what} per image"
                            + (" (None for an image without a mask)" if what == "masks"
                               else ""))
    names = [str(s) for s in lists.get("ids", [f"{name}_{i:04d}" for i in range(n)])]
    seen: set[str] = set()
    for s in names:
        if s in seen:
            raise DataError(f"dataset '{name}': image id {s!r} appears twice; ids must be "
                            "unique (leave 'ids' out for automatic ones)")
        seen.add(s)
    out_imgs, out_masks = [], []
    for i, (img, msk, sid) in enumerate(zip(imgs, msks, names, strict=True)):
        a = _image(img, i, name, sid)
        out_imgs.append(a)
        out_masks.append(_mask(msk, i, name, sid, a.shape[-2:]))
    if all(m is None for m in out_masks):
        raise DataError(f"dataset '{name}': no image has a mask, so nothing can be scored; "
                        "give (H, W) masks")
    meta = [{"group": str(g)} for g in lists["groups"]] if "groups" in lists \
        else [{} for _ in names]
    return RawSet(out_imgs, out_masks, names, False, source or f"registered dataset {name}",
                  meta)
