"""Config models of the geometry, SSP, saliency, metrics and sweep sections."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
)

from thetascope.config.base import _Strict


# --------------------------------------------------------------------------- geometry
class GeometryConfig(_Strict):
    interpolation: Literal["bilinear", "nearest", "fourier"] = Field(
        "bilinear", description="How the views are rotated: bilinear, nearest, or fourier "
        "(three Fourier shears: no angle blurs the image more than another; square images)."
    )
    fill: float = Field(0.0, description="Value of pixels rotated in from outside.")
    circle_mask: bool = Field(
        True, description="Zero everything outside the inscribed circle in both views."
    )
    rotate_then_crop: bool = Field(
        False, description="Rotate the whole image, then cut both views (and the masks) to "
        "the centred inscribed square (512 -> 362): no rotated-in corner in either view, as "
        "in the reference notebook. Load the data uncropped (data.crop: square)."
    )


# --------------------------------------------------------------------------- SSP
def _registered(kind: str) -> Callable[[str], str]:
    """A validator accepting the names of one ``ssl/registry.py`` registry (built-ins and
    registered); the registry's ``UnknownNameError`` is a ``ValueError`` listing them."""

    def check(name: str) -> str:
        from thetascope.ssl import registry  # at validation time: the registry imports config

        (registry.get_encoder if kind == "encoder" else registry.get_method)(name)
        return name

    return check


MethodName = Annotated[str, AfterValidator(_registered("method"))]
EncoderName = Annotated[str, AfterValidator(_registered("encoder"))]


