"""``kind: auto``: each layout is recognised; anything else gets an explanation."""

from __future__ import annotations

import pytest

from data_layouts import (
    brats_2020,
    brats_2023,
    kvasir,
    lung_covid,
    lung_kaggle,
    lung_montgomery,
    lung_paper,
    save_png,
)
from thetascope.config import AutoSpec, BratsSpec, LungSpec
from thetascope.data.detect import detect_layout, resolve_spec
from thetascope.data.problems import DataError


@pytest.mark.parametrize(("writer", "kind", "layout"), [
    (lambda p: brats_2020(p, numbers=(1,)), "brats", "BraTS case folders"),
    (lambda p: brats_2023(p, n_cases=1), "brats", "BraTS case folders"),
    (lambda p: lung_paper(p, n=1), "lung", "paper"),
    (lambda p: lung_kaggle(p, n=1), "lung", "kaggle"),
    (lambda p: lung_montgomery(p, n=1), "lung", "montgomery"),
    (lambda p: lung_covid(p, n=1), "lung", "covid"),
    (lambda p: kvasir(p, n=1), "kvasir", "original"),
    (lambda p: kvasir(p, n=1, renamed=True), "kvasir", "renamed"),
])
def test_each_layout_is_detected(tmp_path, writer, kind, layout):
    root = writer(tmp_path / "set")
    d = detect_layout(root)
    assert (d.kind, d.layout, d.root) == (kind, layout, root)


def test_generic_folder_and_manifest(tmp_path):
    save_png(tmp_path / "images" / "a.png", [[0, 1], [2, 3]])
    (tmp_path / "masks").mkdir()
    assert detect_layout(tmp_path).kind == "folder"
    (tmp_path / "list.csv").write_text("image,mask\nimages/a.png,\n")
    assert detect_layout(tmp_path / "list.csv").kind == "manifest"


def test_resolve_keeps_name_and_caps(tmp_path):
    root = brats_2020(tmp_path / "MICCAI_BraTS2020_TrainingData", numbers=(1,))
    spec = resolve_spec(AutoSpec(root=tmp_path, max_eval=3))  # one level above
    assert isinstance(spec, BratsSpec) and spec.root == root
    assert spec.display_name == tmp_path.name and spec.max_eval == 3
    lung = resolve_spec(AutoSpec(root=lung_covid(tmp_path / "c", n=1), name="cxr"))
    assert isinstance(lung, LungSpec) and lung.layout == "covid" and lung.name == "cxr"


def test_unknown_layout_says_what_was_looked_for_and_found(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError) as err:
        detect_layout(tmp_path)
    msg = str(err.value)
    assert "Looked for:" in msg and "BraTS case folders" in msg and "COVID" not in msg
    assert "'covid'" in msg and "Kvasir-SEG" in msg
    assert "Found instead: other/, scans/, 1 .txt file" in msg
    with pytest.raises(DataError, match="path not found"):
        detect_layout(tmp_path / "missing")
    with pytest.raises(DataError, match="not a .csv/.json manifest"):
        detect_layout(tmp_path / "readme.txt")
