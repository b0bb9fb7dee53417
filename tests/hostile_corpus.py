"""Writers of hostile and odd input files for the robustness tests (test helpers).

    root = hostile_folder(tmp_path / "data", outside=tmp_path / "outside")
    EXPECTED_SKIPS    # file name -> the reason category it must be skipped with
    bomb_png(path, 40000, 40000)   # a 60-byte PNG whose header claims 1.6 gigapixels
    root = hostile_brats(tmp_path / "brats", outside=tmp_path / "outside")
    evil_checkpoint(path, marker)  # a torch.save file whose unpickling runs `touch marker`
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from data_layouts import brats_volumes, gray_image, mask_image, save_png, write_nifti

SIZE = 40
HTML_NAME = "<img src=x onerror=alert(1)> `tick` | pipe"
# file (under images/ or masks/) -> the reason category it is skipped or flagged with
EXPECTED_SKIPS = {
    "images/zero.png": "empty file",
    "images/torn.png": "unreadable image",
    "images/bomb.png": "image too large",
    "images/big.png": "image too large",
    "images/nan.tiff": "non-finite pixels",
    "masks/labels124.png": "unexpected mask values",
    "masks/narrow.png": "size mismatch",
    "images/escape.png": "outside the data root",
    f"images/{HTML_NAME}.png": "unreadable image",
}
# images that load: name -> what is special about them
GOOD = ["ok0", "ok1", "ok2", "with space", "ünïcødé 画像", "deep16", "rgba", "palette",
        "label255", "label1", "label2", "label4", "resized-mask", "inside-link"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid-looking 8-bit gray PNG header claiming width × height, with one tiny IDAT:
    the file is a few dozen bytes, decoding it would need width × height bytes."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + idat + _chunk(b"IEND", b""))
    return path


def _pair(root: Path, stem: str, seed: int, mask: np.ndarray | None = None) -> None:
    save_png(root / "images" / f"{stem}.png", gray_image(SIZE, SIZE, seed))
    save_png(root / "masks" / f"{stem}.png",
             mask if mask is not None else mask_image(SIZE, SIZE, seed))


def hostile_folder(root: Path, outside: Path) -> Path:
    """An ``images/`` + ``masks/`` folder holding every hostile 2-D case of the issue."""
    for i, stem in enumerate(["ok0", "ok1", "ok2", "with space", "ünïcødé 画像"]):
        _pair(root, stem, i)
    blob = mask_image(SIZE, SIZE, 7) > 0
    for value in (255, 1, 2, 4):  # one label value each: all read as the same mask
        _pair(root, f"label{value}", 7, blob.astype(np.uint8) * value)
    labels = blob.astype(np.uint8) * 1
    labels[:, SIZE // 2:][blob[:, SIZE // 2:]] = 4
    labels[: SIZE // 2][blob[: SIZE // 2]] = 2
    _pair(root, "labels124", 8, labels)  # a label map where a binary mask belongs

    deep = (gray_image(SIZE, SIZE, 9) * 257).astype(np.uint16)  # 16-bit, full range
    Image.fromarray(deep).save(root / "images" / "deep16.png")
    save_png(root / "masks" / "deep16.png", mask_image(SIZE, SIZE, 9))
    rgba = np.dstack([gray_image(SIZE, SIZE, 10)] * 3 + [np.full((SIZE, SIZE), 128)])
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(root / "images" / "rgba.png")
    save_png(root / "masks" / "rgba.png", mask_image(SIZE, SIZE, 10))
    pal = Image.fromarray(gray_image(SIZE, SIZE, 11).astype(np.uint8)).convert("P")
    pal.save(root / "images" / "palette.png")
    pmask = Image.fromarray((mask_image(SIZE, SIZE, 11) > 0).astype(np.uint8), "P")
    pmask.putpalette([200, 200, 200, 128, 0, 0] + [0] * 762)  # light background: only
    # the indices (0, 1), not the colours' luma (200, 38), give the right foreground
    pmask.save(root / "masks" / "palette.png")
    _pair(root, "resized-mask", 12, mask_image(SIZE // 2, SIZE // 2, 12))  # same aspect

    (root / "images" / "zero.png").write_bytes(b"")
    save_png(root / "masks" / "zero.png", mask_image(SIZE, SIZE, 13))
    torn = save_png(root / "images" / "torn.png", gray_image(SIZE, SIZE, 14))
    torn.write_bytes(torn.read_bytes()[:90])
    save_png(root / "masks" / "torn.png", mask_image(SIZE, SIZE, 14))
    bomb_png(root / "images" / "bomb.png", 40000, 40000)  # > 2× Pillow's limit: an error
    save_png(root / "masks" / "bomb.png", mask_image(SIZE, SIZE, 15))
    bomb_png(root / "images" / "big.png", 10000, 10000)  # > the limit: Pillow only warns
    save_png(root / "masks" / "big.png", mask_image(SIZE, SIZE, 16))
    nan = gray_image(SIZE, SIZE, 17).astype(np.float32)
    nan[3, 3], nan[5, 5] = np.nan, np.inf
    Image.fromarray(nan, "F").save(root / "images" / "nan.tiff")
    save_png(root / "masks" / "nan.png", mask_image(SIZE, SIZE, 17))
    save_png(root / "images" / "narrow.png", gray_image(SIZE, SIZE, 18))
    save_png(root / "masks" / "narrow.png", mask_image(SIZE, SIZE // 2, 18))  # other aspect
    torn_html = root / "images" / f"{HTML_NAME}.png"
    torn_html.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    save_png(root / "masks" / f"{HTML_NAME}.png", mask_image(SIZE, SIZE, 19))

    secret = save_png(outside / "secret.png", gray_image(SIZE, SIZE, 20))
    os.symlink(secret, root / "images" / "escape.png")  # a link out of the data root
    save_png(root / "masks" / "escape.png", mask_image(SIZE, SIZE, 20))
    os.symlink(root / "images" / "ok0.png", root / "images" / "inside-link.png")
    save_png(root / "masks" / "inside-link.png", mask_image(SIZE, SIZE, 0))
    return root


# --------------------------------------------------------------------------- NIfTI
BRATS_SKIPS = {  # case -> reason category
    "BraTS20_Training_002": "non-finite voxels",
    "BraTS20_Training_003": "not a 3-D volume",
    "BraTS20_Training_004": "not a 3-D volume",
    "BraTS20_Training_005": "unexpected mask labels",
    "BraTS20_Training_006": "outside the data root",
}


def hostile_brats(root: Path, outside: Path) -> Path:
    """BraTS 2020 cases: 001 and 007 good; 002 NaN/Inf FLAIR; 003 4-D FLAIR; 004 2-D
    labels; 005 label 255; 006 FLAIR linked from outside the root."""
    for num in range(1, 8):
        case = f"BraTS20_Training_{num:03d}"
        vols, seg = brats_volumes(seed=num)
        if num == 2:
            vols["flair"][10, 10, 5], vols["flair"][11, 11, 5] = np.nan, np.inf
        if num == 3:
            vols["flair"] = np.stack([vols["flair"]] * 2, axis=-1)
        if num == 5:
            seg[seg == 4] = 255
        for m, v in vols.items():
            if num == 6 and m == "flair":
                target = write_nifti(outside / f"{case}_flair.nii", v)
                (root / case).mkdir(parents=True, exist_ok=True)
                os.symlink(target, root / case / f"{case}_flair.nii")
            else:
                write_nifti(root / case / f"{case}_{m}.nii", v)
        write_nifti(root / case / f"{case}_seg.nii", seg[:, :, 6] if num == 4 else seg)
    return root


# --------------------------------------------------------------------------- checkpoints
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint that runs ``touch marker`` when unpickled without weights_only."""
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "extra": _Payload(marker)},
               path)
    return path


