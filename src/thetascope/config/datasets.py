"""Config models of the datasets (one spec per on-disk layout) and the data section."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from thetascope.config.base import _Strict

# A dataset's name becomes part of file names (figures/gallery_<name>.png, contact_<name>.svg)
# and of table rows: at most this many UTF-8 bytes, no control characters (file-name sites
# replace path separators themselves).
NAME_MAX_BYTES = 96


def _printable(text: str) -> str:
    return "".join("_" if unicodedata.category(ch)[0] == "C" else ch for ch in text)


def short_name(text: str, max_bytes: int = NAME_MAX_BYTES) -> str:
    """A name derived from a path, safe in file names and tables: control characters and
    path separators become '_', and a name over ``max_bytes`` UTF-8 bytes is cut, with 8
    hex digits of the whole name's hash so that two long names stay distinct.

        short_name("Kvasir-SEG")   # 'Kvasir-SEG'
        short_name("x" * 250)      # 'xxx…x-1b4f0e98' (96 bytes)
    """
    clean = _printable(text).replace("/", "_").replace("\\", "_")
    if len(clean.encode("utf-8")) <= max_bytes:
        return clean
    tag = "-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = clean.encode("utf-8")[: max_bytes - len(tag)].decode("utf-8", "ignore")
    return head + tag


# --------------------------------------------------------------------------- datasets
class _DatasetBase(_Strict):
    name: str | None = Field(None, description="Display name; defaults to the kind (or the "
                             "folder's name for kind: auto). At most 96 UTF-8 bytes.")
    max_eval: int | None = Field(
        None, ge=1, description="Cap on evaluation images (None: data.max_eval_images)."
    )
    crop: Literal["square", "inscribed", "none"] | None = Field(
        None, description="Per-dataset crop (None: data.crop)."
    )

    @field_validator("root", "path", check_fields=False)
    @classmethod
    def _expandable(cls, v: Path) -> Path:
        text = str(v)
        try:
            v.expanduser()
        except RuntimeError:
            raise ValueError(f"{text}: no user {text[1:].split('/')[0]!r} to expand '~' for; "
                             "write the full path") from None
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.strip():
            raise ValueError("name is empty; give a short name such as 'brats' (or leave it out)")
        if _printable(v) != v:
            raise ValueError(f"name {v!r} holds a control character (a line break, a tab "
                             "...); use printable characters")
        if len(v.encode("utf-8")) > NAME_MAX_BYTES:
            raise ValueError(f"name is {len(v.encode('utf-8'))} bytes long, over "
                             f"{NAME_MAX_BYTES} (it becomes part of file names); shorten it")
        return v

    @property
    def display_name(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class MRILesionSpec(_DatasetBase):
    """Real brain MR slices with lesion masks (pyradiomics 3.0.1 test data)."""

    kind: Literal["mri-lesion"] = "mri-lesion"


class CTNoduleSpec(_DatasetBase):
    """Real chest CT slices with nodule masks (pyradiomics 3.0.1 test data)."""

    kind: Literal["ct-nodule"] = "ct-nodule"
    window_center: float = Field(-600.0, description="Lung window centre (HU).")
    window_width: float = Field(1500.0, gt=0, description="Lung window width (HU).")


class PhantomSpec(_DatasetBase):
    """Procedural, clearly synthetic images for modalities no registry ships."""

    kind: Literal["phantom-cxr", "phantom-polyp"]
    count: int = Field(48, ge=2, description="Number of phantom images generated.")
    size: int = Field(128, ge=32, description="Side of each generated image (pixels).")
    seed: int = Field(0, description="Generator seed: same seed, same images.")


class FolderSpec(_DatasetBase):
    """Any ``images/`` + ``masks/`` folder pair matched by file stem."""

    kind: Literal["folder"] = "folder"
    root: Path = Field(..., description="Folder holding the image and mask folders.")
    image_dir: str = "images"
    mask_dir: str = "masks"
    mask_threshold: float = Field(
        0.5, gt=0, lt=1, description="Masks are foreground where value > t × max (JPEG-safe)."
    )


BRATS_MODALITIES = {"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2",
                    "t2f": "flair", "t1n": "t1", "t1c": "t1ce", "t2w": "t2"}


class BratsSpec(_DatasetBase):
    """BraTS 2020 / 2021 / 2023-GLI case folders of NIfTI volumes; axial slices."""

    kind: Literal["brats"] = "brats"
    root: Path = Field(..., description="Folder holding the BraTS case folders.")
    modality: str | list[str] = Field(
        "flair", description="flair | t1 | t1ce | t2 (2023 names t2f, t1n, t1c, t2w accepted); "
        "a list stacks modalities as channels (1 or data.channels entries)."
    )
    slice_policy: Literal["fixed", "middle", "max-tumour", "all-tumour"] = Field(
        "max-tumour", description="Which axial slice(s) of each case become samples."
    )
    slice_index: int = Field(77, ge=0, description="Axial index for slice_policy=fixed.")
    max_slices_per_case: int = Field(
        4, ge=1, description="all-tumour: at most this many tumour slices per case, evenly spaced."
    )
    intensity: Literal["percentile-nonzero", "minmax"] = Field(
        "percentile-nonzero", description="Per-volume percentiles of non-zero voxels, or the "
        "paper's per-slice min-max."
    )
    percentile_low: float = Field(0.5, ge=0, lt=50)
    percentile_high: float = Field(99.5, gt=50, le=100)
    orientation: Literal["canonical", "array"] = Field(
        "canonical", description="canonical: RAS+ with anterior up; array: the stored array."
    )
    max_cases: int | None = Field(None, ge=1, description="Read only the first N cases.")

    @field_validator("modality")
    @classmethod
    def _modalities(cls, v: str | list[str]) -> str | list[str]:
        names = [v] if isinstance(v, str) else v
        if not names:
            raise ValueError("modality list is empty; give e.g. flair or [flair, t1ce, t2]")
        bad = [m for m in names if m.lower() not in BRATS_MODALITIES]
        if bad:
            raise ValueError(f"unknown BraTS modality {bad}; choose from "
                             f"{sorted(BRATS_MODALITIES)}")
        canon = [BRATS_MODALITIES[m.lower()] for m in names]
        return canon[0] if isinstance(v, str) else canon

    @property
    def modalities(self) -> list[str]:
        return [self.modality] if isinstance(self.modality, str) else list(self.modality)


class _FileSetBase(_DatasetBase):
    root: Path = Field(..., description="Folder of the dataset as downloaded.")
    mask_threshold: float = Field(
        0.5, gt=0, lt=1, description="Masks are foreground where value > t × max (JPEG-safe)."
    )
    max_images: int | None = Field(None, ge=1, description="Read only the first N images.")


class LungSpec(_FileSetBase):
    """Chest X-rays with lung masks: the paper's, Kaggle, Montgomery or COVID-19 layouts."""

    kind: Literal["lung"] = "lung"
    layout: Literal["auto", "paper", "kaggle", "montgomery", "covid"] = Field(
        "auto", description="Folder layout; auto picks the one found under root."
    )
    classes: list[str] | None = Field(
        None, description="COVID-19 Radiography: class folders to read (None: all)."
    )