class SSLConfig(_Strict):
    method: MethodName = Field(
        "moco_v2", description="Contrastive method, a registered name: moco_v2 (MoCo v2, "
        "queue), simclr (SimCLR, NT-Xent), or one added with register_method."
    )
    encoder: EncoderName = Field(
        "resnet18", description="Backbone, a registered name: resnet18, resnet34, resnet50, "
        "convnext_tiny, vit_b_16, or one added with register_encoder."
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
    steps: int = Field(32, ge=1, description="Optimiser steps per pre-training run.")
    lr: float = Field(0.03, gt=0)
    sgd_momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast + channels_last where the hardware has fast "
        "bf16 (CPU with AMX or AVX-512 BF16, a CUDA GPU with bf16), else fp32."
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
    mask_self_negatives: bool = Field(
        True, description="MoCo: leave queue keys of the query's own image out of its "
        "negatives (a small reshuffled set puts them there); counted in cell.json either way."
    )
    symmetric: bool = Field(
        False, description="MoCo: add the term (q(rot x), k(x)) to (q(x), k(rot x)) and "
        "average them (MoCo v3), so the query encoder sees both views; both keys enqueued."
    )


# --------------------------------------------------------------------------- saliency
class SaliencyConfig(_Strict):
    target: Literal["pair_cosine"] = Field(
        "pair_cosine", description="Scalar explained: cos(f(x), f(rot_θ x))."
    )
    samples: int = Field(16, ge=1, description="SmoothGrad noise samples.")
    noise_level: float = Field(0.15, ge=0, description="σ = noise_level × (max − min).")
    chunk_size: int = Field(16, ge=1, description="Noise samples per backward pass.")
    memory_budget_mb: int = Field(
        2048, ge=0, description="Cap on SmoothGrad's working memory (MB): lowers the rows per "
        "backward pass below chunk_size when one row is large (0: no cap)."
    )
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
    map_rotation: Literal["fourier", "bilinear", "nearest"] = Field(
        "fourier", description="How the rotated view's map is rotated back: fourier (no "
        "angle smooths the map more than another), or bilinear/nearest resampling, whose "
        "smoothing at non-multiples of 90° alone makes a 90°-periodic Dice pattern."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="SmoothGrad in bf16 autocast + channels_last where the hardware "
        "has fast bf16 (auto), or as named."
    )
    gallery_images: int = Field(4, ge=0, description="Images kept for the saliency gallery.")

    @field_validator("blur_kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"blur_kernel must be odd, got {v}; use {v + 1}")
        return v


# --------------------------------------------------------------------------- metrics
def _registered_metric(name: str) -> str:
    """A name of the metric registry (``metrics/registry.py``: built-ins and registered)."""
    from thetascope.metrics.registry import get_metric

    get_metric(name)  # ValueError listing the registered names
    return name


MetricName = Annotated[str, AfterValidator(_registered_metric)]


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
MAX_ANGLES = 100_000  # a 'start:stop:step' range longer than this is a typo, not a study


def _grid_count(a: float, b: float, s: float, text: str) -> int:
    """Number of angles of an inclusive range, refusing non-finite or huge ranges."""
    if not all(math.isfinite(x) for x in (a, b, s)):
        raise ValueError(f"angle range {text!r} must use finite numbers")
    n = math.floor((b - a) / s + 1e-9) + 1  # never past stop: '0:359:10' ends at 350
    if n > MAX_ANGLES:
        raise ValueError(f"angle range {text!r} gives {n} angles, more than {MAX_ANGLES}; "
                         "use a larger step")
    return max(n, 0)


def _angle_grid(v: Any) -> Any:
    """'start:stop:step' (stop inclusive) -> a list of angles; lists pass through."""
    if isinstance(v, str):
        try:
            a, b, s = (float(p) for p in v.split(":"))
        except ValueError:
            raise ValueError(f"angle range {v!r} must look like 'start:stop:step'") from None
        if s <= 0:
            raise ValueError(f"angle step must be positive in {v!r}")
        return [round(a + i * s, 6) for i in range(_grid_count(a, b, s, v))]
    return v


def canonical_angles(v: list[float], what: str = "thetas") -> list[float]:
    """Angles taken modulo 360 into [0, 360) (order kept, rounded to 1e-6°); two entries
    that are then equal are refused, naming the pair. θ and θ + 360 are one rotation.

        canonical_angles([-90, 0, 90])   # [270.0, 0.0, 90.0]
        canonical_angles([0, 90, 360])   # ValueError: ... 0 and 360 are the same angle ...
    """
    seen: dict[float, float] = {}
    out = []
    for t in v:
        c = round(float(t) % 360.0, 6) % 360.0 + 0.0  # 359.9999999 -> 0; -0.0 -> 0.0
        if c in seen:
            first = seen[c]
            if first == t:
                raise ValueError(f"{what} has duplicates: {t:g} appears twice; drop one")
            raise ValueError(
                f"{what} has duplicates: {first:g} and {t:g} are the same angle (θ is taken "
                "modulo 360); drop one (a full circle in steps of s stops at 360 - s, e.g. "
                "'0:270:90')")
        seen[c] = t
        out.append(c)
    return out


class SweepConfig(_Strict):
    protocol: Literal["fixed-theta", "probe"] = Field(
        "fixed-theta", description="fixed-theta: a model per θ; probe: one model per "
        "(dataset, seed), θ only at saliency time."
    )
    thetas: list[float] = Field(default_factory=lambda: [0, 30, 60, 90, 120, 150, 180])
    seeds: list[int] = Field(default_factory=lambda: [0, 1])
    theta_batch: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="Train this many fixed-θ models at once as one fused network "
        "(MoCo v2, ResNets); 1: one at a time. auto: as many as fit a CUDA GPU's free memory "
        "(at most 8; 2.4-4.5x faster there), 1 on a CPU (where fusion is slower)."
    )
    references: list[Literal["untrained", "resample", "chance"]] = Field(
        default_factory=lambda: ["untrained", "resample", "chance"],
        description="Reference curves scored at every θ beside the trained models: the "
        "seeded initial model (untrained), the geometry alone (resample), a noise map "
        "(chance). [] turns them off; the θ tests then run on the raw curves."
    )
    chance_draws: int = Field(16, ge=1, description="Noise maps averaged per image for the "
                              "chance level of Dice and IoU.")

    @field_validator("thetas", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return _angle_grid(v)

    @field_validator("thetas")
    @classmethod
    def _check(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("thetas is empty; give at least one angle, e.g. [0, 90]")
        bad = [t for t in v if not -360 <= t <= 360]
        if bad:
            raise ValueError(f"thetas out of range [-360, 360]: {bad}")
        return canonical_angles(v, "thetas")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {v}")
        if bad := [x for x in v if not 0 <= x < 2**32]:
            raise ValueError(f"seeds must lie in [0, 2**32), got {bad}")
        return v


# --------------------------------------------------------------------------- cross-section
def check_probe_recipe(ssl: SSLConfig, sweep: SweepConfig) -> None:
    """The probe protocol's two views differ only by augmentation: it needs a recipe."""
    if sweep.protocol == "probe" and ssl.augment == "none":
        raise ValueError(
            "protocol=probe trains on two views of the same image with no θ between them, "
            "so ssl.augment=none makes them identical; choose a recipe: "
            "ssl.augment=reference (the reference notebook's) or ssl.augment=mocov2")


def check_view_crop(ssl: SSLConfig, geometry: GeometryConfig) -> None:
    """``geometry.rotate_then_crop`` makes the views smaller than ``data.image_size``."""
    from thetascope.ssl.registry import get_encoder

    if geometry.rotate_then_crop and get_encoder(ssl.encoder).fixed_image_size:
        raise ValueError(
            f"geometry.rotate_then_crop cuts the views below data.image_size, and the encoder "
            f"{ssl.encoder!r} is built for that size (its spec's fixed_image_size); use a "
            "ResNet or ConvNeXt encoder, or turn the crop off")


def check_encoder_input(ssl: SSLConfig, image_size: int, channels: int) -> None:
    """``data.image_size`` / ``data.channels`` meet the encoder spec's input constraints
    (e.g. ViT-B/16: a multiple of 16); ValueError naming the encoder and the constraint."""
    from thetascope.ssl.registry import get_encoder

    get_encoder(ssl.encoder).check_input(image_size, channels)
