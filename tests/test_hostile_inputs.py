"""Hostile and odd inputs get their documented behaviour: a counted skip listed in
summary.md, or (``strict``) one error naming the file and the fix; never a crash.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_hostile_inputs.py

The corpus is written by ``hostile_corpus.py``: truncated, zero-byte, 16-bit, RGBA and
palette images, decompression bombs (a PNG header claiming 40000×40000), NaN/Inf pixels and
voxels, 4-D and 2-D NIfTI, masks with labels 255/1/2/4 and a label map, masks of another
size, names with spaces, unicode and HTML, symlinks out of the data root.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest

from hostile_corpus import (
    BRATS_SKIPS,
    EXPECTED_SKIPS,
    GOOD,
    HTML_NAME,
    bomb_png,
    hostile_brats,
    hostile_folder,
)
from thetascope.config import BratsSpec, DataConfig, FolderSpec
from thetascope.data.imageio import read_image, read_mask
from thetascope.data.problems import BadFile, DataError, reason_category
from thetascope.data.registry import create_dataset
from thetascope.report.summary import skipped_inputs_section


@pytest.fixture
def folder(tmp_path):
    return hostile_folder(tmp_path / "data", tmp_path / "outside")


def _dataset(root, **kw):
    return create_dataset(FolderSpec(root=root),
                          DataConfig(image_size=32, cache=False, max_eval_images=100, **kw))


def _where(path: str) -> str:
    return "/".join(path.split("/")[-2:])


def test_every_hostile_file_is_skipped_with_its_reason(folder):
    ds = _dataset(folder)
    listed = {_where(p): reason_category(r) for p, r in ds.skipped_files}
    for name, category in EXPECTED_SKIPS.items():
        assert listed.get(name) == category, (name, listed.get(name))
    assert sorted(s.id for s in ds.eval) == sorted(GOOD)
    assert len(ds.skipped_files) == len(EXPECTED_SKIPS)
    outside = next(r for p, r in ds.skipped_files if p.endswith("escape.png"))
    assert "outside" in outside and "secret.png" in outside  # says where the link leads


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png", 40000, 40000)
    assert bomb.stat().st_size < 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(BadFile, match=r"image too large: 1600000000 pixels, over the "):
        read_image(bomb)
    with pytest.raises(BadFile, match=r"image too large: 10000×10000 pixels, over the "):
        read_image(bomb_png(tmp_path / "big.png", 10000, 10000))  # Pillow alone only warns
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert time.perf_counter() - t0 < 5 and grown_mb < 50  # 1.6 GB were never allocated


def test_odd_formats_keep_their_values(folder):
    deep = read_image(folder / "images" / "deep16.png")
    assert deep.dtype == np.float32 and deep.max() > 255  # 16 bits kept, not clipped to 8
    rgba = read_image(folder / "images" / "rgba.png")
    assert rgba.ndim == 2  # alpha dropped, colour -> luma
    pal = read_mask(folder / "masks" / "palette.png")
    assert pal.mean() < 0.5  # indices (0 = background), not the light palette colour
    masks = [read_mask(folder / "masks" / f"label{v}.png") for v in (255, 1, 2, 4)]
    assert all(np.array_equal(m, masks[0]) for m in masks) and masks[0].any()
    with pytest.raises(BadFile, match=r"labels \[1, 2, 4\] \(a 2-D mask is binary"):
        read_mask(folder / "masks" / "labels124.png")


def test_hostile_names_are_listed_safely_in_the_summary(folder):
    ds = _dataset(folder)
    names = {s.id for s in ds.eval}
    assert {"with space", "ünïcødé 画像"} <= names
    section = "\n".join(skipped_inputs_section([ds]))
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(EXPECTED_SKIPS)  # one table row per file, none broken
    html_row = next(r for r in rows if "onerror" in r)
    assert "<img" not in html_row.split(" | ", 1)[1]  # no raw HTML outside the code span
    assert html_row.startswith("| `` ") and "\\|" in html_row  # fence > inner ticks; pipe


@pytest.mark.parametrize("name", sorted(EXPECTED_SKIPS))
def test_strict_names_the_file_and_the_fix(folder, name):
    for other in set(EXPECTED_SKIPS) - {name}:  # leave only this problem
        stem = other.split("/", 1)[1].rsplit(".", 1)[0]
        for sub in ("images", "masks"):
            for p in (folder / sub).glob("*"):
                if p.stem == stem:
                    p.unlink()
    with pytest.raises(DataError) as err:
        _dataset(folder, on_bad_input="strict")
    msg = str(err.value)
    assert name.split("/", 1)[1] in msg and "on_bad_input=skip" in msg
    assert EXPECTED_SKIPS[name] in msg and "\n" not in msg


def test_nifti_nan_4d_2d_labels_and_links(tmp_path):
    root = hostile_brats(tmp_path / "brats", tmp_path / "outside")
    ds = create_dataset(BratsSpec(root=root), DataConfig(image_size=32, cache=False))
    listed = {}
    for path, reason in ds.skipped_files:
        case = next(part for part in path.split("/") if part.startswith("BraTS20_"))
        listed[case] = reason_category(reason)
    assert listed == BRATS_SKIPS
    assert [s.id.split("_z")[0][-3:] for s in ds.eval] == ["001", "007"]
    nan = next(r for p, r in ds.skipped_files if "_002" in p)
    assert nan == "non-finite voxels: 1 NaN and 1 Inf"
    with pytest.raises(DataError, match=r"_002_flair.nii: non-finite voxels.*set them to 0"):
        create_dataset(BratsSpec(root=root, max_cases=2),
                       DataConfig(image_size=32, cache=False, on_bad_input="strict"))


def test_every_input_problem_is_an_expected_error_type(folder, tmp_path):
    """No hostile file makes a reader raise anything but BadFile (skip) or DataError."""
    for path in sorted((folder / "images").iterdir()) + sorted((folder / "masks").iterdir()):
        try:
            read_image(path) if path.parent.name == "images" else read_mask(path)
        except BadFile as bad:
            assert bad.reason and bad.fix
    hostile_brats(tmp_path / "b", tmp_path / "o")
    create_dataset(BratsSpec(root=tmp_path / "b"), DataConfig(image_size=32, cache=False))


def test_html_name_is_an_ordinary_id_when_readable(tmp_path):
    from data_layouts import gray_image, mask_image, save_png

    for i, stem in enumerate([HTML_NAME, "b", "c"]):
        save_png(tmp_path / "images" / f"{stem}.png", gray_image(40, 40, i))
        save_png(tmp_path / "masks" / f"{stem}.png", mask_image(40, 40, i))
    ds = _dataset(tmp_path)
    assert HTML_NAME in {s.id for s in ds.eval} and not ds.skipped_files
