"""The experiment configuration: one validated, fingerprinted object read in one place.

Every protocol choice that the papers leave open is a named field here, with its default,
and a row in ``docs/METHODS.md``. Load, override and fingerprint a config like this::

    from thetascope.config import load_config, apply_overrides, fingerprint
    cfg = load_config("configs/smoke.yaml")
    cfg = apply_overrides(cfg, ["sweep.seeds=[0,1,2]", "ssl.steps=40"])
    print(fingerprint(cfg))

Unknown keys are rejected with a "did you mean" hint, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Bump when a change to the code alters the numbers a cell produces; it is part of every
# cell's identity, so results from an older protocol are recomputed rather than mixed in.
PROTOCOL_VERSION = 1


class ConfigError(ValueError):
    """A configuration problem, worded for the user (names the key and the fix)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- datasets
class _DatasetBase(_Strict):
    name: str | None = Field(None, description="Display name; defaults to the kind.")
    max_eval: int | None = Field(
        None, ge=1, description="Cap on evaluation images (None: data.max_eval_images)."
    )

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


DatasetSpec = Annotated[
    MRILesionSpec | CTNoduleSpec | PhantomSpec | FolderSpec, Field(discriminator="kind")
]


class DataConfig(_Strict):
    datasets: list[DatasetSpec] = Field(
        default_factory=lambda: [MRILesionSpec(), PhantomSpec(kind="phantom-cxr")]
    )
    image_size: int = Field(64, ge=16, description="Side of the square network input.")
    channels: Literal[1, 3] = Field(3, description="Grayscale replicated to this many channels.")
    intensity: Literal["percentile", "minmax"] = Field(
        "percentile", description="Per-image scaling to [0, 1]."
    )
    percentile_low: float = Field(0.5, ge=0, lt=50)
    percentile_high: float = Field(99.5, gt=50, le=100)
    max_eval_images: int = Field(8, ge=1, description="Evaluation images per dataset (cap).")
    max_ssp_images: int | None = Field(None, ge=2, description="Cap on the SSP pool.")


# --------------------------------------------------------------------------- geometry
class GeometryConfig(_Strict):
    interpolation: Literal["bilinear", "nearest"] = "bilinear"
    fill: float = Field(0.0, description="Value of pixels rotated in from outside.")
    circle_mask: bool = Field(
        True, description="Zero everything outside the inscribed circle in both views."
    )


# --------------------------------------------------------------------------- SSP
class SSLConfig(_Strict):
    method: Literal["moco_v2", "simclr"] = Field(
        "moco_v2", description="Contrastive method: MoCo v2 (queue) or SimCLR (NT-Xent)."
    )
    encoder: Literal["resnet18", "resnet34", "resnet50", "convnext_tiny", "vit_b_16"] = (
        "resnet18"
    )
    weights: Path | None = Field(
        None, description="Initial backbone weights (MoCo .pth.tar, torchvision or thetascope "
        "checkpoint); None: random initialisation."
    )
    dim: int = Field(128, ge=2, description="Embedding dimension (MoCo `dim`).")
    mlp: bool = Field(True, description="MoCo v2 MLP projection head.")
    queue_size: int | Literal["auto"] = Field(
        "auto", description="MoCo `K`: a multiple of batch_size with K + batch ≤ SSP images."
    )
    momentum: float = Field(0.99, ge=0, lt=1, description="MoCo `m` (key-encoder EMA).")
    temperature: float = Field(0.2, gt=0, description="MoCo `T`.")
    split_bn: int = Field(
        2, ge=1, description="Batch-norm groups in the key encoder (single-device shuffle-BN)."
    )
    batch_size: int = Field(16, ge=2)
    steps: int = Field(36, ge=1, description="Optimiser steps per pre-training run.")
    lr: float = Field(0.03, gt=0)
    sgd_momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16 autocast + channels_last (faster on AMX/GPU)."
    )
    augment: Literal["none", "reference", "mocov2"] = Field(
        "none", description="Augmentation of the views: none (fixed-θ default), the "
        "reference notebook's recipe, or MoCo v2's (see ssl/augment.py)."
    )
    queue_init: Literal["data", "random"] = Field(
        "data", description="Fill the queue with real keys first (data) or random vectors."
    )
    freeze_queue: bool = Field(
        False, description="Paper-compat: never enqueue new keys (the reference code's bug)."
    )


