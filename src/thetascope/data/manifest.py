"""A CSV or JSON manifest listing (image, mask) paths.

    raw = load_manifest(ManifestSpec(path="/data/pairs.csv"))
    read_manifest(Path("/data/pairs.json"), "image", "mask")   # [(id, image, mask | None)]

CSV: a header with ``image`` and ``mask`` columns (names set by ``image_column`` /
``mask_column``), an optional ``id`` column; an empty mask cell means "no mask". JSON: a
list of objects with the same keys, or a list of ``[image, mask]`` pairs. Relative paths
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

Row = tuple[str | None, Path, Path | None]


def _resolve(base: Path, value: object) -> Path | None:
    text = "" if value is None else str(value).strip()
    if not text or text.lower() == "nan":
        return None
    p = Path(text).expanduser()
    return p if p.is_absolute() else base / p


def _records(path: Path, image_col: str, mask_col: str) -> list[tuple[object, object, object]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV ({exc})") from None
        if image_col not in df.columns:
            raise DataError(f"{path}: no '{image_col}' column (columns: {list(df.columns)}); "
                            "set image_column/mask_column to your header names")
        masks = df[mask_col] if mask_col in df.columns else [None] * len(df)
        ids = df["id"] if "id" in df.columns else [None] * len(df)
        return list(zip(ids, df[image_col], masks, strict=True))
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of {{'{image_col}': ..., "
                            f"'{mask_col}': ...}} objects or [image, mask] pairs")
        out = []
        for i, item in enumerate(data):
            if isinstance(item, dict) and image_col in item:
                out.append((item.get("id"), item[image_col], item.get(mask_col)))
            elif isinstance(item, list | tuple) and len(item) in (1, 2):
                out.append((None, item[0], item[1] if len(item) == 2 else None))
            else:
                raise DataError(f"{path}: entry {i} is neither an object with "
                                f"'{image_col}' nor an [image, mask] pair: {item!r}")
        return out
    raise DataError(f"{path}: a manifest must be .csv or .json")


def read_manifest(path: Path, image_col: str = "image", mask_col: str = "mask") -> list[Row]:
    """Rows (id or None, image path, mask path or None), paths resolved."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: manifest not found; give the path of a .csv or .json file")
    base = path.parent
    rows = []
    for rid, image, mask in _records(path, image_col, mask_col):
        img = _resolve(base, image)
        if img is None:
            raise DataError(f"{path}: a row has an empty '{image_col}' path; fill or remove it")
        rows.append((str(rid) if rid not in (None, "") else None, img, _resolve(base, mask)))
    if not rows:
        raise DataError(f"{path}: the manifest lists no images")
    return rows


def load_manifest(spec: ManifestSpec, opts: LoadOptions | None = None) -> RawSet:
    path = Path(spec.path).expanduser()
    rows = read_manifest(path, spec.image_column, spec.mask_column)
    stems = [img.stem for _, img, _ in rows]
    pairs = []
    for rid, img, mask in rows:
        sid = rid or (img.stem if stems.count(img.stem) == 1 else
                      img.with_suffix("").as_posix().removeprefix(path.parent.as_posix() + "/"))
        pairs.append(Pair(sid, img, (mask,) if mask is not None else ()))
    return load_pairs(pairs, spec.mask_threshold, f"manifest {path}",
                      Problems(opts or LoadOptions()), limit=spec.max_images)
