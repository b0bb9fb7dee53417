"""The built-in datasets: real MR/CT slices shipped as .npz, and synthetic phantoms.

    raw = load_builtin_arrays("mri-lesion")     # RawSet of int16 slices + masks
    raw = load_builtin_arrays("ct-nodule", window_center=-600, window_width=1500)

Real sets: every slice is in the SSP pool; slices whose mask is non-empty form the
evaluation set (pyradiomics 3.0.1 test data, see assets/PROVENANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from thetascope.data.phantoms import generate

PROVENANCE = {
    "mri-lesion": "real: pyradiomics 3.0.1 brain1/brain2 MR test volumes (BSD-3)",
    "ct-nodule": "real: pyradiomics 3.0.1 lung1/lung2 CT test volumes (BSD-3), lung window",
    "phantom-cxr": "SYNTHETIC: procedural chest-radiograph phantom, mask = lungs",
    "phantom-polyp": "SYNTHETIC: procedural endoscopy phantom, mask = polyp",
}


@dataclass
class RawSet:
    """Raw images (any dtype; (H, W), or (C, H, W) for colour / stacked modalities) and
    masks before preprocessing. ``scaled``: intensities are already in [0, 1] by the
    loader's own rule (BraTS per-volume scaling), so ``data.intensity`` is not applied.
    ``skipped``: (path, reason) of every input the loader dropped (``data.on_bad_input``)."""

    images: list[np.ndarray]
    masks: list[np.ndarray | None]
    ids: list[str]
    synthetic: bool
    source: str
    meta: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    scaled: bool = False


def _asset(name: str) -> np.lib.npyio.NpzFile:
    path = resources.files("thetascope") / "data" / "assets" / name
    try:
        return np.load(str(path), allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"built-in data file {path} is missing; reinstall thetascope or regenerate it "
            "with `python scripts/build_builtin_data.py`"
        ) from None


def _real(asset: str, kind: str, transform=None) -> RawSet:
    with _asset(asset) as d:
        images, masks = d["images"], d["masks"].astype(bool)
        ids, vols, idx = d["ids"].tolist(), d["volume"].tolist(), d["slice_index"].tolist()
    imgs = [transform(i) if transform else i.astype(np.float32) for i in images]
    meta = [{"volume": v, "slice_index": int(k)} for v, k in zip(vols, idx, strict=True)]
    return RawSet(imgs, list(masks), ids, False, PROVENANCE[kind], meta)


def lung_window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map Hounsfield units to [0, 1] through a display window (clip outside)."""
    lo = center - width / 2
    return np.clip((hu.astype(np.float32) - lo) / width, 0.0, 1.0)


def load_builtin_arrays(kind: str, **opts) -> RawSet:
    if kind == "mri-lesion":
        return _real("mri_lesion.npz", kind)
    if kind == "ct-nodule":
        c, w = opts.get("window_center", -600.0), opts.get("window_width", 1500.0)
        return _real("ct_nodule.npz", kind, lambda hu: lung_window(hu, c, w))
    if kind in ("phantom-cxr", "phantom-polyp"):
        count, size, seed = opts.get("count", 48), opts.get("size", 128), opts.get("seed", 0)
        images, masks = generate(kind, count, size, seed)
        ids = [f"{kind}_{seed}_{i:04d}" for i in range(count)]
        return RawSet(list(images), list(masks), ids, True, PROVENANCE[kind])
    raise ValueError(f"unknown built-in dataset {kind!r}; choose one of {sorted(PROVENANCE)}")