# --------------------------------------------------------------------------- saliency
class SaliencyConfig(_Strict):
    target: Literal["pair_cosine"] = Field(
        "pair_cosine", description="Scalar explained: cos(f(x), f(rot_θ x))."
    )
    samples: int = Field(16, ge=1, description="SmoothGrad noise samples.")
    noise_level: float = Field(0.15, ge=0, description="σ = noise_level × (max − min).")
    chunk_size: int = Field(16, ge=1, description="Noise samples per backward pass.")
    noise_pairing: Literal["independent", "shared"] = Field(
        "independent", description="shared: the same noise on both views (reference code)."
    )
    backprop: Literal["vanilla", "guided"] = "vanilla"
    map: Literal["grad_x_input", "grad"] = "grad_x_input"
    channel_reduce: Literal["max", "mean"] = "max"
    blur_sigma: float = Field(0.0, ge=0, description="Gaussian blur σ in pixels (0: off).")
    blur_kernel: int = Field(11, ge=1, description="Odd kernel side for the blur.")
    view: Literal["mean", "original", "rotated"] = Field(
        "mean", description="Which map is scored: x's, rot_θ(x)'s rotated back, or their mean."
    )
    rotate_back: bool = Field(
        True, description="Rotate the rotated view's map back by −θ (false: the BraTS typo)."
    )
    precision: Literal["fp32", "bf16"] = "fp32"
    gallery_images: int = Field(4, ge=0, description="Images kept for the saliency gallery.")

    @field_validator("blur_kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"blur_kernel must be odd, got {v}; use {v + 1}")
        return v


# --------------------------------------------------------------------------- metrics
MetricName = Literal["dice", "dice_paper", "iou", "pointing_game", "mass_in_mask"]


class MetricsConfig(_Strict):
    binarize: str = Field("otsu", description="otsu | topk | fixed:<t> | paper")
    names: list[MetricName] = Field(
        default_factory=lambda: ["dice", "iou", "pointing_game", "mass_in_mask"]
    )
    bootstrap: int = Field(2000, ge=100, description="Bootstrap resamples for 95% CIs.")

    @field_validator("binarize")
    @classmethod
    def _rule(cls, v: str) -> str:
        from thetascope.metrics.overlap import parse_binarize_rule

        parse_binarize_rule(v)
        return v


# --------------------------------------------------------------------------- sweep
class SweepConfig(_Strict):
    protocol: Literal["fixed-theta", "probe"] = Field(
        "fixed-theta", description="fixed-theta: a model per θ; probe: one model per "
        "(dataset, seed), θ only at saliency time."
    )
    thetas: list[float] = Field(default_factory=lambda: [0, 30, 60, 90, 120, 150, 180])
    seeds: list[int] = Field(default_factory=lambda: [0, 1])

    @field_validator("thetas", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        if isinstance(v, str):  # "start:stop:step", stop inclusive
            try:
                a, b, s = (float(p) for p in v.split(":"))
            except ValueError:
                raise ValueError(f"thetas range {v!r} must look like 'start:stop:step'") from None
            if s <= 0:
                raise ValueError(f"thetas step must be positive in {v!r}")
            n = int(round((b - a) / s)) + 1
            return [round(a + i * s, 6) for i in range(n)]
        return v

    @field_validator("thetas")
    @classmethod
    def _check(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("thetas is empty; give at least one angle, e.g. [0, 90]")
        bad = [t for t in v if not -360 <= t <= 360]
        if bad:
            raise ValueError(f"thetas out of range [-360, 360]: {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"thetas has duplicates: {v}")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {v}")
        return v


class RuntimeConfig(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch threads (None: all cores).")
    executor: Literal["local", "process", "ray"] = Field(
        "local", description="local: in this process; process: N worker processes; ray: a "
        "Ray cluster (runtime.address)."
    )
    workers: int = Field(2, ge=1, description="Worker processes for executor=process.")
    address: str = Field(
        "auto", description="Ray cluster: auto (the running one), HOST:PORT, or local (a "
        "private cluster started for this run)."
    )
    cpus_per_task: int = Field(1, ge=1, description="CPUs (= torch threads) per worker task.")
    gpus_per_task: float = Field(
        0.0, ge=0, description="GPUs per Ray task; >0 keeps cells off GPU-less nodes."
    )
    max_retries: int = Field(3, ge=0, description="Ray: retries of a task whose worker died.")
    checkpoints: Literal["none", "last", "all"] = Field(
        "none", description="Model weights kept per cell: none, the final model (model.pt), "
        "or also every intermediate checkpoint."
    )
    checkpoint_every: int = Field(
        0, ge=0, description="Save a resumable training state every N steps (0: never); an "
        "interrupted cell restarts from it."
    )


class ExperimentConfig(_Strict):
    name: str = "experiment"
    data: DataConfig = Field(default_factory=DataConfig)
    geometry: GeometryConfig = Field(default_factory=GeometryConfig)
    ssl: SSLConfig = Field(default_factory=SSLConfig)
    saliency: SaliencyConfig = Field(default_factory=SaliencyConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    sweep: SweepConfig = Field(default_factory=SweepConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)


# --------------------------------------------------------------------------- loading
def _known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _explain(err: ValidationError, source: str) -> ConfigError:
    """Turn pydantic's error into one readable message per problem, with did-you-mean."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            parent, key = _parent_model(e["loc"]), str(e["loc"][-1])
            hint = difflib.get_close_matches(key, _known_keys(parent), n=1) if parent else []
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            lines.append(f"unknown key '{loc}'{extra}")
        else:
            lines.append(f"{loc}: {e['msg']}")
    return ConfigError(f"invalid config ({source}):\n  " + "\n  ".join(lines))


_DATASET_MODELS = (MRILesionSpec, CTNoduleSpec, PhantomSpec, FolderSpec)


def _parent_model(loc: tuple) -> type[BaseModel] | None:
    """The model that owns the last key of an error location (for did-you-mean)."""
    model: Any = ExperimentConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is not None:
            ann = field.annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            continue
        # inside the dataset union the location names the tag, e.g. 'phantom-cxr'
        model = next((c for c in _DATASET_MODELS
                      if part in c.model_fields["kind"].annotation.__args__), None)  # type: ignore[union-attr]
    return model


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise _explain(err, source) from None


def builtin_config_path(name: str) -> Path:
    """Path of a config shipped inside the package (``default``, ``smoke``)."""
    return Path(str(resources.files("thetascope") / "configs" / f"{name}.yaml"))


def load_config(path: str | Path | None = None) -> ExperimentConfig:
    """Read a YAML config; ``None`` reads the shipped ``default.yaml``."""
    p = builtin_config_path("default") if path is None else Path(path)
    if not p.is_file():
        shipped = builtin_config_path(str(path)) if path is not None else None
        if shipped is not None and shipped.is_file():  # allow `--config smoke`
            p = shipped
        else:
            raise ConfigError(f"config file not found: {p} (give a YAML path, or 'smoke')")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    raw.setdefault("name", p.stem)
    return config_from_dict(raw, str(p))


def apply_overrides(cfg: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Apply ``section.key=value`` strings; values are parsed as YAML (lists, numbers...)."""
    raw = cfg.model_dump(mode="json")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        dotted, value = item.split("=", 1)
        parts = dotted.strip().split(".")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {exc}") from None
        node = raw
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[: i + 1])
                choices = list(node) if isinstance(node, dict) else []
                hint = difflib.get_close_matches(part, choices, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                raise ConfigError(f"--set {item!r}: unknown section '{where}'{extra}")
            node = node[part]
        node[parts[-1]] = parsed
    return config_from_dict(raw, "--set overrides")


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-able object, independent of key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def fingerprint(cfg: ExperimentConfig) -> str:
    """Fingerprint of the whole config plus the protocol version."""
    return stable_hash({"v": PROTOCOL_VERSION, "cfg": cfg.model_dump(mode="json")})
