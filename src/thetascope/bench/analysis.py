"""Orientation and data-path benchmarks.

- S(θ) for 360 angles from one histogram vs rotating every image and recomputing;
- the HoG + SVM test's A(θ) over many angles vs a straightforward per-image loop;
- the data path (batches of views from the in-memory cache) vs what training consumes.

    rows = [bench_self_overlap(), bench_hog_svm(), bench_data_path(train_rate=150.0)]
"""

from __future__ import annotations

import numpy as np
import torch

from thetascope.bench.common import Row, best_time
from thetascope.data.phantoms import generate


def _gray(n: int, size: int, kind: str = "phantom-cxr") -> np.ndarray:
    return generate(kind, n, size, seed=0)[0]


def bench_self_overlap(n_images: int = 16, size: int = 64, bin_width: float = 5.0) -> Row:
    from thetascope.geometry import rotate
    from thetascope.orient.histograms import orientation_histograms, self_overlap

    gray = _gray(n_images, size)
    thetas = np.arange(0, 360, 1.0)

    def from_histogram():
        return self_overlap(orientation_histograms(gray, bin_width), thetas, bin_width)

    def by_rotation():
        h0 = orientation_histograms(gray, bin_width)
        x = torch.from_numpy(gray)[:, None]
        out = []
        for t in thetas:
            ht = orientation_histograms(rotate(x, float(t))[:, 0].numpy(), bin_width)
            out.append(np.minimum(h0, ht).sum(-1))
        return np.stack(out, -1)

    t_fast = best_time(from_histogram, repeats=3)
    t_slow = best_time(by_rotation, repeats=1, warmup=0)
    fast, slow = from_histogram(), by_rotation()
    on_bins = (thetas % bin_width) == 0
    agree = float(np.abs(fast[:, on_bins] - slow[:, on_bins]).max())
    return Row("orientation self-overlap S(θ), 360 angles", "rotate each image and recompute",
               1 / t_slow, 1 / t_fast, "curves/s", 50.0,
               notes={"max_abs_diff_at_bin_multiples": round(agree, 4),
                      "images": n_images, "size": size})


def bench_hog_svm(n_images: int = 24, size: int = 64, n_thetas: int = 36) -> Row:
    """Scoring held-out images at every θ (the part that grows with the θ grid)."""
    from skimage.feature import hog
    from sklearn.svm import SVC

    from thetascope.geometry import apply_circle, rotate
    from thetascope.orient.hog_svm import hog_features, hog_preset, score_angles, training_set

    gray = _gray(2 * n_images, size)
    thetas = np.linspace(0, 360, n_thetas, endpoint=False)
    params = hog_preset("paper")
    views, y, _, _ = training_set(gray[:n_images], np.random.default_rng(0))
    svc = SVC(kernel="rbf", C=10, gamma=0.1).fit(hog_features(views, params), y)
    test = gray[n_images:2 * n_images]

    def ours() -> list[float]:
        return score_angles(svc, test, thetas, params).tolist()

    def naive() -> list[float]:
        out = []
        for t in thetas:
            feats = []
            for img in test:
                x = torch.from_numpy(img)[None, None]
                r = apply_circle(rotate(x, float(t)))[0, 0].numpy()
                feats.append(hog(r, orientations=params.orientations,
                                 pixels_per_cell=(params.pixels_per_cell,) * 2,
                                 cells_per_block=(params.cells_per_block,) * 2,
                                 block_norm=params.block_norm))
            out.append(float(np.mean(svc.predict(np.stack(feats)) == 1)))
        return out

    t_ours, t_naive = best_time(ours, repeats=2), best_time(naive, repeats=1)
    diff = float(np.abs(np.array(ours()) - np.array(naive())).max())
    return Row(f"HoG+SVM A(θ) scoring, {n_thetas} angles × {n_images} images",
               "per-angle, per-image loop (rotate, hog, predict)", n_thetas / t_naive,
               n_thetas / t_ours, "angles/s", 5.0,
               notes={"max_abs_diff_accuracy": diff})


def bench_data_path(train_rate: float, size: int = 64, batch: int = 16) -> Row:
    from thetascope.config import DataConfig, PhantomSpec
    from thetascope.data.registry import create_dataset
    from thetascope.ssl.pairs import pair_builder

    ds = create_dataset(PhantomSpec(kind="phantom-cxr", count=64, size=128),
                        DataConfig(image_size=size))
    images = torch.from_numpy(ds.ssp_array())
    pair = pair_builder("fixed-theta", 30.0, size=size)
    order = torch.randperm(images.shape[0])

    def batches():
        for i in range(0, images.shape[0] - batch + 1, batch):
            pair(images[order[i:i + batch]])

    t = best_time(batches, repeats=5)
    rate = (images.shape[0] // batch) * batch / t
    return Row("data path (cached arrays -> rotated, masked views)",
               "training consumption (ResNet-18, same size)", train_rate, rate, "images/s", 10.0)
