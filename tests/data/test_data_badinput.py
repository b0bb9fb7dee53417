"""Bad input under ``data.on_bad_input``: skip (counted and listed per file) or strict."""

from __future__ import annotations

import numpy as np
import pytest

from data_layouts import gray_image, mask_image, save_png
from thetascope.config import DataConfig, FolderSpec
from thetascope.data.problems import DataError
from thetascope.data.registry import create_dataset
from thetascope.data.sample import LoadedDataset
from thetascope.report.summary import skipped_inputs_section


def _messy(root):
    for i in range(3):  # three good pairs
        save_png(root / "images" / f"ok{i}.png", gray_image(40, 40, i))
        save_png(root / "masks" / f"ok{i}.png", mask_image(40, 40, i))
    (root / "images" / "torn.png").write_bytes(save_png(
        root / "tmp.png", gray_image(40, 40, 9)).read_bytes()[:80])
    (root / "tmp.png").unlink()
    save_png(root / "images" / "lonely.png", gray_image(40, 40, 3))  # no mask
    save_png(root / "masks" / "orphan.png", mask_image(40, 40, 4))  # no image
    save_png(root / "images" / "wide.png", gray_image(40, 80, 5))  # mask of another shape
    save_png(root / "masks" / "wide.png", mask_image(40, 40, 5))
    save_png(root / "images" / "photo.png", gray_image(40, 40, 6))  # "mask" is an image
    save_png(root / "masks" / "photo.png", gray_image(40, 40, 6))
    save_png(root / "images" / "blank.png", gray_image(40, 40, 7))  # all-zero mask
    save_png(root / "masks" / "blank.png", np.zeros((40, 40)))
    return root


def test_skip_counts_and_lists_every_file(tmp_path):
    root = _messy(tmp_path)
    ds = create_dataset(FolderSpec(root=root), DataConfig(image_size=32, cache=False))
    assert [s.id for s in ds.eval] == ["ok0", "ok1", "ok2"]
    assert sorted(s.id for s in ds.ssp) == ["blank", "lonely", "ok0", "ok1", "ok2"]
    assert ds.skipped == {"mask without image": 1, "unreadable image": 1, "size mismatch": 1,
                          "unexpected mask values": 1, "empty mask": 1, "no mask": 1}
    listed = {p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]: r for p, r in ds.skipped_files}
    assert listed["images/torn.png"].startswith("unreadable image")
    assert listed["masks/orphan.png"].startswith("mask without image")
    assert listed["masks/wide.png"] == ("size mismatch: mask is 40×40 but its image wide.png "
                                        "is 80×40")
    assert listed["masks/photo.png"].startswith("unexpected mask values")
    assert listed["masks/blank.png"] == "empty mask"
    assert listed["images/lonely.png"] == "no mask"
    section = "\n".join(skipped_inputs_section([ds]))
    assert "## Skipped inputs" in section and "torn.png` | unreadable image" in section


@pytest.mark.parametrize("name", ["torn.png", "orphan.png", "wide.png", "photo.png",
                                  "blank.png", "lonely.png"])
def test_strict_stops_at_each_kind_of_problem_naming_the_file(tmp_path, name):
    root = _messy(tmp_path)
    keep = {"torn.png", "orphan.png", "wide.png", "photo.png", "blank.png", "lonely.png"}
    for other in keep - {name}:  # leave only this problem in the folder
        for sub in ("images", "masks"):
            (root / sub / other).unlink(missing_ok=True)
    with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: .*; .*on_bad_input=skip"):
        create_dataset(FolderSpec(root=root), DataConfig(image_size=32, cache=False,
                                                         on_bad_input="strict"))


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=r"images: no images"):
        create_dataset(FolderSpec(root=tmp_path), DataConfig(cache=False))
    with pytest.raises(DataError, match="folder not found"):
        create_dataset(FolderSpec(root=tmp_path / "gone"), DataConfig(cache=False))


def test_summary_section_is_capped(tmp_path):
    ds = LoadedDataset("d", "folder", False, [], [],
                       skipped_files=[(f"/x/{i}.png", "no mask") for i in range(60)])
    lines = skipped_inputs_section([ds], limit=50)
    assert sum(line.startswith("| `/x/") for line in lines) == 50
    assert "| … 10 more | |" in lines
    assert skipped_inputs_section([LoadedDataset("e", "folder", False, [], [])]) == []
