"""What ``thetascope data inspect`` reports about a dataset, before any training.

    info = inspect_dataset(AutoSpec(root="/data/Kvasir-SEG"), DataConfig(image_size=128))
    info.layout, info.n_images, info.sizes, info.foreground, info.skipped_files
    print("\\n".join(info.lines()))

Bad input is always listed here (the ``skip`` policy), whatever ``data.on_bad_input`` says,
so that one inspection shows every problem, and so are the images a run would not score:
no mask, an empty mask (and whether the crop or the resize emptied it), degenerate images
(``data/degenerate.py``: no contrast, a mask covering or missing the valid region).
Foreground fractions are measured on the preprocessed masks (after crop and resize to
``data.image_size``) of the images a run would score.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thetascope.config import AutoSpec, DataConfig
from thetascope.data.degenerate import ScoreRules, is_degenerate, screen
from thetascope.data.detect import detect_layout, resolve_spec
from thetascope.data.problems import DataError, reason_category
from thetascope.data.registry import prepare_dataset
from thetascope.data.roots import check_root, expand_user
from thetascope.data.sample import Sample


@dataclass
class Inspection:
    name: str
    kind: str
    layout: str
    source: str
    samples: list[Sample]
    sizes: Counter = field(default_factory=Counter)  # raw (H, W) -> count
    foreground: list[float] = field(default_factory=list)  # per non-empty mask
    n_empty: int = 0
    n_no_mask: int = 0
    n_degenerate: int = 0  # images with a mask that a run leaves out (data/degenerate.py)
    n_with_mask: int = 0  # images with a non-empty mask (the would-be evaluation set)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    cache_status: str = ""

    @property
    def n_images(self) -> int:
        return len(self.samples)

    def lines(self, max_problems: int = 20) -> list[str]:
        out = [f"dataset   {self.name} (kind {self.kind}, layout {self.layout})",
               f"source    {self.source}",
               f"images    {self.n_images} read; {self.n_with_mask} with a non-empty mask, "
               f"{self.n_empty} empty masks, {self.n_no_mask} without a mask"]
        if self.n_degenerate:
            share = self.n_degenerate / max(1, self.n_with_mask)
            out.append(f"degenerate {self.n_degenerate} of the {self.n_with_mask} images with "
                       f"a mask ({share:.0%}) cannot be scored and are left out (listed below)")
        if self.sizes:
            common = ", ".join(f"{w}×{h} ({n})" for (h, w), n in self.sizes.most_common(4))
            more = f", +{len(self.sizes) - 4} other sizes" if len(self.sizes) > 4 else ""
            out.append(f"sizes     {common}{more}")
        if self.foreground:
            fg = np.asarray(self.foreground)
            out.append(f"mask      foreground fraction mean {fg.mean():.3f}, median "
                       f"{np.median(fg):.3f}, min {fg.min():.3f}, max {fg.max():.3f}")
        counts = Counter(reason_category(r) for _, r in self.skipped_files)
        out.append("problems  " + (", ".join(f"{k}: {v}" for k, v in counts.items())
                                   if counts else "none"))
        for path, reason in self.skipped_files[:max_problems]:
            out.append(f"  {path}: {reason}")
        if len(self.skipped_files) > max_problems:
            out.append(f"  … {len(self.skipped_files) - max_problems} more")
        return out


def _layout(spec) -> str:
    where = getattr(spec, "root", None) or getattr(spec, "path", None)
    if where is None:
        return "built-in"
    try:
        return detect_layout(Path(where)).layout
    except DataError:
        return "not detected"


def inspect_dataset(spec, data: DataConfig, circle: bool = True) -> Inspection:
    """Load and preprocess every sample (no split) and collect statistics and problems;
    ``circle``: ``geometry.circle_mask`` (the valid region of the degenerate-data rules)."""
    data = data.model_copy(update={"on_bad_input": "skip"})
    layout = _layout(spec)
    resolved = resolve_spec(spec)
    prepared, status = prepare_dataset(resolved, data)
    name = spec.display_name if isinstance(spec, AutoSpec) else resolved.display_name
    info = Inspection(name, resolved.kind, layout, prepared.source, prepared.samples,
                      skipped_files=list(prepared.skipped_files), cache_status=status)
    rules = ScoreRules.from_config(data, circle, resolved.crop)
    for s, had_fg in zip(prepared.samples, prepared.raw_foreground, strict=True):
        if "raw_shape" in s.meta:
            info.sizes[tuple(s.meta["raw_shape"])] += 1
        else:
            info.sizes[tuple(s.image.shape[-2:])] += 1
        reason, _ = screen(s, had_fg, rules)
        if s.mask is None:
            info.n_no_mask += 1
        elif not s.mask.any():
            info.n_empty += 1
        else:
            info.n_with_mask += 1
        if reason is None:
            info.foreground.append(float(s.mask.mean()))  # type: ignore[union-attr]
            continue
        if is_degenerate(reason) and s.mask is not None and s.mask.any():
            info.n_degenerate += 1
        where = s.meta.get("image_path")
        if s.mask is not None and not reason.startswith("no contrast"):
            where = s.meta.get("mask_path") or where
        if where is not None or is_degenerate(reason):
            info.skipped_files.append((where or s.id, reason))
    return info


def inspect_target(target: str | Path, overrides: list[str], image_size: int = 128
                   ) -> list[Inspection]:
    """Inspect a dataset folder / manifest (``kind: auto``), or every dataset of a YAML
    config; ``overrides`` are ``--set`` strings applied to the config either way."""
    from thetascope.config import ExperimentConfig, apply_overrides, load_config

    path = expand_user(target)
    if path.suffix.lower() in (".yaml", ".yml"):
        cfg = load_config(path, overrides)
        return [inspect_dataset(spec, cfg.data, cfg.geometry.circle_mask)
                for spec in cfg.data.datasets]
    check_root(path, "give a dataset folder, a manifest or a YAML config")
    cfg = apply_overrides(ExperimentConfig(), [f"data.image_size={image_size}", *overrides])
    return [inspect_dataset(AutoSpec(root=path), cfg.data, cfg.geometry.circle_mask)]