class KvasirSpec(_FileSetBase):
    """Kvasir-SEG: images/<id>.jpg + masks/<id>.jpg, or the renamed image_<i>/mask_<i>."""

    kind: Literal["kvasir"] = "kvasir"


class ManifestSpec(_DatasetBase):
    """A CSV or JSON list of (image, mask) paths."""

    kind: Literal["manifest"] = "manifest"
    path: Path = Field(..., description="The manifest (.csv or .json).")
    image_column: str = Field("image", description="Column / key holding the image path.")
    mask_column: str = Field("mask", description="Column / key holding the mask path.")
    group_column: str = Field(
        "group", description="Optional column / key naming each image's source (patient, "
        "volume): its images are resampled and split together."
    )
    mask_threshold: float = Field(
        0.5, gt=0, lt=1, description="Masks are foreground where value > t × max (JPEG-safe)."
    )
    max_images: int | None = Field(None, ge=1, description="Read only the first N rows.")


class AutoSpec(_DatasetBase):
    """Inspect ``root`` and use the loader of the layout found there."""

    kind: Literal["auto"] = "auto"
    root: Path = Field(..., description="A dataset folder, or a manifest file.")

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        root = Path(self.root).expanduser()
        try:
            p = root.resolve()
        except (OSError, RuntimeError):  # a symlink loop: name it after the path as given
            p = Path(os.path.abspath(root))
        return short_name((p.stem if p.suffix.lower() in (".csv", ".json") else p.name)
                          or "auto")


class RegisteredSpec(_DatasetBase):
    """A dataset added with ``register_dataset`` (a script, a notebook or a plugin): its
    loader's arrays, preprocessed and split like the built-ins (``data/catalog.py``)."""

    kind: str = Field(..., description="The registered name.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the dataset's loader.")

    @field_validator("kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        from thetascope.data.catalog import get_dataset

        try:
            entry = get_dataset(v)
        except ValueError as exc:  # DataError: unknown, listing the registered names
            raise ValueError(str(exc)) from None
        if entry.spec is not None:  # a built-in layout has its own model and fields
            raise ValueError(f"dataset kind {v!r} is a built-in layout; give its own fields")
        return v


_BUILTIN_SPECS = (MRILesionSpec, CTNoduleSpec, PhantomSpec, FolderSpec, BratsSpec, LungSpec,
                  KvasirSpec, ManifestSpec, AutoSpec)
# each built-in kind is its own tag (error paths read data.datasets.0.phantom-cxr.count)
_BUILTIN_KINDS = {k: m for m in _BUILTIN_SPECS for k in get_args(m.model_fields["kind"].annotation)}
REGISTERED_TAG = "registered"


def _dataset_tag(v: Any) -> str | None:
    """The union member of a dataset entry: its built-in kind, else ``registered``."""
    kind = v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None)
    if kind is None:
        return None
    return kind if isinstance(kind, str) and kind in _BUILTIN_KINDS else REGISTERED_TAG


