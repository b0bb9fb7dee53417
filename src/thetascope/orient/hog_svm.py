"""The papers' HoG + SVM test: can a classifier on HoG features tell a rotated copy from
the original, and at which θ? Accuracy A(θ) on held-out images, per θ.

    params = hog_preset("paper")          # 9 orientations, 16×16 px cells, 2×2 blocks, L2-Hys
    res = hog_svm_test(gray_images, thetas=np.arange(0, 360, 10.0), params=params,
                       n_train=75, n_test=75)
    res.accuracy                          # (T,) balanced: originals (0) vs rot_θ copies (1)

Protocol (the first paper's reference code, PAPER.md): skimage ``hog`` on grayscale; the
first ``n_train`` images each give an original (label 0) and a copy rotated by a random
integer angle in [1, 359) (label 1); an RBF SVC is tuned by ``GridSearchCV`` over C and γ
with ``GroupKFold`` (an image's two views are one group, so they never straddle folds);
the next ``n_test`` images are scored at every θ: their originals (label 0) and their
θ-rotations (label 1). At θ = 0 the two halves are identical, so A(0) = 0.5 by design.
Rotation uses ``geometry.rotate``; with ``circle=True`` both views are cut to the
inscribed circle so rotated-in corners cannot give θ away (the paper cropped instead).
The follow-up's variant (64×64 px cells) is the preset ``followup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from skimage.feature import hog
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.svm import SVC

from thetascope.geometry import apply_circle, rotate
from thetascope.orient.hog_batch import hog_batch

TRAIN_ANGLES = (1, 359)  # random integer angle in [1, 359), as the reference code
ANGLE_CHUNK_PIXELS = 2**24  # views scored per predict call: ≈ 16 M pixels (≈ 64 MB)


@dataclass(frozen=True)
class HogParams:
    orientations: int = 9
    pixels_per_cell: int = 16
    cells_per_block: int = 2
    block_norm: str = "L2-Hys"

    def check(self, height: int, width: int) -> None:
        need = self.pixels_per_cell * self.cells_per_block
        if min(height, width) < need:
            raise ValueError(
                f"HoG needs images of at least {need}px ({self.cells_per_block}×"
                f"{self.pixels_per_cell}px cells per block), got {height}×{width}; raise "
                "data.image_size or choose smaller cells (orient.hog_pixels_per_cell)"
            )


# The follow-up states 64×64 px cells and nothing about blocks: 1×1 blocks (each cell
# normalised on its own) so that a 64-px image still yields a descriptor.
HOG_PRESETS: dict[str, HogParams] = {
    "paper": HogParams(9, 16, 2, "L2-Hys"),
    "followup": HogParams(9, 64, 1, "L2-Hys"),
}


def hog_preset(name: str, **overrides) -> HogParams:
    """A named preset with optional field overrides (None values are ignored)."""
    if name not in HOG_PRESETS:
        raise ValueError(f"unknown HoG preset {name!r}; choose one of {sorted(HOG_PRESETS)}")
    base = HOG_PRESETS[name]
    kw = {k: v for k, v in overrides.items() if v is not None}
    return HogParams(**{**base.__dict__, **kw})


def hog_features(gray: np.ndarray | torch.Tensor, params: HogParams) -> np.ndarray:
    """(N, H, W) grayscale -> (N, F) HoG descriptors (skimage's ``hog``, batched: see
    orient/hog_batch.py)."""
    params.check(*gray.shape[-2:])
    return hog_batch(gray, params.orientations, params.pixels_per_cell,
                     params.cells_per_block, params.block_norm).astype(np.float64)


def hog_glyphs(gray: np.ndarray, params: HogParams) -> np.ndarray:
    """skimage's HoG visualisation of one (H, W) image (the paper's example figure)."""
    params.check(*gray.shape)
    _, vis = hog(gray, orientations=params.orientations,
                 pixels_per_cell=(params.pixels_per_cell,) * 2,
                 cells_per_block=(params.cells_per_block,) * 2,
                 block_norm=params.block_norm, visualize=True)
    return vis


def rotate_gray(gray: np.ndarray, angles, interpolation: str = "bilinear",
                circle: bool = True) -> np.ndarray:
    """Rotate each (H, W) image of ``gray`` by its own angle (or all by one angle)."""
    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[:, None]
    ang = np.broadcast_to(np.asarray(angles, dtype=np.float64), (len(gray),))
    if np.all(ang == ang[0]):
        out = rotate(x, float(ang[0]), interpolation)  # type: ignore[arg-type]
    else:
        out = torch.cat([rotate(x[i:i + 1], float(a), interpolation)  # type: ignore[arg-type]
                         for i, a in enumerate(ang)])
    if circle:
        out = apply_circle(out)
    return out[:, 0].numpy()


def training_set(gray: np.ndarray, rng: np.random.Generator, interpolation: str = "bilinear",
                 circle: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(views, labels, groups, angles): each image once as is (0) and once rotated (1)."""
    angles = rng.integers(*TRAIN_ANGLES, size=len(gray))
    orig = rotate_gray(gray, 0.0, interpolation, circle)
    rot = rotate_gray(gray, angles, interpolation, circle)
    n = len(gray)
    views = np.concatenate([orig, rot])
    labels = np.repeat([0, 1], n)
    groups = np.tile(np.arange(n), 2)
    return views, labels, groups, angles


