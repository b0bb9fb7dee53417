"""The dataset factory: a config spec in, a preprocessed ``LoadedDataset`` out.

    ds = create_dataset(MRILesionSpec(), DataConfig())
    len(ds.ssp), len(ds.eval), ds.skipped    # e.g. 48, 8, {'empty mask': 38, ...}

New layouts (BraTS, lung, Kvasir...) register a raw loader in ``RAW_LOADERS``: a function
from the spec to a ``RawSet``; preprocessing and the SSP/evaluation split are shared.
"""

from __future__ import annotations

from collections.abc import Callable

from thetascope.config import DataConfig
from thetascope.data.builtin import RawSet, load_builtin_arrays
from thetascope.data.folder import DataError, load_folder
from thetascope.data.preprocess import to_model_input
from thetascope.data.sample import LoadedDataset, Sample

RAW_LOADERS: dict[str, Callable[..., RawSet]] = {
    "mri-lesion": lambda s: load_builtin_arrays("mri-lesion"),
    "ct-nodule": lambda s: load_builtin_arrays(
        "ct-nodule", window_center=s.window_center, window_width=s.window_width
    ),
    "phantom-cxr": lambda s: load_builtin_arrays(
        "phantom-cxr", count=s.count, size=s.size, seed=s.seed
    ),
    "phantom-polyp": lambda s: load_builtin_arrays(
        "phantom-polyp", count=s.count, size=s.size, seed=s.seed
    ),
    "folder": lambda s: load_folder(s.root, s.image_dir, s.mask_dir, s.mask_threshold),
}


def create_dataset(spec, data: DataConfig) -> LoadedDataset:
    """Load, preprocess and split one dataset; empty masks are counted, never scored."""
    if spec.kind not in RAW_LOADERS:
        raise DataError(f"unknown dataset kind {spec.kind!r}; known: {sorted(RAW_LOADERS)}")
    raw = RAW_LOADERS[spec.kind](spec)
    ds = LoadedDataset(
        name=spec.display_name, kind=spec.kind, synthetic=raw.synthetic, ssp=[], eval=[],
        source=raw.source,
    )
    max_eval = spec.max_eval or data.max_eval_images
    metas = raw.meta or [{} for _ in raw.ids]
    for image, mask, sid, meta in zip(raw.images, raw.masks, raw.ids, metas, strict=True):
        try:
            img, m = to_model_input(
                image, mask, data.image_size, data.channels, data.intensity,
                data.percentile_low, data.percentile_high,
            )
        except ValueError as exc:
            where = meta.get("image_path", sid)
            raise DataError(f"{where}: {exc}") from None
        sample = Sample(img, m, sid, dict(meta))
        if data.max_ssp_images is None or len(ds.ssp) < data.max_ssp_images:
            ds.ssp.append(sample)
        if m is None:
            ds.skip("no mask")
        elif not m.any():
            # a lesion smaller than half a pixel at the target size vanishes: say so
            ds.skip("mask lost in resize" if mask is not None and mask.any() else "empty mask")
        elif len(ds.eval) < max_eval:
            ds.eval.append(sample)
        else:
            ds.skip("over max_eval")
    if not ds.eval:
        raise DataError(
            f"dataset '{ds.name}': no image has a non-empty mask after resizing to "
            f"{data.image_size}px, so nothing can be scored; check the masks or raise "
            "data.image_size"
        )
    if len(ds.ssp) < 2:
        raise DataError(f"dataset '{ds.name}': needs at least 2 images for SSP")
    return ds