# --------------------------------------------------------------------------- second round
def degenerate_folder(root: Path, good: int = 4, full: int = 0, black: int = 0,
                      corner: int = 0) -> Path:
    """An ``images/`` + ``masks/`` folder with ``good`` ordinary pairs and degenerate ones:
    ``full`` masks covering the whole frame, ``black`` all-black images (no contrast), and
    ``corner`` masks lying only in a corner that the inscribed circle cuts away."""
    corner_mask = np.zeros((SIZE, SIZE), np.uint8)
    corner_mask[:4, :4] = 255
    kinds = [("good", good), ("full", full), ("black", black), ("corner", corner)]
    for kind, n in kinds:
        for i in range(n):
            image = np.zeros((SIZE, SIZE)) if kind == "black" else gray_image(SIZE, SIZE, i)
            mask = {"full": np.full((SIZE, SIZE), 255), "corner": corner_mask}.get(
                kind, mask_image(SIZE, SIZE, i))
            save_png(root / "images" / f"{kind}{i}.png", image)
            save_png(root / "masks" / f"{kind}{i}.png", mask)
    return root


DAMAGES = {  # file of a finished cell -> what it is overwritten with
    "rows.parquet": b"not a parquet file",
    "maps.npz": b"PK\x03\x04 torn zip",
    "loss.json": b"[3.1, 2.",
    "cell.json": b"[]",
}


def damage_cells(cells_dir: Path) -> dict[str, str]:
    """Overwrite one file in each of the first len(DAMAGES) cell folders; returns
    {cell key: damaged file}."""
    keys = sorted(p.name for p in cells_dir.iterdir() if (p / "cell.json").is_file())
    out = {}
    for key, (name, junk) in zip(keys, DAMAGES.items(), strict=False):
        (cells_dir / key / name).write_bytes(junk)
        out[key] = name
    return out
