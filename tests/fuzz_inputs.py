"""Hypothesis strategies and writers for the property-based hostile-input tests.

    @given(fuzz_folder(max_side=300))
    def test(spec): root = write_folder(spec, tmp / "data")   # images/ + masks/ on disk
    @given(override_lists())        # ["sweep.thetas=0:360:90", "ssl.steps=-1", ...]
    @given(fuzz_manifest())         # rows of a CSV / JSON manifest, some of them broken

A generated folder mixes ordinary pairs with every kind of odd input: sizes from 1 px up,
PIL modes (L, RGB, RGBA, LA, P, I;16, I, F, 1), PNG/JPEG/TIFF/BMP, masks that are binary,
0/1, label maps, grey noise, full, empty, a corner outside the inscribed circle, of another
size; flat images; names with unicode, spaces, markup, 200+ bytes; two files with one stem;
links inside, outside, dangling and looping; empty and truncated files. ``FileSpec.kind``
records what each pair is, so a test knows which images must never be scored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

MODES = ("L", "RGB", "RGBA", "LA", "P", "I;16", "I", "F", "1")
FORMATS = ("png", "jpg", "tif", "bmp")
MASKS = ("blob", "blob01", "labels", "noise", "full", "empty", "corner", "tiny", "resized",
         "other_aspect", "missing")
SPECIALS = ("zero", "torn", "link_inside", "link_outside", "dangling", "loop", "dir",
            "twin", "undecodable")  # twin: another file with the stem; undecodable: a pair
# whose file names are not UTF-8 (a byte 0xff), as a Latin-1 download leaves them
# pairs whose image must never reach a score (degenerate by construction)
DEGENERATE = {"full", "corner"}


@dataclass(frozen=True)
class FileSpec:
    stem: str
    height: int
    width: int
    mode: str
    fmt: str
    content: str  # noise | gradient | flat
    mask: str  # one of MASKS
    special: str | None = None

    @property
    def never_scored(self) -> bool:
        """Flat images and degenerate masks must never be scored."""
        return self.content == "flat" or self.mask in DEGENERATE


_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
_PLAIN = st.text("abcdefghij0123456789", min_size=1, max_size=8)
_ODD = st.sampled_from(["with space", "ünïcødé 画像", "[red]x[bold]", "<b>&amp;<i>", "-dash",
                        "%s{x}", "tab\there", "new\nline", "emoji 🧠", "a" * 200, "é" * 110,
                        ".hidden", "UPPER", "a.b.c"])
names = st.one_of(_PLAIN, _ODD, st.text(_NAME_CHARS, min_size=1, max_size=30))


def _fits(stem: str) -> str:
    """A stem short enough (≤ 240 UTF-8 bytes) and neither '.' nor '..'."""
    raw = stem.encode("utf-8")[:240].decode("utf-8", "ignore") or "x"
    return "x" + raw if raw in (".", "..") else raw


@st.composite
def file_specs(draw, max_side: int = 300) -> FileSpec:
    side = st.one_of(st.integers(1, 4), st.integers(5, 64), st.integers(65, max_side))
    return FileSpec(
        stem=_fits(draw(names)), height=draw(side), width=draw(side),
        mode=draw(st.sampled_from(MODES)), fmt=draw(st.sampled_from(FORMATS)),
        content=draw(st.sampled_from(("noise", "noise", "gradient", "flat"))),
        mask=draw(st.sampled_from(MASKS)),
        special=draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(SPECIALS))),
    )


@st.composite
def fuzz_folder(draw, max_side: int = 300, max_files: int = 8) -> dict:
    """{'root_name': str, 'files': [FileSpec]} with distinct stems (twins are added by
    the writer)."""
    files = draw(st.lists(file_specs(max_side), min_size=1, max_size=max_files,
                          unique_by=lambda f: f.stem.casefold()))
    root = _fits(draw(st.one_of(_PLAIN, _ODD)))
    return {"root_name": root if not root.startswith(".") else "d" + root, "files": files}


# --------------------------------------------------------------------------- writing
def _pixels(spec: FileSpec, rng: np.random.Generator) -> np.ndarray:
    h, w = spec.height, spec.width
    if spec.content == "flat":
        return np.full((h, w), 90.0)
    if spec.content == "gradient":
        return np.linspace(0, 255, w)[None, :].repeat(h, 0)
    return rng.uniform(0, 255, (h, w))


def _to_image(arr: np.ndarray, mode: str) -> Image.Image:
    a8 = np.clip(arr, 0, 255).astype(np.uint8)
    if mode in ("RGB", "RGBA", "LA"):
        chans = {"RGB": 3, "RGBA": 4, "LA": 2}[mode]
        return Image.fromarray(np.dstack([a8] * chans), mode)
    if mode == "P":
        return Image.fromarray(a8).convert("P")
    if mode == "I;16":
        return Image.fromarray((arr * 257).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((arr * 1000).astype(np.int32))
    if mode == "F":
        return Image.fromarray(arr.astype(np.float32))
    if mode == "1":
        return Image.fromarray(a8 > 127)
    return Image.fromarray(a8)


def save_any(arr: np.ndarray, mode: str, path: Path) -> Path:
    """Save ``arr`` in ``mode`` to ``path``; a mode the format cannot hold falls back to 8-bit
    gray in the same format (so the writer itself never fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {"jpg": "JPEG", "tif": "TIFF", "bmp": "BMP", "png": "PNG"}[path.suffix[1:]]
    try:
        _to_image(arr, mode).save(path, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, format=fmt)
    return path


def _mask(spec: FileSpec, rng: np.random.Generator) -> np.ndarray | None:
    h, w = spec.height, spec.width
    yy, xx = np.mgrid[:h, :w]
    blob = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) <= (0.25 * min(h, w)) ** 2
    kind = spec.mask
    if kind == "missing":
        return None
    if kind == "blob01":
        return blob.astype(np.float64)
    if kind == "labels":
        out = blob * 1.0
        out[: h // 2][blob[: h // 2]] = 2
        out[:, w // 2:][blob[:, w // 2:]] = 4
        return out
    if kind == "noise":
        return rng.uniform(0, 255, (h, w))
    if kind == "full":
        return np.full((h, w), 255.0)
    if kind == "empty":
        return np.zeros((h, w))
    if kind == "corner":
        out = np.zeros((h, w))
        out[: max(1, h // 8), : max(1, w // 8)] = 255
        return out
    if kind == "tiny":
        out = np.zeros((h, w))
        out[h // 2, w // 2] = 255
        return out
    if kind == "resized":
        return np.kron(blob * 255.0, np.ones((2, 2)))
    if kind == "other_aspect":
        return np.full((h, w + max(3, w)), 255.0)
    return blob * 255.0


def write_folder(spec: dict, base: Path, outside: Path | None = None) -> Path:
    """Write a ``fuzz_folder`` draw under ``base``; returns the dataset root."""
    root = base / spec["root_name"]
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    outside = outside or base / "outside"
    for i, f in enumerate(spec["files"]):
        rng = np.random.default_rng(i)
        img = images / f"{f.stem}.{f.fmt}"
        arr = _pixels(f, rng)
        if f.special in ("link_outside", "link_inside", "dangling", "loop"):
            target = {"link_outside": outside / f"o{i}.png", "link_inside": root / f"in{i}.png",
                      "dangling": root / "nowhere.png", "loop": img}[f.special]
            if f.special in ("link_outside", "link_inside"):
                save_any(arr, "L", target)
            os.symlink(target, img)
        elif f.special == "dir":
            img.mkdir()
        else:
            save_any(arr, f.mode, img)
            if f.special == "zero":
                img.write_bytes(b"")
            elif f.special == "torn":
                img.write_bytes(img.read_bytes()[: max(8, img.stat().st_size // 3)])
            elif f.special == "twin":
                twin = "png" if f.fmt != "png" else "bmp"
                save_any(arr, "L", images / f"{f.stem}.{twin}")
            elif f.special == "undecodable":
                raw = os.fsdecode(b"raw\xff" + str(i).encode())
                save_any(arr, "L", images / f"{raw}.png")
                save_any(_mask(f, rng) if f.mask != "missing" else arr, "L",
                         masks / f"{raw}.png")
        m = _mask(f, rng)
        if m is not None:
            save_any(m, "L", masks / f"{f.stem}.png")
    return root


# --------------------------------------------------------------------------- config
_FIELDS = ["sweep.thetas", "sweep.seeds", "sweep.protocol", "sweep.theta_batch",
           "ssl.steps", "ssl.batch_size", "ssl.queue_size", "ssl.lr", "ssl.encoder",
           "ssl.split_bn", "ssl.temperature", "ssl.momentum", "data.image_size",
           "data.max_eval_images", "data.crop", "data.min_contrast", "data.max_mask_coverage",
           "data.max_degenerate_share", "data.datasets", "data.datasets.0.root",
           "data.datasets.0.name", "data.datasets.0.kind", "data.datasets.0.max_eval",
           "saliency.samples", "saliency.noise_level", "saliency.blur_kernel",
           "metrics.binarize", "metrics.names", "geometry.circle_mask", "geometry.fill",
           "orient.thetas", "orient.svm_thetas", "orient.bin_width", "analysis.alpha",
           "runtime.threads", "runtime.workers", "name", "sweep", "data", "ssl.stepz",
           "nonsense", "sweep.thetas.0", "data.datasets.7.root", "a..b", ""]
_SCALARS = st.one_of(
    st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.none(), st.text(max_size=12),
    st.sampled_from(["0:360:90", "0:270:90", "-90:90:45", "0:1e9:1", "0:180:0", "a:b:c",
                     "0:359:1", "otsu", "fixed:0.3", "fixed:2", "topk", "resnet18", "none",
                     "square", "inscribed", "probe", "fixed-theta", "mri-lesion", "auto",
                     "phantom-cxr", ".nan", ".inf", "~", "[", "{a: 1, a: 2}", "*x", "!!python/x"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(["kind", "root", "name",
                                                                    "count", "size", "x"]),
                                                 inner, max_size=3)), max_leaves=8)


def _yaml_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, allow_nan=True)


@st.composite
def override_lists(draw, max_size: int = 4) -> list[str]:
    """``--set`` strings: real and wrong keys, values of every type and shape."""
    out = []
    for _ in range(draw(st.integers(1, max_size))):
        key = draw(st.one_of(st.sampled_from(_FIELDS), st.text(max_size=10)))
        value = _yaml_text(draw(_VALUES))
        out.append(draw(st.sampled_from([f"{key}={value}", f"{key}{value}"]))
                   if draw(st.integers(0, 9)) == 0 else f"{key}={value}")
    return out


# --------------------------------------------------------------------------- manifests
@st.composite
def fuzz_manifest(draw) -> dict:
    """A manifest's format, its header and rows; paths refer to files named 'a<i>' that the
    test writes (some rows point to files that do not exist)."""
    n = draw(st.integers(0, 6))
    cols = draw(st.sampled_from([["image", "mask"], ["id", "image", "mask"], ["image"],
                                 ["image", "seg"], ["id", "image", "mask", "extra"], []]))
    cell = st.one_of(st.sampled_from(["a0", "a1", "a2", "missing", "", "nan", "../a0",
                                      "~nouser0/a0", "a0\x00", "é ü"]), st.text(max_size=8))
    rows = [[draw(cell) for _ in cols] for _ in range(n)]
    shape = draw(st.sampled_from(["csv", "json_objects", "json_pairs", "json_garbage"]))
    return {"cols": cols, "rows": rows, "shape": shape}


@st.composite
def runnable_folder(draw, max_side: int = 96, max_odd: int = 4) -> dict:
    """A ``fuzz_folder`` that a run can train on: 4 ordinary pairs (random modes and
    formats) plus up to ``max_odd`` generated files of any kind."""
    good = [FileSpec(f"good{i}", 40, 40, draw(st.sampled_from(("L", "RGB", "I;16", "P"))),
                     draw(st.sampled_from(("png", "jpg", "tif"))), "noise", "blob")
            for i in range(4)]
    odd = draw(st.lists(file_specs(max_side), max_size=max_odd,
                        unique_by=lambda f: f.stem.casefold()))
    taken = {g.stem.casefold() for g in good}
    return {"root_name": _fits(draw(st.one_of(_PLAIN, _ODD))).lstrip(".") or "d",
            "files": good + [f for f in odd if f.stem.casefold() not in taken]}
