"""register_dataset: in-memory data named in a config, checked, and run like the built-ins."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from thetascope.config import (
    ConfigError,
    DataConfig,
    RegisteredSpec,
    apply_overrides,
    config_from_dict,
    fingerprint,
    load_config,
)
from thetascope.data import catalog
from thetascope.data.builtin import RawSet
from thetascope.data.catalog import (
    dataset_names,
    get_dataset,
    register_dataset,
    registered_dataset,
    unregister_dataset,
)
from thetascope.data.problems import DataError
from thetascope.data.registry import create_dataset

BUILTIN = ("mri-lesion", "ct-nodule", "phantom-cxr", "phantom-polyp", "folder", "brats",
           "lung", "kvasir", "manifest", "auto")


def discs(n: int = 24, size: int = 64, groups: int = 3, seed: int = 0) -> dict:
    """n noisy size × size images, each with a bright disc that is its mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, masks = [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.35 * size, 0.65 * size, 2)
        r = rng.uniform(0.1 * size, 0.18 * size)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        images.append(0.2 + 0.6 * m + 0.1 * rng.standard_normal((size, size)))
        masks.append(m)
    return {"images": np.stack(images).astype(np.float32), "masks": np.stack(masks),
            "groups": [f"vol{i % groups}" for i in range(n)]}


@pytest.fixture
def registered():
    """Register names for one test; every one is removed afterwards."""
    names: list[str] = []

    def add(name, loader, **kw):
        register_dataset(name, loader, **kw)
        names.append(name)

    yield add
    for name in names:
        if name in dataset_names():
            unregister_dataset(name)


# --------------------------------------------------------------------------- registry
def test_builtins_are_registered_through_the_same_function():
    names = dataset_names()
    assert names[: len(BUILTIN)] == BUILTIN
    assert get_dataset("folder").cached and not get_dataset("mri-lesion").cached
    assert {get_dataset(n).origin for n in BUILTIN} == {"builtin"}
    with pytest.raises(ValueError, match="built-ins cannot be replaced"):
        register_dataset("mri-lesion", discs(), replace=True)
    with pytest.raises(ValueError, match="built-in"):
        unregister_dataset("mri-lesion")


def test_forms_of_registration_and_undo(registered):
    data = discs(6)
    registered("as-tuple", (data["images"], data["masks"]))
    registered("as-dict", data)
    registered("as-rawset", RawSet(list(data["images"]), list(data["masks"]),
                                   [f"x{i}" for i in range(6)], True, "my phantom"))

    @register_dataset("as-decorator")
    def load(n=6):
        return discs(n)

    assert load(2)["images"].shape == (2, 64, 64)  # the decorator returns the function
    try:
        for name in ("as-tuple", "as-dict", "as-rawset", "as-decorator"):
            raw = get_dataset(name).load(RegisteredSpec(kind=name), None)
            assert len(raw.images) == 6 and raw.masks[0].dtype == bool
        raw = get_dataset("as-rawset").load(RegisteredSpec(kind="as-rawset"), None)
        assert raw.synthetic and raw.ids[0] == "x0" and raw.source == "my phantom"
        raw = get_dataset("as-dict").load(RegisteredSpec(kind="as-dict"), None)
        assert raw.meta[4] == {"group": "vol1"} and raw.ids[0] == "as-dict_0000"
    finally:
        unregister_dataset("as-decorator")
    assert "as-decorator" not in dataset_names()
    with registered_dataset("temporary", data):
        assert "temporary" in dataset_names()
    assert "temporary" not in dataset_names()


def test_names_and_duplicates(registered):
    registered("mine", discs(4))
    with pytest.raises(ValueError, match="already registered.*replace=True"):
        register_dataset("mine", discs(4))
    register_dataset("mine", discs(5), replace=True)
    assert len(get_dataset("mine").load(RegisteredSpec(kind="mine")).images) == 5
    for bad in ("", "a/b", "with space", "-lead", "x" * 65):
        with pytest.raises(ValueError, match="dataset name"):
            register_dataset(bad, discs(4))


# --------------------------------------------------------------------------- config
def test_config_names_a_registered_dataset(registered):
    registered("discs", discs)
    cfg = load_config("smoke", ["data.datasets=[discs, {kind: discs, name: d2, "
                                "options: {n: 12}}]"])
    a, b = cfg.data.datasets
    assert isinstance(a, RegisteredSpec) and a.kind == "discs" and a.display_name == "discs"
    assert b.options == {"n": 12} and b.display_name == "d2"
    assert len(create_dataset(b, cfg.data).ssp) == 12  # options reach the loader


def test_unknown_name_lists_the_registered_ones(registered):
    registered("discs", discs)
    with pytest.raises(ConfigError) as err:
        load_config("smoke", ["data.datasets=[dics]"])
    msg = str(err.value)
    assert "data.datasets.0.kind: unknown dataset 'dics'" in msg
    assert "mri-lesion" in msg and "discs" in msg and "register_dataset" in msg
    with pytest.raises(ConfigError, match="unknown key 'data.datasets.0.optoins'"):
        config_from_dict({"data": {"datasets": [{"kind": "discs", "optoins": {}}]}})


def test_builtin_shorthand_keeps_the_fingerprint():
    """A bare built-in name is its spec with every default: same config, same cells."""
    full = config_from_dict({"data": {"datasets": [{"kind": "mri-lesion"},
                                                   {"kind": "phantom-cxr"}]}})
    short = config_from_dict({"data": {"datasets": ["mri-lesion", "phantom-cxr"]}})
    assert fingerprint(short) == fingerprint(full) == fingerprint(config_from_dict({}))
    assert DataConfig(datasets=["ct-nodule"]).datasets[0].window_width == 1500.0


