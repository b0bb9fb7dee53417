"""Pictures for the HTML report: small base64 PNGs, mask contours as SVG paths, the θ-slider
gallery data and the datasets' contact sheets.

    uri = png_uri(saliency_rgb(sal))            # "data:image/png;base64,..."
    d = contour_path(mask)                      # SVG path in pixel coordinates
    g = gallery_data(run, "mri-lesion")         # {"thetas", "seed", "items": [...]} or None
    sheets = contact_sheets(run, run.root / "figures")   # {dataset: png data URI}

Maps are drawn at their native resolution (the browser scales them up pixelated, so what
you see is what was scored); contours are sub-pixel polylines from scikit-image drawn on
top. Each saliency map is scaled to its own maximum, as in ``figures/gallery_*.png``.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image
from skimage.measure import find_contours

from thetascope.report.run_data import RunData

log = logging.getLogger("thetascope")
_INFERNO = (colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
_BINARY_ON = np.array([255, 196, 0], np.uint8)  # amber: pixels the binarisation kept
_BINARY_OFF = np.array([24, 24, 32], np.uint8)


def png_uri(arr: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as a PNG data URI."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def file_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def saliency_rgb(sal: np.ndarray) -> np.ndarray:
    s = np.nan_to_num(np.asarray(sal, np.float32)).clip(min=0)
    top = float(s.max())
    idx = (s / top * 255).round().astype(np.uint8) if top > 0 else np.zeros(s.shape, np.uint8)
    return _INFERNO[idx]


def binary_rgb(b: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(b, bool)[..., None], _BINARY_ON, _BINARY_OFF).astype(np.uint8)


def image_rgb(img: np.ndarray) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> uint8; colour only when the channels differ."""
    img = np.asarray(img, np.float32)
    colour = img.shape[0] == 3 and not (np.array_equal(img[0], img[1])
                                        and np.array_equal(img[0], img[2]))
    arr = np.moveaxis(img, 0, -1) if colour else img[0]
    return (arr.clip(0, 1) * 255).round().astype(np.uint8)


def contour_path(mask: np.ndarray | None) -> str:
    """The 0.5 iso-contour of a mask as an SVG path (x = column, y = row, pixel centres)."""
    if mask is None or not np.asarray(mask).any():
        return ""
    padded = np.pad(np.asarray(mask, float), 1)
    parts = []
    for c in find_contours(padded, 0.5):
        pts = c - 1.0
        parts.append("M" + " L".join(f"{x:.2f},{y:.2f}" for y, x in pts) + " Z")
    return " ".join(parts)


def _cells_by_theta(run: RunData, name: str) -> tuple[int | None, dict[float, dict]]:
    cells = [c for c in run.cells if c.get("dataset") == name]
    if not cells:
        return None, {}
    seed = min(int(c["seed"]) for c in cells)
    return seed, {float(c["theta"]): c for c in cells if int(c["seed"]) == seed}


def _load_maps(cell_dir: str) -> dict[str, np.ndarray] | None:
    path = Path(cell_dir) / "maps.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def gallery_data(run: RunData, name: str, metric: str = "dice") -> dict | None:
    """For the first seed: every gallery image's picture, mask contour and, per θ, the
    saliency map, the binarised map and its ``metric`` value."""
    seed, by_theta = _cells_by_theta(run, name)
    thetas = sorted(by_theta)
    maps = {t: _load_maps(by_theta[t]["_dir"]) for t in thetas}
    thetas = [t for t in thetas if maps[t] is not None and len(maps[t]["ids"])]
    if not thetas:
        return None
    ids = [str(i) for i in maps[thetas[0]]["ids"]]
    ds = run.datasets.get(name)
    samples = {s.id: s for s in ds.eval} if ds is not None else {}
    r = run.results
    scores = r[(r.dataset == name) & (r.seed == seed) & (r.metric == metric)] \
        if not r.empty else r
    score = {(float(t), str(i)): float(v) if np.isfinite(v) else None for t, i, v in
             zip(scores.get("theta", []), scores.get("image_id", []), scores.get("value", []),
                 strict=True)}
    h, w = maps[thetas[0]]["saliency"].shape[-2:]
    items = []
    for sid in ids:
        item: dict = {"id": sid, "image": None, "mask": "", "sal": [], "bin": [], "score": []}
        if sid in samples:
            item["image"] = png_uri(image_rgb(samples[sid].image))
            item["mask"] = contour_path(samples[sid].mask)
        for t in thetas:
            m = maps[t]
            where = [str(i) for i in m["ids"]]
            if sid in where:
                j = where.index(sid)
                item["sal"].append(png_uri(saliency_rgb(m["saliency"][j])))
                item["bin"].append(png_uri(binary_rgb(m["binary"][j])))
            else:
                item["sal"].append("")
                item["bin"].append("")
            item["score"].append(score.get((t, sid)))
        items.append(item)
    return {"thetas": thetas, "seed": seed, "items": items, "width": int(w), "height": int(h),
            "metric": metric}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def contact_sheets(run: RunData, fig_dir: Path, n: int = 8) -> dict[str, str]:
    """``figures/contact_<dataset>.png`` and ``.svg`` (a few samples with mask contours,
    masked ones first) for every reloaded dataset; returns the PNGs as data URIs."""
    from thetascope.report.contact_sheet import write_contact_sheet

    out: dict[str, str] = {}
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, ds in run.datasets.items():
        ids = {s.id for s in ds.eval}
        samples = list(ds.eval) + [s for s in ds.ssp if s.id not in ids]
        if not samples:
            continue
        info = run.info.get(name)
        title = f"{name} ({ds.kind}, {'SYNTHETIC' if ds.synthetic else 'real'}): " \
                f"{len(ds.ssp)} SSP, {len(ds.eval)} evaluation images" if info else name
        try:
            png = write_contact_sheet(samples, fig_dir / f"contact_{_safe(name)}.png", title, n)
            write_contact_sheet(samples, fig_dir / f"contact_{_safe(name)}.svg", title, n)
        except ValueError as exc:
            log.warning("no contact sheet for %s: %s", name, exc)
            continue
        out[name] = file_uri(png)
    return out