DatasetSpec = Annotated[
    Union[  # noqa: UP007 - a union of Annotated members, built from the kinds
        tuple(Annotated[m, Tag(k)] for k, m in _BUILTIN_KINDS.items())
        + (Annotated[RegisteredSpec, Tag(REGISTERED_TAG)],)
    ],
    Discriminator(_dataset_tag, custom_error_type="missing_kind", custom_error_message=(
        "no 'kind': give each dataset as a kind name (a built-in such as mri-lesion, or a "
        "registered one) or as a mapping with a 'kind'")),
]


class DataConfig(_Strict):
    datasets: list[DatasetSpec] = Field(
        default_factory=lambda: [MRILesionSpec(), PhantomSpec(kind="phantom-cxr")]
    )
    image_size: int = Field(64, ge=16, le=4096, description="Side of the square network input.")
    channels: Literal[1, 3] = Field(3, description="Grayscale replicated to this many channels.")
    intensity: Literal["percentile", "minmax"] = Field(
        "percentile", description="Per-image scaling to [0, 1]."
    )
    percentile_low: float = Field(0.5, ge=0, lt=50)
    percentile_high: float = Field(99.5, gt=50, le=100)
    max_eval_images: int = Field(8, ge=1, description="Evaluation images per dataset (cap).")
    max_ssp_images: int | None = Field(None, ge=2, description="Cap on the SSP pool.")
    crop: Literal["square", "inscribed", "none"] = Field(
        "square", description="Centre crop: largest square, inscribed square (min side / √2, "
        "the paper's 362 of 512), or none (resize stretches)."
    )
    resize: Literal["antialias", "bilinear", "nearest"] = Field(
        "antialias", description="Image/mask resize rule (see docs/METHODS.md)."
    )
    color: Literal["luma", "rgb"] = Field(
        "luma", description="Colour images: ITU-R 601 luma (replicated), or RGB channels."
    )
    on_bad_input: Literal["skip", "strict"] = Field(
        "skip", description="skip: drop and list bad files; strict: stop at the first one."
    )
    cache: bool = Field(True, description="Cache decoded, preprocessed file datasets on disk.")
    cache_dir: Path | None = Field(
        None, description="Cache folder (None: $XDG_CACHE_HOME/thetascope or "
        "~/.cache/thetascope)."
    )
    max_mask_coverage: float = Field(
        0.95, gt=0, le=1, description="A mask covering at least this share of the valid "
        "region (the inscribed circle with geometry.circle_mask, else the frame) is "
        "degenerate: left out of the evaluation set (kept for SSP)."
    )
    min_contrast: float = Field(
        0.01, ge=0, le=1, description="An image whose [0, 1] intensities have a standard "
        "deviation under this inside the valid region has no contrast: left out of the "
        "evaluation set and the SSP pool (0: off)."
    )
    max_degenerate_share: float = Field(
        0.5, ge=0, le=1, description="A dataset whose would-be evaluation set was more than "
        "this share degenerate images is flagged (LoadedDataset.degenerate_dominated)."
    )

    @field_validator("datasets", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """``[mri-lesion, my_data]``: a bare name is ``{kind: name}``."""
        if isinstance(v, list):
            return [{"kind": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("datasets")
    @classmethod
    def _some(cls, v: list) -> list:
        if not v:
            raise ValueError("no dataset given (data.datasets is empty); add one, e.g. "
                             "data.datasets='[{kind: auto, root: /data/mine}]' or a built-in "
                             "kind (mri-lesion, ct-nodule, phantom-cxr, phantom-polyp)")
        return v

    @model_validator(mode="after")
    def _channels_fit(self) -> DataConfig:
        if self.color == "rgb" and self.channels != 3:
            raise ValueError("data.color=rgb needs data.channels=3")
        for spec in self.datasets:
            n = len(spec.modalities) if isinstance(spec, BratsSpec) else 1
            if n not in (1, self.channels):
                raise ValueError(
                    f"dataset '{spec.display_name}' stacks {n} modalities but data.channels is "
                    f"{self.channels}; give 1 or {self.channels} modalities"
                )
        return self
