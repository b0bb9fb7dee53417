"""The on-disk cache of preprocessed file datasets: hit, miss, stale, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from data_layouts import gray_image, kvasir, save_png
from thetascope.config import DataConfig, KvasirSpec, MRILesionSpec
from thetascope.data import cache as cache_mod
from thetascope.data.registry import create_dataset


def _cfg(tmp_path, **kw) -> DataConfig:
    return DataConfig(image_size=32, cache_dir=tmp_path / "cache", **kw)


def test_miss_then_hit_gives_identical_data(tmp_path):
    root = kvasir(tmp_path / "kv", n=3)
    first = create_dataset(KvasirSpec(root=root), _cfg(tmp_path))
    again = create_dataset(KvasirSpec(root=root), _cfg(tmp_path))
    assert (first.cache_status, again.cache_status) == ("miss", "hit")
    assert first.fingerprint() == again.fingerprint()  # cells keep their identity
    assert [s.meta for s in first.ssp] == [s.meta for s in again.ssp]
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("kvasir-")


def test_changed_or_new_files_make_the_cache_stale(tmp_path):
    root = kvasir(tmp_path / "kv", n=3)
    spec, cfg = KvasirSpec(root=root), _cfg(tmp_path)
    before = create_dataset(spec, cfg)
    img = root / "images" / "cju0abc.jpg"
    save_png(img, gray_image(48, 56, 7))
    os.utime(img, ns=(1, 1))  # a different mtime even on coarse clocks
    changed = create_dataset(spec, cfg)
    assert changed.cache_status == "stale"
    assert not np.array_equal(changed.ssp[0].image, before.ssp[0].image)
    save_png(root / "images" / "new.jpg", gray_image(48, 56, 8))
    added = create_dataset(spec, cfg)
    assert added.cache_status == "stale" and len(added.ssp) == 4
    assert create_dataset(spec, cfg).cache_status == "hit"


def test_preprocessing_settings_key_the_cache_but_split_settings_do_not(tmp_path):
    root = kvasir(tmp_path / "kv", n=3)
    create_dataset(KvasirSpec(root=root), _cfg(tmp_path))
    assert create_dataset(KvasirSpec(root=root), _cfg(tmp_path, crop="inscribed")
                          ).cache_status == "miss"
    assert create_dataset(KvasirSpec(root=root, name="x", max_eval=1),
                          _cfg(tmp_path, max_eval_images=2)).cache_status == "hit"
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_cache_inside_the_dataset_is_not_an_input(tmp_path):
    root = kvasir(tmp_path, n=2)
    cfg = DataConfig(image_size=32, cache_dir=root / "cache")
    assert create_dataset(KvasirSpec(root=root), cfg).cache_status == "miss"
    assert create_dataset(KvasirSpec(root=root), cfg).cache_status == "hit"


def test_corrupt_cache_is_rebuilt_and_failed_writes_leave_nothing(tmp_path, monkeypatch):
    root = kvasir(tmp_path / "kv", n=2)
    spec, cfg = KvasirSpec(root=root), _cfg(tmp_path)
    create_dataset(spec, cfg)
    (path,) = (tmp_path / "cache").iterdir()
    path.write_bytes(path.read_bytes()[:100])  # torn file (e.g. a full disk)
    assert create_dataset(spec, cfg).cache_status == "stale"
    assert create_dataset(spec, cfg).cache_status == "hit"

    def crash(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    path.unlink()
    monkeypatch.setattr(cache_mod.np, "savez_compressed", crash)
    ds = create_dataset(spec, cfg)  # the run goes on without a cache
    assert ds.cache_status == "miss" and len(ds.ssp) == 2
    assert list((tmp_path / "cache").iterdir()) == []  # no half-written file, no temp file


def test_cache_off_builtins_uncached_and_default_dir(tmp_path, monkeypatch):
    root = kvasir(tmp_path / "kv", n=2)
    assert create_dataset(KvasirSpec(root=root), _cfg(tmp_path, cache=False)).cache_status == ""
    assert create_dataset(MRILesionSpec(), _cfg(tmp_path)).cache_status == ""
    assert not (tmp_path / "cache").exists()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.default_cache_dir() == tmp_path / "xdg" / "thetascope"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_mod.default_cache_dir() == tmp_path / "home" / ".cache" / "thetascope"
    with pytest.raises(ValueError):
        DataConfig(cache_dir=None, on_bad_input="sometimes")
