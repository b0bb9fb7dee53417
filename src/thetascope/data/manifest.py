"""A CSV or JSON manifest listing (image, mask) paths.

    raw = load_manifest(ManifestSpec(path="/data/pairs.csv"))
    read_manifest(Path("/data/pairs.json"), "image", "mask")   # [(id, image, mask, group)]

CSV: a header with ``image`` and ``mask`` columns (names set by ``image_column`` /
``mask_column``), an optional ``id`` column, an optional ``group`` column (``group_column``:
the image's source, e.g. patient or volume, which statistics resample and split as one);
an empty mask cell means "no mask", a missing mask column is an error naming the columns
found. JSON: a list of objects with the same
keys, or a list of ``[image, mask]`` pairs (no entry with a mask: the same error). Relative paths
are resolved against the manifest's folder. Ids: the ``id`` column, else the image file's
stem (its path relative to the manifest when two stems collide).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from thetascope.config import ManifestSpec
from thetascope.data.builtin import RawSet
from thetascope.data.pairs import Pair, load_pairs
from thetascope.data.problems import DataError, LoadOptions, Problems
from thetascope.data.roots import check_root, expand_user

Row = tuple[str | None, Path, Path | None, str | None]


def _resolve(base: Path, value: object, manifest: Path | None = None) -> Path | None:
    text = "" if value is None else str(value).strip()
    if not text or text.lower() == "nan":
        return None
    if "\0" in text:
        raise DataError(f"{manifest or base}: a row lists a path holding a NUL character "
                        f"({text!r}); fix that row")
    p = expand_user(text)
    return p if p.is_absolute() else base / p


def _group(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return None if not text or text.lower() == "nan" else text


def _records(path: Path, image_col: str, mask_col: str,
             group_col: str = "group") -> list[tuple[object, object, object, object]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
                OSError) as exc:
            raise DataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})"
                            ) from None
        for col, field in ((image_col, "image_column"), (mask_col, "mask_column")):
            if col not in df.columns:
                raise DataError(f"{path}: no '{col}' column (columns found: "
                                f"{list(df.columns)}); set {field} to your header's name "
                                "for it")
        masks = df[mask_col]
        ids = df["id"] if "id" in df.columns else [None] * len(df)
        groups = df[group_col] if group_col in df.columns else [None] * len(df)
        return list(zip(ids, df[image_col], masks, groups, strict=True))
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
            raise DataError(f"{path}: not valid JSON ({' '.join(str(exc).split())})"
                            ) from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of {{'{image_col}': ..., "
                            f"'{mask_col}': ...}} objects or [image, mask] pairs")
        out = []
        for i, item in enumerate(data):
            if isinstance(item, dict) and image_col in item:
                out.append((item.get("id"), item[image_col], item.get(mask_col),
                            item.get(group_col)))
            elif isinstance(item, list | tuple) and len(item) in (1, 2):
                out.append((None, item[0], item[1] if len(item) == 2 else None, None))
            else:
                raise DataError(f"{path}: entry {i} is neither an object with "
                                f"'{image_col}' nor an [image, mask] pair: {item!r}")
        if out and all(m is None for _, _, m, _ in out):
            keys = sorted({k for item in data if isinstance(item, dict) for k in item})
            raise DataError(f"{path}: no entry has a '{mask_col}' (keys found: {keys}); set "
                            "mask_column to the key holding the mask paths")
        return out
    raise DataError(f"{path}: a manifest must be .csv or .json")


def read_manifest(path: Path, image_col: str = "image", mask_col: str = "mask",
                  group_col: str = "group") -> list[Row]:
    """Rows (id or None, image path, mask path or None, group or None), paths resolved."""
    path = Path(path).expanduser()
    check_root(path, missing_ok=True)  # a link loop, no permission: in words
    if not path.is_file():
        raise DataError(f"{path}: manifest not found; give the path of a .csv or .json file")
    base = path.parent
    rows = []
    for rid, image, mask, group in _records(path, image_col, mask_col, group_col):
        img = _resolve(base, image, path)
        if img is None:
            raise DataError(f"{path}: a row has an empty '{image_col}' path; fill or remove it")
        mask_path = _resolve(base, mask, path)
        rows.append((str(rid) if rid not in (None, "") else None, img, mask_path,
                     _group(group)))
    if not rows:
        raise DataError(f"{path}: the manifest lists no images")
    return rows


def load_manifest(spec: ManifestSpec, opts: LoadOptions | None = None) -> RawSet:
    path = Path(spec.path).expanduser()
    rows = read_manifest(path, spec.image_column, spec.mask_column, spec.group_column)
    stems = [img.stem for _, img, _, _ in rows]
    pairs = []
    for rid, img, mask, group in rows:
        sid = rid or (img.stem if stems.count(img.stem) == 1 else
                      img.with_suffix("").as_posix().removeprefix(path.parent.as_posix() + "/"))
        pairs.append(Pair(sid, img, (mask,) if mask is not None else (), group=group))
    return load_pairs(pairs, spec.mask_threshold, f"manifest {path}",
                      Problems(opts or LoadOptions()), limit=spec.max_images)
