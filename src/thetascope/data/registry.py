"""The dataset factory: a config spec in, a preprocessed ``LoadedDataset`` out.

    ds = create_dataset(MRILesionSpec(), DataConfig())
    len(ds.ssp), len(ds.eval), ds.skipped    # e.g. 48, 8, {'empty mask': 38, ...}

Each kind is an entry of the dataset registry (``data/catalog.py``: the built-in layouts
and every ``register_dataset``), whose ``load(spec, LoadOptions)`` gives a ``RawSet``;
``kind: auto`` is resolved to a concrete spec first (``detect.py``). Preprocessing
(``prepare_dataset``, cached on disk for file datasets) and the SSP/evaluation split
(``split_dataset``) are shared by all of them. Every dropped or unscorable input file is
counted in ``ds.skipped`` and listed in ``ds.skipped_files``.
"""

from __future__ import annotations

from thetascope.config import DataConfig
from thetascope.data.cache import default_cache_dir, load_or_build
from thetascope.data.catalog import get_dataset
from thetascope.data.degenerate import ScoreRules, is_degenerate, screen
from thetascope.data.detect import resolve_spec
from thetascope.data.folder import DataError
from thetascope.data.preprocess import crop, to_model_input
from thetascope.data.problems import LoadOptions, Problems, displayable, reason_category
from thetascope.data.sample import LoadedDataset, PreparedSet, Sample

# DataConfig fields that act after preprocessing (split, caching): not part of a cache key.
_NOT_PREPROCESSING = {"datasets", "max_eval_images", "max_ssp_images", "cache", "cache_dir",
                      "max_mask_coverage", "min_contrast", "max_degenerate_share"}


def _prepare(spec, data: DataConfig) -> PreparedSet:
    opts = LoadOptions(on_bad_input=data.on_bad_input, color=data.color)
    raw = get_dataset(spec.kind).load(spec, opts)
    problems = Problems(opts, list(raw.skipped))
    metas = raw.meta or [{} for _ in raw.ids]
    samples, raw_fg = [], []
    for image, mask, sid, meta in zip(raw.images, raw.masks, raw.ids, metas, strict=True):
        if displayable(sid) != sid:  # a file name that is not UTF-8: no printable id
            problems.report(meta.get("image_path", sid), "undecodable file name: not UTF-8 "
                            "text", "rename the file (or its folder)")
            continue
        try:
            img, m = to_model_input(
                image, mask, data.image_size, data.channels, data.intensity,
                data.percentile_low, data.percentile_high, spec.crop or data.crop,
                data.resize, raw.scaled,
            )
        except ValueError as exc:
            if "image_path" not in meta:
                raise DataError(f"{sid}: {exc}") from None
            problems.report(meta["image_path"], f"preprocessing failed: {exc}",
                            "check the file")
            continue
        had_fg = mask is not None and bool(mask.any())
        meta = dict(meta)
        if had_fg and m is not None and not m.any() and not crop(
                mask, spec.crop or data.crop).any():
            meta["mask_outside_crop"] = True  # the crop, not the resize, removed it
        samples.append(Sample(img, m, sid, meta))
        raw_fg.append(had_fg)
    return PreparedSet(samples, raw_fg, problems.skipped, raw.source, raw.synthetic)


def prepare_dataset(spec, data: DataConfig) -> tuple[PreparedSet, str]:
    """Every sample preprocessed (no split): (set, cache status "hit"/"miss"/"stale"/"")."""
    spec = resolve_spec(spec)
    if not get_dataset(spec.kind).cached or not data.cache:  # unknown kind: DataError
        return _prepare(spec, data), ""
    prep = {k: v for k, v in data.model_dump(mode="json").items() if k not in _NOT_PREPROCESSING}
    return load_or_build(spec, prep, data.cache_dir or default_cache_dir(),
                         lambda: _prepare(spec, data))


def split_dataset(prepared: PreparedSet, spec, data: DataConfig,
                  circle: bool = True) -> LoadedDataset:
    """SSP pool (every image, up to data.max_ssp_images) and evaluation set (non-empty,
    non-degenerate masks, up to max_eval) of a resolved spec; empty masks and degenerate
    images (``data/degenerate.py``; ``circle``: ``geometry.circle_mask``) are counted and
    listed, never scored."""
    ds = LoadedDataset(
        name=spec.display_name, kind=spec.kind, synthetic=prepared.synthetic,
        ssp=[], eval=[], source=prepared.source, skipped_files=list(prepared.skipped_files),
    )
    for _, reason in prepared.skipped_files:
        ds.skip(reason_category(reason))
    max_eval = spec.max_eval or data.max_eval_images
    rules = ScoreRules.from_config(data, circle, spec.crop)
    n_candidates = 0
    for sample, had_fg in zip(prepared.samples, prepared.raw_foreground, strict=True):
        m, meta = sample.mask, sample.meta
        reason, for_ssp = screen(sample, had_fg, rules)
        if for_ssp and (data.max_ssp_images is None or len(ds.ssp) < data.max_ssp_images):
            ds.ssp.append(sample)
        if m is not None and m.any():
            n_candidates += 1  # the would-be evaluation set
            if reason is not None:
                ds.degenerate.append((sample.id, reason))
        if reason is None:
            if len(ds.eval) < max_eval:
                ds.eval.append(sample)
            else:
                ds.skip("over max_eval")
            continue
        ds.skip(reason_category(reason))
        if "image_path" in meta:  # files: the mask's path when the mask is the problem
            on_mask = m is not None and not reason.startswith("no contrast")
            ds.skipped_files.append(
                ((meta.get("mask_path") if on_mask else None) or meta["image_path"], reason))
        elif is_degenerate(reason):  # built-in data: named by image id
            ds.skipped_files.append((sample.id, reason))
    ds.degenerate_share = len(ds.degenerate) / n_candidates if n_candidates else 0.0
    ds.degenerate_dominated = ds.degenerate_share > data.max_degenerate_share
    if not ds.eval:
        if ds.degenerate:
            raise DataError(
                f"dataset '{ds.name}': all {len(ds.degenerate)} image(s) with a mask are "
                f"degenerate, so nothing can be scored (the first: {ds.degenerate[0][0]}: "
                f"{ds.degenerate[0][1]}); check the data, or data.max_mask_coverage / "
                "data.min_contrast" + _skipped_hint(ds))
        raise DataError(
            f"dataset '{ds.name}': no image has a non-empty mask after resizing to "
            f"{data.image_size}px, so nothing can be scored; check the masks or raise "
            "data.image_size" + _skipped_hint(ds)
        )
    if len(ds.ssp) < 2:
        raise DataError(f"dataset '{ds.name}': needs at least 2 images for SSP, has "
                        f"{len(ds.ssp)}" + _skipped_hint(ds))
    return ds


def _skipped_hint(ds: LoadedDataset) -> str:
    if not ds.skipped:
        return ""
    return " (skipped: " + ", ".join(f"{k}: {v}" for k, v in ds.skipped.items()) + ")"


def create_dataset(spec, data: DataConfig, circle: bool = True) -> LoadedDataset:
    """Load (or read from the cache), preprocess and split one dataset; ``circle``:
    ``geometry.circle_mask`` (the valid region of the degenerate-data rules)."""
    spec = resolve_spec(spec)
    prepared, status = prepare_dataset(spec, data)
    ds = split_dataset(prepared, spec, data, circle)
    ds.cache_status = status
    return ds