@dataclass
class SvmResult:
    thetas: np.ndarray
    accuracy: np.ndarray  # balanced accuracy on originals + θ-rotations
    p_rotated: np.ndarray  # share of θ-rotations classified "rotated"
    specificity: float  # share of held-out originals classified "original"
    cv_accuracy: float
    best_params: dict = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0


def split_sizes(n: int, n_train: int, n_test: int) -> tuple[int, int]:
    """Train on the first images, test on the next; shrink both in proportion if short."""
    if n < 4:
        raise ValueError(f"the HoG SVM test needs at least 4 images, got {n}")
    if n_train + n_test <= n:
        return n_train, n_test
    tr = max(2, int(round(n * n_train / (n_train + n_test))))
    return min(tr, n - 2), n - min(tr, n - 2)


def score_angles(clf, test: np.ndarray, thetas: np.ndarray, params: HogParams,
                 interpolation: str = "bilinear", circle: bool = True) -> np.ndarray:
    """Share of ``test`` images' θ-rotations that ``clf`` calls rotated, for every θ.

    Views of many angles are described and classified together (one HoG batch and one
    ``predict`` per chunk of angles), with memory bounded by ``ANGLE_CHUNK_PIXELS``.
    """
    p_rot = np.empty(len(thetas))
    x = torch.from_numpy(np.ascontiguousarray(test, dtype=np.float32))[:, None]
    per_chunk = max(1, ANGLE_CHUNK_PIXELS // max(1, test.size))
    for start in range(0, len(thetas), per_chunk):
        angles = thetas[start:start + per_chunk]
        views = torch.cat([rotate(x, float(t), interpolation) for t in angles])  # type: ignore[arg-type]
        if circle:
            views = apply_circle(views)
        pred = clf.predict(hog_features(views[:, 0], params)).reshape(len(angles), len(test))
        p_rot[start:start + len(angles)] = (pred == 1).mean(axis=1)
    return p_rot


def hog_svm_test(
    gray: np.ndarray,
    thetas,
    params: HogParams | None = None,
    n_train: int = 75,
    n_test: int = 75,
    c_grid=(0.1, 1, 10, 100, 1000),
    gamma_grid=(1e-4, 1e-3, 1e-2, 1e-1, 1),
    cv_folds: int = 5,
    seed: int = 0,
    interpolation: str = "bilinear",
    circle: bool = True,
) -> SvmResult:
    """Train on originals vs random-angle copies, then A(θ) on held-out images."""
    params = params or HOG_PRESETS["paper"]
    gray = np.asarray(gray, dtype=np.float32)
    n_tr, n_te = split_sizes(len(gray), n_train, n_test)
    rng = np.random.default_rng(seed)
    views, y, groups, _ = training_set(gray[:n_tr], rng, interpolation, circle)
    folds = max(2, min(cv_folds, n_tr))
    search = GridSearchCV(SVC(kernel="rbf"), {"C": list(c_grid), "gamma": list(gamma_grid)},
                          cv=GroupKFold(n_splits=folds), n_jobs=1)
    search.fit(hog_features(views, params), y, groups=groups)
    test = gray[n_tr:n_tr + n_te]
    orig_pred = search.predict(hog_features(rotate_gray(test, 0.0, interpolation, circle),
                                            params))
    spec = float(np.mean(orig_pred == 0))
    th = np.asarray(thetas, dtype=np.float64)
    p_rot = score_angles(search, test, th, params, interpolation, circle)
    return SvmResult(th, (spec + p_rot) / 2, p_rot, spec, float(search.best_score_),
                     dict(search.best_params_), n_tr, len(test))
