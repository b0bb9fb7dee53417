"""Hostile and odd inputs get their documented behaviour: a counted skip listed in
summary.md, or (``strict``) one error naming the file and the fix; never a crash.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/data/test_hostile_inputs.py

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

from data_layouts import gray_image, save_png
from hostile_corpus import (
    BRATS_SKIPS,
    EXPECTED_SKIPS,
    GOOD,
    HTML_NAME,
    SIZE,
    _pair,
    bomb_png,
    degenerate_folder,
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


# --------------------------------------------------------------------------- second round
def test_degenerate_images_are_left_out_listed_and_counted(tmp_path):
    root = degenerate_folder(tmp_path / "d", good=4, full=2, black=2, corner=1)
    ds = _dataset(root)
    assert sorted(s.id for s in ds.eval) == ["good0", "good1", "good2", "good3"]
    flagged = dict(ds.degenerate)
    assert set(flagged) == {"full0", "full1", "black0", "black1", "corner0"}
    assert flagged["full0"].startswith("degenerate mask: covers 100% of the inscribed circle")
    assert flagged["black0"].startswith("no contrast: intensity std 0.0000 inside the "
                                        "inscribed circle")
    assert flagged["corner0"].startswith("degenerate mask: no foreground inside the inscribed")
    assert ds.degenerate_share == pytest.approx(5 / 9) and ds.degenerate_dominated
    ssp = {s.id for s in ds.ssp}
    assert {"full0", "corner0"} <= ssp and not {"black0", "black1"} & ssp  # flat: no SSP
    listed = {_where(p): reason_category(r) for p, r in ds.skipped_files}
    assert listed == {"masks/full0.png": "degenerate mask", "masks/full1.png": "degenerate mask",
                      "masks/corner0.png": "degenerate mask", "images/black0.png": "no contrast",
                      "images/black1.png": "no contrast"}
    section = "\n".join(skipped_inputs_section([ds]))  # what summary.md shows
    assert section.count("degenerate mask: covers 100%") == 2 and "no contrast" in section


def test_degenerate_thresholds_are_config_fields(tmp_path):
    root = degenerate_folder(tmp_path / "d", good=3, full=1, black=1, corner=1)
    assert len(_dataset(root).degenerate) == 3
    off = _dataset(root, min_contrast=0.0)  # a flat image is scored again
    assert "black0" in {s.id for s in off.eval}
    frame = create_dataset(FolderSpec(root=root), DataConfig(image_size=32, cache=False),
                           circle=False)  # no circle mask: the corner is inside the frame
    assert "corner0" in {s.id for s in frame.eval}
    assert not _dataset(root).degenerate_dominated  # 3 of 6: not over 0.5
    assert _dataset(root, max_degenerate_share=0.4).degenerate_dominated
    with pytest.raises(DataError, match=r"'folder': all 2 image\(s\) with a mask are "
                                        r"degenerate.*data.max_mask_coverage"):
        _dataset(degenerate_folder(tmp_path / "all", good=0, full=1, black=1))


def test_valid_region_matches_the_geometry_circle():
    from thetascope.data.degenerate import valid_disc
    from thetascope.geometry import circle_mask

    for h, w in ((32, 32), (31, 31), (16, 24)):
        assert np.array_equal(valid_disc(h, w), circle_mask(h, w).numpy())


def test_inspect_lists_degenerate_images(tmp_path):
    from thetascope.config import AutoSpec
    from thetascope.data.inspection import inspect_dataset

    root = degenerate_folder(tmp_path / "d", good=3, full=2, black=1)
    info = inspect_dataset(AutoSpec(root=root), DataConfig(image_size=32, cache=False))
    text = "\n".join(info.lines())
    assert "degenerate 3 of the 6 images with a mask (50%)" in text
    assert "degenerate mask: 2" in text and "no contrast: 1" in text
    assert "full1.png: degenerate mask: covers 100%" in text


def test_reasons_name_the_crop_and_the_strip(tmp_path):
    for i in range(3):
        _pair(tmp_path / "d", f"ok{i}", i)
    save_png(tmp_path / "d" / "images" / "wide.png", gray_image(SIZE, 3 * SIZE, 5))
    edge = np.zeros((SIZE, 3 * SIZE), np.uint8)
    edge[10:20, 2:12] = 255  # in the left third: the square centre crop drops it
    save_png(tmp_path / "d" / "masks" / "wide.png", edge)
    save_png(tmp_path / "d" / "images" / "strip.png", gray_image(1, 64, 6))
    save_png(tmp_path / "d" / "masks" / "strip.png", np.full((1, 64), 255))
    reasons = {_where(p): r for p, r in _dataset(tmp_path / "d").skipped_files}
    assert reasons["masks/wide.png"].startswith("mask outside the crop: the centre crop "
                                                "(data.crop=square)")
    assert reasons["images/strip.png"].startswith("image too small: 64×1 pixels")
    kept = _dataset(tmp_path / "d", crop="none")  # no crop: the mask survives
    assert "wide" in {s.id for s in kept.eval}


def test_duplicate_stems_and_ids_are_refused(tmp_path):
    for i in range(3):
        _pair(tmp_path / "d", f"a{i}", i)
    save_png(tmp_path / "d" / "images" / "a0.jpg", gray_image(SIZE, SIZE, 9))
    ds = _dataset(tmp_path / "d")
    assert [(_where(p), r) for p, r in ds.skipped_files] == [
        ("images/a0.jpg", "duplicate name: a0.jpg has the same stem as a0.png, which is read "
                          "instead")]
    with pytest.raises(DataError, match=r"a0.jpg: duplicate name.*rename or remove one"):
        _dataset(tmp_path / "d", on_bad_input="strict")
    from thetascope.config import ManifestSpec

    img, msk = tmp_path / "d" / "images", tmp_path / "d" / "masks"
    csv = tmp_path / "m.csv"
    csv.write_text(f"id,image,mask\nx,{img}/a0.png,{msk}/a0.png\nx,{img}/a1.png,{msk}/a1.png\n"
                   f"y,{img}/a2.png,{msk}/a2.png\nz,{img}/a2.png,{msk}/a2.png\n")
    ds = create_dataset(ManifestSpec(path=csv), DataConfig(image_size=32, cache=False))
    assert [s.id for s in ds.eval] == ["x", "y"]
    assert [r for _, r in ds.skipped_files] == [
        f"duplicate id: 'x' is also the id of {img}/a0.png",
        "duplicate image: already read as 'y'"]


def test_manifest_without_mask_column_names_it(tmp_path):
    from thetascope.config import ManifestSpec

    _pair(tmp_path, "a", 0)
    csv = tmp_path / "m.csv"
    csv.write_text("image,seg\nimages/a.png,masks/a.png\n")
    with pytest.raises(DataError, match=r"m.csv: no 'mask' column \(columns found: "
                                        r"\['image', 'seg'\]\); set mask_column"):
        create_dataset(ManifestSpec(path=csv), DataConfig(cache=False))
    js = tmp_path / "m.json"
    js.write_text('[{"image": "images/a.png", "seg": "masks/a.png"}]')
    with pytest.raises(DataError, match=r"no entry has a 'mask' \(keys found: \['image', "
                                        r"'seg'\]\)"):
        create_dataset(ManifestSpec(path=js), DataConfig(cache=False))


def test_link_loop_and_long_names_as_roots(tmp_path):
    import os

    from thetascope.config import AutoSpec
    from thetascope.data.detect import detect_layout

    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    assert AutoSpec(root=loop).display_name == "loop"  # no RuntimeError
    for call in (lambda: detect_layout(loop),
                 lambda: create_dataset(FolderSpec(root=loop), DataConfig(cache=False))):
        with pytest.raises(DataError, match=r"loop: a symbolic link loop .*point root at the "
                                            "real folder"):
            call()
    long_a, long_b = AutoSpec(root=tmp_path / ("a" * 250)), AutoSpec(root=tmp_path / ("a" * 249))
    for spec in (long_a, long_b):
        assert len(spec.display_name.encode()) <= 96 and spec.display_name.startswith("aaaa")
    assert long_a.display_name != long_b.display_name  # the hash keeps them apart


def test_undecodable_file_names_are_listed_not_fatal(tmp_path):
    import os

    for i in range(3):
        _pair(tmp_path, f"ok{i}", i)
    raw = os.fsdecode(b"latin\xe9")  # a Latin-1 name: not UTF-8
    save_png(tmp_path / "images" / f"{raw}.png", gray_image(SIZE, SIZE, 4))
    ds = _dataset(tmp_path)
    assert sorted(s.id for s in ds.eval) == ["ok0", "ok1", "ok2"]
    [(path, reason)] = ds.skipped_files
    assert path.endswith("latin\ufffd.png") and reason.startswith("undecodable file name")
    "\n".join(skipped_inputs_section([ds])).encode("utf-8")  # summary.md can be written


def test_damaged_cell_and_unit_files_are_not_trusted(tmp_path):
    import pandas as pd
    import torch

    from hostile_corpus import DAMAGES
    from thetascope.sweep.store import NOT_FINISHED, ResultStore

    def fresh() -> ResultStore:  # a new run: nothing remembered
        return ResultStore(tmp_path)

    rows = pd.DataFrame({"image_id": ["a"], "metric": ["dice"], "value": [0.5]})
    maps = {"ids": np.array(["a"]), "saliency": np.zeros((1, 4, 4), np.float16)}
    for name, junk in DAMAGES.items():
        fresh().write_cell(name, rows, [1.0, 0.5], maps, {"key": name})
        assert fresh().is_done(name)
        (tmp_path / "cells" / name / name).write_bytes(junk)
        store = fresh()
        assert not store.is_done(name) and store.problem(name).startswith(f"{name}: ")
        assert store.damaged([name, "never-ran"]) == [(name, store.problem(name))]
    assert fresh().problem("never-ran") == NOT_FINISHED
    fresh().write_unit("u", [1.0], {"key": "u"}, lambda p: torch.save({"w": torch.ones(3)}, p))
    assert fresh().unit_done("u")
    model = tmp_path / "pretrain" / "u" / "model.pt"
    model.write_bytes(model.read_bytes()[:-30])  # torn
    assert fresh().unit_problem("u").startswith("model.pt: ")