# --------------------------------------------------------------------------- data rules
def test_registered_data_is_split_screened_and_grouped_like_builtins(registered):
    data = discs(24)
    data["masks"][0] = True  # covers the whole frame: degenerate, kept for SSP only
    data["masks"][1] = False  # empty: SSP only
    registered("discs", data)
    cfg = load_config("smoke", ["data.datasets=[{kind: discs, max_eval: 30}]"])
    ds = create_dataset(cfg.data.datasets[0], cfg.data)
    assert len(ds.ssp) == 24 and len(ds.eval) == 22
    assert ds.degenerate[0][0] == "discs_0000" and ds.skipped["empty mask"] == 1
    assert ds.cache_status == ""  # in memory: never cached on disk
    assert set(ds.groups().values()) == {"vol0", "vol1", "vol2"}
    assert ds.eval[0].image.shape == (3, 32, 32)  # data.image_size, data.channels


@pytest.mark.parametrize(("result", "match"), [
    (lambda d: (d["images"], d["masks"][:-1]), r"24 images but 23 masks; give one entry"),
    (lambda d: (d["images"], d["masks"][:, :32]), r"mask 0 \(bad_0000\) has shape \(32, 64\) "
     r"but its image is \(64, 64\)"),
    (lambda d: (d["images"], d["masks"] * np.linspace(0.5, 1, 64)),
     r"mask 0 \(bad_0000\) is not binary: it holds the values 0, 0.666667, .*threshold it"),
    (lambda d: (d["images"], np.linspace(0, 1, 24 * 64 * 64).reshape(24, 64, 64)),
     r"mask 0 \(bad_0000\) is not binary: it holds the values 0, 1.01726e-05, .*, \.\.\.; "),
    (lambda d: (np.where(np.arange(64) == 3, np.nan, d["images"]), d["masks"]),
     r"image 0 \(bad_0000\): non-finite pixels: 64 NaN or Inf.*np.nan_to_num"),
    (lambda d: (d["images"][:, None, None], d["masks"]),
     r"image 0 \(bad_0000\): not a 2-D image: shape \(1, 1, 64, 64\); give images as"),
    (lambda d: {"images": d["images"], "mask": d["masks"]},
     r"the loader returned a dict with unknown key\(s\) \['mask'\]; return \(images, masks\)"),
    (lambda d: d["images"], r"the loader returned a value of type ndarray; return \(images, "),
    (lambda d: None, r"the loader returned a value of type NoneType"),
    (lambda d: (d["images"], d["masks"], d["groups"][:3]), r"24 images but 3 groups"),
    (lambda d: {**d, "ids": ["a"] * 24}, r"image id 'a' appears twice"),
    (lambda d: (d["images"], [None] * 24), r"no image has a mask"),
    (lambda d: (d["images"].astype(complex), d["masks"]),
     r"image 0 \(bad_0000\) has dtype complex128; give real"),
])
def test_bad_loaders_give_clear_errors(registered, result, match):
    data = discs(24)
    registered("bad", lambda: result(data))
    cfg = load_config("smoke", ["data.datasets=[bad]"])
    with pytest.raises(DataError, match=r"dataset 'bad': " + match):
        create_dataset(cfg.data.datasets[0], cfg.data)


def test_arrays_are_checked_when_registered_and_options_need_a_function(registered):
    data = discs(4)
    with pytest.raises(DataError, match="dataset 'now': 4 images but 3 masks"):
        register_dataset("now", (data["images"], data["masks"][:3]))
    assert "now" not in dataset_names()
    registered("arrays", data)
    registered("fixed", lambda: data)
    for name, match in (("arrays", "registered as arrays, which take no options"),
                        ("fixed", "its loader does not take the options")):
        cfg = load_config("smoke", [f"data.datasets=[{{kind: {name}, options: {{n: 3}}}}]"])
        with pytest.raises(DataError, match=match):
            create_dataset(cfg.data.datasets[0], cfg.data)


def test_entry_point_datasets_load_on_first_lookup(monkeypatch):
    def plugin():
        register_dataset("from-plugin", discs(4))

    ep = SimpleNamespace(name="demo", value="demo_pkg:register", dist=None, load=lambda: plugin)
    with catalog.DATASETS.scoped():  # undoes the plugin's registration on exit
        monkeypatch.setattr("thetascope.plugins.entry_points",
                            lambda group: [ep] if group == "thetascope.datasets" else [])
        assert catalog.DATASETS.load_plugins() == ["demo"]
        assert get_dataset("from-plugin").origin == "entry point"
    assert "from-plugin" not in dataset_names()


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_registered_dataset_runs_a_smoke_sweep_and_report(registered, tmp_path):
    from thetascope.sweep.runner import run_experiment

    registered("discs", discs)
    cfg = apply_overrides(load_config("smoke"), [
        "data.datasets=[discs]", "sweep.thetas=[0, 90]", "runtime.threads=1",
        "orient.svm_thetas=0:180:90", "analysis.permutations=99"])
    res = run_experiment(cfg, tmp_path / "run", console=Console(quiet=True))
    assert not res.failed
    df = pd.read_parquet(res.out_dir / "results.parquet")
    trained = df[df.model == "trained"]
    assert set(trained.dataset) == {"discs"} and set(trained.group) == {"vol0", "vol1", "vol2"}
    assert trained.image_id.nunique() == cfg.data.max_eval_images
    html = (res.out_dir / "report.html").read_text()
    assert "discs" in html and "registered dataset discs" in (res.out_dir / "run.log").read_text()
