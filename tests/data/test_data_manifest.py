"""CSV / JSON manifests of (image, mask) paths, relative to the manifest's folder."""

from __future__ import annotations

import json

import pytest

from data_layouts import gray_image, mask_image, save_png
from thetascope.config import ManifestSpec
from thetascope.data.manifest import load_manifest, read_manifest
from thetascope.data.problems import DataError, LoadOptions


def _files(root):
    for i in range(3):
        save_png(root / "scans" / f"s{i}.png", gray_image(30, 30, i))
        save_png(root / "labels" / f"s{i}.png", mask_image(30, 30, i))
    return root


def test_csv_manifest_relative_and_absolute_paths(tmp_path):
    root = _files(tmp_path / "data")
    (root / "list.csv").write_text(
        "image,mask\n"
        "scans/s0.png,labels/s0.png\n"
        f"{root / 'scans/s1.png'},{root / 'labels/s1.png'}\n"
        "scans/s2.png,\n"
    )
    raw = load_manifest(ManifestSpec(path=root / "list.csv"))
    assert raw.ids == ["s0", "s1", "s2"]
    assert raw.masks[0].any() and raw.masks[2] is None
    assert raw.meta[0]["image_path"] == str(root / "scans" / "s0.png")


def test_json_manifest_objects_or_pairs_with_custom_columns(tmp_path):
    root = _files(tmp_path)
    (root / "a.json").write_text(json.dumps([{"x": "scans/s0.png", "y": "labels/s0.png",
                                              "id": "first"}]))
    raw = load_manifest(ManifestSpec(path=root / "a.json", image_column="x", mask_column="y"))
    assert raw.ids == ["first"]
    (root / "b.json").write_text(json.dumps([["scans/s1.png", "labels/s1.png"]]))
    assert read_manifest(root / "b.json")[0][2] == root / "labels" / "s1.png"


def test_manifest_problems(tmp_path):
    root = _files(tmp_path)
    (root / "m.csv").write_text("image,mask\nscans/s0.png,labels/gone.png\nscans/nope.png,\n")
    raw = load_manifest(ManifestSpec(path=root / "m.csv"))
    assert raw.ids == [] and [r for _, r in raw.skipped] == ["missing file", "missing file"]
    with pytest.raises(DataError, match=r"gone\.png: missing file"):
        load_manifest(ManifestSpec(path=root / "m.csv"), LoadOptions(on_bad_input="strict"))
    (root / "bad.csv").write_text("path,label\na,b\n")
    with pytest.raises(DataError, match="no 'image' column"):
        load_manifest(ManifestSpec(path=root / "bad.csv"))
    with pytest.raises(DataError, match="manifest not found"):
        load_manifest(ManifestSpec(path=root / "none.csv"))
    (root / "x.json").write_text('{"image": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        load_manifest(ManifestSpec(path=root / "x.json"))


def test_manifest_group_column_marks_the_source(tmp_path):
    """A ``group`` column (or ``group_column``) names each image's source; its images are
    one unit for the bootstrap and the splits (Sample.group)."""
    import numpy as np
    from PIL import Image

    from thetascope.config import DataConfig, ManifestSpec
    from thetascope.data.registry import create_dataset

    rows = ["image,mask,patient"]
    for i in range(4):
        img = np.zeros((32, 32), np.uint8)
        img[8:24, 8:24] = 80 + 40 * i
        Image.fromarray(img).save(tmp_path / f"i{i}.png")
        m = np.zeros((32, 32), np.uint8)
        m[12:20, 12:20] = 255
        Image.fromarray(m).save(tmp_path / f"m{i}.png")
        rows.append(f"i{i}.png,m{i}.png,p{i // 2}")
    (tmp_path / "list.csv").write_text("\n".join(rows))
    spec = ManifestSpec(path=tmp_path / "list.csv", group_column="patient")
    ds = create_dataset(spec, DataConfig(datasets=[spec], image_size=32, cache=False))
    assert [s.group for s in ds.eval] == ["p0", "p0", "p1", "p1"]
    plain = ManifestSpec(path=tmp_path / "list.csv")  # no 'group' column: each image alone
    ds2 = create_dataset(plain, DataConfig(datasets=[plain], image_size=32, cache=False))
    assert [s.group for s in ds2.eval] == [s.id for s in ds2.eval]
