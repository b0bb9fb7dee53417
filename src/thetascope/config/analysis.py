"""Config models of the orientation analysis and the statistics sections."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
)

from thetascope.config.base import _Strict
from thetascope.config.sections import MetricName, _angle_grid, canonical_angles


# --------------------------------------------------------------------------- orientation
class OrientConfig(_Strict):
    """Orientation analysis (independent of training): histograms, S(θ), HoG + SVM A(θ)."""

    enabled: bool = Field(True, description="Run the orientation analysis in `run`.")
    bin_width: float = Field(5.0, gt=0, le=90, description="Histogram bin (°), divides 360.")
    gradient_sigma: float = Field(1.0, gt=0, description="σ (px) of Gaussian derivatives.")
    similarity: Literal["intersection", "cosine", "bhattacharyya"] = "intersection"
    thetas: list[float] = Field(default_factory=lambda: [float(t) for t in range(360)],
                                description="θ grid of S(θ) (full circle: exact shift null).")
    dataset_curve: Literal["mean_image", "pooled"] = Field(
        "mean_image", description="Dataset S(θ): mean of image curves, or of the pooled "
        "histogram.")
    max_images: int | None = Field(None, ge=4, description="Cap on images per dataset.")
    svm: bool = Field(True, description="Run the HoG + SVM rotation-detection test.")
    hog: Literal["paper", "followup"] = Field("paper", description="HoG preset.")
    hog_orientations: int | None = Field(None, ge=2, description="Override the preset.")
    hog_pixels_per_cell: int | None = Field(None, ge=2, description="Override the preset.")
    hog_cells_per_block: int | None = Field(None, ge=1, description="Override the preset.")
    hog_block_norm: Literal["L1", "L1-sqrt", "L2", "L2-Hys"] | None = None
    svm_n_train: int = Field(75, ge=2, description="Training images (two views each).")
    svm_n_test: int = Field(75, ge=2, description="Held-out images scored at every θ.")
    svm_thetas: list[float] = Field(default_factory=lambda: [float(t) for t in range(360)],
                                    description="θ grid of A(θ) (the sweep θ are added).")
    svm_c: list[float] = Field(default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1000.0])
    svm_gamma: list[float] = Field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    svm_cv_folds: int = Field(5, ge=2, description="GroupKFold folds (an image = a group).")
    seed: int = Field(0, description="Seed of the training rotation angles.")

    @field_validator("thetas", "svm_thetas", mode="before")
    @classmethod
    def _grid(cls, v: Any) -> Any:
        return _angle_grid(v)

    @field_validator("bin_width")
    @classmethod
    def _divides(cls, v: float) -> float:
        k = 360.0 / v
        if abs(k - round(k)) > 1e-9:
            raise ValueError(f"bin_width must divide 360 (e.g. 5, 10), got {v}")
        return v

    @field_validator("thetas", "svm_thetas", "svm_c", "svm_gamma")
    @classmethod
    def _non_empty(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("must not be empty")
        if bad := [x for x in v if not math.isfinite(x)]:
            raise ValueError(f"must be finite numbers, got {bad}")
        return v

    @field_validator("thetas", "svm_thetas")
    @classmethod
    def _canonical(cls, v: list[float], info: ValidationInfo) -> list[float]:
        """Modulo 360, duplicates refused (after the finiteness check above)."""
        return canonical_angles(v, str(info.field_name))


class AnalysisConfig(_Strict):
    """Statistics of the θ curves: θ effect, periodicity, stability, orientation predictors."""

    enabled: bool = Field(True, description="Run the statistics and write verdict.parquet.")
    metric: MetricName = Field("dice", description="The score the tests are run on.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Level of every decision.")
    theta_test: Literal["min_f", "permutation", "friedman"] = Field(
        "min_f", description="θ-effect test (and periodicity p-value); see METHODS.")
    permutation_blocks: Literal["seed", "image_seed"] = Field(
        "seed", description="θ labels permuted within each seed's curve, or each (image, "
        "seed) curve.")
    permutations: int = Field(2000, ge=99, description="Permutations per test.")
    bootstrap: int = Field(1000, ge=100, description="Crossed-bootstrap curve replicates.")
    peak_prominence: float = Field(1.0, ge=0, description="× median CI width.")
    predictors: list[Literal["self_overlap", "hog_svm"]] = Field(
        default_factory=lambda: ["self_overlap", "hog_svm"])
    image_level: bool = Field(True, description="Also test each image's own S(θ).")
    exclude_zero: bool = Field(True, description="Leave θ = 0 (identical views, a different "
                               "task) out of the θ-effect, periodicity and predictor tests; "
                               "it is tested on its own (identical_views).")
    test_on: Literal["difference", "raw"] = Field(
        "difference", description="Test the paired difference trained − untrained (needs "
        "the untrained reference, sweep.references) or the raw trained curve.")
    sphericity: Literal["greenhouse_geisser", "lower_bound", "none"] = Field(
        "greenhouse_geisser", description="Correction of min F′'s degrees of freedom for "
        "noise correlated across θ.")
    min_f_df: Literal["min", "satterthwaite"] = Field(
        "min", description="min F′'s denominator degrees of freedom: the smaller of its two "
        "F's (calibrated) or Clark's Satterthwaite formula (liberal with 2 seeds).")
    generic_terms: list[str] = Field(
        default_factory=lambda: ["abs_sin", "h1", "h2", "h4"],
        description="Rotation effects any dataset can have, removed from score and predictor "
        "curves before the curve-level predictor test: abs_sin (|sin θ|) and h<k> (cos kθ "
        "and sin kθ); [] keeps them.")

    @field_validator("generic_terms")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        import re

        if bad := [t for t in v if t != "abs_sin" and not re.fullmatch(r"h[1-9][0-9]*", t)]:
            raise ValueError(f"generic terms must be abs_sin or h<k> (e.g. h2, h4), got {bad}")
        return list(dict.fromkeys(v))

    max_loss_ratio: float = Field(0.5, gt=0, description="Training moved the model when the "
                                  "median final loss is at most this share of chance.")
    loss_window: float = Field(0.1, gt=0, le=1, description="Share of the last steps whose "
                               "mean is a cell's final loss.")
    min_groups: int = Field(3, ge=1, description="Fewer independent source groups (volumes, "
                            "cases) make a 'no' inconclusive.")
    min_seeds: int = Field(3, ge=1, description="Fewer seeds make a 'no' inconclusive (2 "
                           "seeds leave the seed × θ noise one degree of freedom).")
    min_seed_agreement: float = Field(0.0, ge=-1, le=1, description="A split-half r of the "
                                      "seed curves below this makes a 'no' inconclusive.")
    shift_step: float = Field(1.0, gt=0, le=90, description="Circular-shift null step (°).")
    surrogates: int = Field(1000, ge=99, description="Phase-randomised surrogates.")
    correction: Literal["holm", "bonferroni", "bh", "none"] = "holm"
    seed: int = 0
    signatures: bool = Field(True, description="Curve signatures: is the dataset identifiable "
                             "from its θ curve? (runs with ≥ 2 datasets; `compare`).")
    signature_features: Literal["raw", "zscore", "fourier", "zscore+fourier"] = Field(
        "zscore", description="Curve → features: as is, z-scored, DFT magnitudes of the "
        "z-scored curve (shift-invariant), or both.")
    signature_classifier: Literal["nearest_centroid", "logistic"] = Field(
        "nearest_centroid", description="Classifier of the curve signatures.")
    signature_split: Literal["auto", "model", "run", "seed"] = Field(
        "auto", description="Held-out groups: leave-one-(encoder, method)/run/seed-out; auto: "
        "the first with ≥ 2 groups.")
    signature_permutations: int = Field(999, ge=99, description="Label shuffles within the "
                                        "held-out groups for the p-value.")
