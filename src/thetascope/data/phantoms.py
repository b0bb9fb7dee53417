"""Procedural phantoms (SYNTHETIC) for modalities that no package registry ships.

No chest X-ray with lung masks and no endoscopy image with polyp masks can be had offline,
so the built-in data includes two labelled-as-synthetic generators. Each image depends only
on (seed, index), so any count is a prefix of a larger one::

    image, mask = phantom_cxr(size=128, rng=np.random.default_rng([0, 7]))
    images, masks = generate("phantom-polyp", count=16, size=128, seed=0)

They are built so the foreground is *not* simply the brightest blob: lungs are darker than
the mediastinum, ribs cross them, and polyps share the mucosa's brightness, differing in
shape and shading.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.linspace(-1.0, 1.0, size, dtype=np.float64)
    return np.meshgrid(c, c, indexing="ij")  # (y, x), both in [-1, 1]


def _texture(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    t = gaussian_filter(rng.standard_normal((size, size)), sigma * size / 128)
    return t / (t.std() + 1e-8)


def _ellipse(y, x, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    ca, sa = np.cos(angle), np.sin(angle)
    yy, xx = y - cy, x - cx
    u, v = xx * ca + yy * sa, -xx * sa + yy * ca
    return (u / rx) ** 2 + (v / ry) ** 2


def phantom_cxr(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A frontal chest radiograph-like image; mask = the two lung fields."""
    y, x = _grid(size)
    j = lambda s: rng.uniform(-s, s)  # noqa: E731 - small jitter helper
    # patient variation: position, tilt, build, lung size, exposure
    tilt, sy, sx = j(0.12), j(0.08), j(0.08)
    y, x = (y - sy) * np.cos(tilt) + (x - sx) * np.sin(tilt), -(y - sy) * np.sin(tilt) + (
        x - sx) * np.cos(tilt)
    build = rng.uniform(0.85, 1.05)
    tissue = rng.uniform(0.45, 0.65)
    body = _ellipse(y, x, 0.05 + j(0.04), j(0.03), 0.95 * build, (0.82 + j(0.08)) * build) <= 1
    img = np.where(body, tissue, 0.05)
    lungs = np.zeros_like(body)
    for side in (-1, 1):
        cx = side * (0.36 + j(0.06)) * build
        lung = _ellipse(y, x, -0.02 + j(0.08), cx, (0.6 + j(0.1)) * build,
                        (0.22 + j(0.05)) * build, side * j(0.2))
        # flatten the lung base (diaphragm dome) and carve the heart notch on the left
        lung_mask = (lung <= 1) & (y < 0.5 + 0.15 * np.cos(2.5 * (x - cx)) + j(0.04))
        lungs |= lung_mask
    heart = _ellipse(y, x, 0.3 + j(0.05), 0.1 + j(0.05), 0.3, 0.25 + j(0.04), 0.4) <= 1
    lungs &= ~heart
    img = np.where(lungs, tissue - rng.uniform(0.25, 0.4), img)
    img = np.where(heart, 0.68, img)
    spine = (np.abs(x - j(0.02)) < 0.07) & body
    img = np.where(spine, 0.8, img)
    # ribs: bright arcs crossing both lungs, so lungs are striped rather than flat
    spacing, curve = rng.uniform(0.13, 0.2), rng.uniform(0.15, 0.4)
    for k in range(int(rng.integers(5, 9))):
        y0 = -0.65 + spacing * k + j(0.02)
        arc = y0 + curve * x**2
        rib = (np.abs(y - arc) < 0.025) & body & (np.abs(x) > 0.08)
        img = np.where(rib, img + 0.22, img)
    vessels = _texture(rng, size, 1.5)
    img = np.where(lungs, img + 0.05 * vessels * np.exp(-np.abs(x) * 2), img)
    for _ in range(int(rng.integers(0, 4))):  # nodules and opacities inside the lungs
        oy, ox, rad = j(0.5), j(0.6), rng.uniform(0.03, 0.12)
        blob = np.exp(-((y - oy) ** 2 + (x - ox) ** 2) / (2 * rad**2))
        img = img + rng.uniform(0.1, 0.3) * blob * lungs
    img = gaussian_filter(img, 0.8 * size / 128) + 0.02 * rng.standard_normal((size, size))
    return np.clip(img, 0, 1).astype(np.float32), lungs


def phantom_polyp(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An endoscopy-like lumen view (grayscale); mask = one polyp."""
    y, x = _grid(size)
    cy, cx = rng.uniform(-0.25, 0.25, 2)  # lumen centre (dark, far away)
    r = np.hypot(y - cy, x - cx)
    img = 0.15 + 0.55 * (1 - np.exp(-(r**2) / 0.35))  # darker towards the lumen
    folds = 0.07 * np.sin(r * rng.uniform(9, 14) + rng.uniform(0, 2 * np.pi))
    img = img + folds + 0.05 * _texture(rng, size, 3.0)
    # the polyp: a mucosa-coloured blob, lit from the camera side, with a shadowed rim
    ang = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(0.3, 0.6)
    py, px = cy + dist * np.sin(ang), cx + dist * np.cos(ang)
    py, px = np.clip(py, -0.6, 0.6), np.clip(px, -0.6, 0.6)
    rad = rng.uniform(0.12, 0.25)
    e = _ellipse(y, x, py, px, rad * rng.uniform(0.8, 1.2), rad, rng.uniform(0, np.pi))
    e = e * (1 + 0.12 * _texture(rng, size, 4.0))  # irregular outline
    polyp = e <= 1
    base = img[int((py + 1) / 2 * (size - 1)), int((px + 1) / 2 * (size - 1))]
    dome = np.sqrt(np.clip(1 - e, 0, 1))
    shade = 0.12 * ((y - py) * np.sin(ang) + (x - px) * np.cos(ang)) / rad
    img = np.where(polyp, base + 0.08 * dome - shade + 0.04 * _texture(rng, size, 1.0), img)
    img = np.where((e > 1) & (e < 1.35), img - 0.08, img)  # shadow ring
    # specular highlights everywhere (not only on the polyp): a classic false positive
    for _ in range(rng.integers(3, 7)):
        hy, hx = rng.uniform(-0.8, 0.8, 2)
        img = img + 0.5 * np.exp(-((y - hy) ** 2 + (x - hx) ** 2) / 0.0006)
    vignette = np.clip(1.15 - 0.5 * (y**2 + x**2), 0.3, 1)
    img = gaussian_filter(img * vignette, 0.6 * size / 128)
    img = img + 0.015 * rng.standard_normal((size, size))
    return np.clip(img, 0, 1).astype(np.float32), polyp


GENERATORS = {"phantom-cxr": phantom_cxr, "phantom-polyp": phantom_polyp}


def generate(kind: str, count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (float32, [0, 1]) and masks (bool), deterministic by ``seed``."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown phantom {kind!r}; choose one of {sorted(GENERATORS)}")
    pairs = [GENERATORS[kind](size, np.random.default_rng([seed, i])) for i in range(count)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
