"""Config model of the downstream evaluation run inside each cell (issue H).

    from thetascope.config import load_config, apply_overrides
    cfg = apply_overrides(load_config("smoke"), ["downstream.enabled=true",
                                                 "downstream.fewshot_k=[2]"])
    cfg.downstream.probe, cfg.downstream.probe_hidden

Off by default; when off it is left out of every cell's identity, so enabling it never
changes the key of a cell computed without it (and enabling it keys cells apart).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from thetascope.config.base import _Strict


class DownstreamConfig(_Strict):
    """Frozen-encoder evaluations of every (dataset, θ, seed) checkpoint, as extra rows."""

    enabled: bool = Field(False, description="Run the downstream evaluations in each cell.")
    probe: bool = Field(True, description="Pair-task MLP probe (metric probe_accuracy).")
    fewshot: bool = Field(True, description="Few-label segmentation (metric fewshot_dice).")
    linear_probe: bool = Field(True, description="Lesion present/absent logistic probe "
                               "(metric linear_probe_accuracy).")
    max_images: int | None = Field(None, ge=10, description="Cap on SSP images per probe.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Held-out share (by group).")
    probe_pair_feature: Literal["concat", "absdiff"] = Field(
        "concat", description="Pair feature: concatenated embeddings or |difference|.")
    probe_negative: Literal["plain", "rotated"] = Field(
        "plain", description="Negative pair: (image, other image) as in the follow-up, or "
        "(image, other image rotated by θ), which removes a rotation-artefact shortcut.")
    probe_hidden: list[int] = Field(default_factory=lambda: [512, 256, 128, 64, 32],
                                    description="Hidden widths (5 -> a six-layer MLP).")
    probe_lr: float = Field(0.015, gt=0, description="Probe SGD learning rate.")
    probe_momentum: float = Field(0.9, ge=0, lt=1, description="Probe SGD momentum.")
    probe_batch_size: int = Field(64, ge=1, description="Probe mini-batch size.")
    probe_epochs: int = Field(20, ge=1, description="Probe training epochs.")
    fewshot_k: list[int] = Field(default_factory=lambda: [4],
                                 description="Labelled evaluation images per decoder.")
    fewshot_layer: int = Field(2, ge=1, le=4, description="Backbone stage feeding the "
                               "decoder (ResNet layerN / ConvNeXt stage N; ViT: last).")
    fewshot_hidden: int = Field(32, ge=1, description="Decoder 1×1-conv hidden width.")
    fewshot_steps: int = Field(200, ge=1, description="Decoder Adam steps (full batch).")
    fewshot_lr: float = Field(0.01, gt=0, description="Decoder Adam learning rate.")
    linear_c: float = Field(1.0, gt=0, description="Inverse L2 strength of the logistic probe.")
    seed: int = Field(0, description="Seed of splits, negatives and probe initialisation.")
    finetune: bool = Field(True, description="Few-label segmentation with the decoder trained "
                           "together with a copy of the backbone (metric finetune_dice).")
    finetune_lr: float = Field(1e-4, gt=0, description="Backbone Adam learning rate when "
                               "fine-tuning (the decoder keeps fewshot_lr).")
    finetune_steps: int = Field(100, ge=1, description="Fine-tuning Adam steps (full batch).")
    baselines: list[Literal["random-init", "theta-free"]] = Field(
        default_factory=lambda: ["random-init", "theta-free"],
        description="Reference encoders measured per (dataset, seed): random-init (no "
        "pre-training) and theta-free (the same SSP recipe, augmented views, no θ).")
    baseline_augment: Literal["reference", "mocov2"] = Field(
        "mocov2", description="Augmentation recipe of the theta-free baseline's two views.")

    @field_validator("probe_hidden", "fewshot_k")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(x < 1 for x in v):
            raise ValueError(f"must be a non-empty list of positive integers, got {v}")
        return v

    @field_validator("fewshot_k", "baselines")
    @classmethod
    def _distinct(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError(f"must not repeat values, got {v}")
        return v
