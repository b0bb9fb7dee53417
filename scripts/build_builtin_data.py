"""Regenerate the built-in real datasets shipped in ``src/thetascope/data/assets/``.

Downloads the pyradiomics 3.0.1 sdist from PyPI (or takes a local copy), verifies its
sha256, reads the gzip-encoded NRRD test volumes and writes

- ``mri_lesion.npz``: every axial slice of brain1 and brain2 (int16, 256×256) with its
  lesion mask (uint8 {0,1}); slice ids ``brain1_z07`` etc.
- ``ct_nodule.npz``: every axial slice of lung1 and lung2 in Hounsfield units, reduced
  from 512² to 256² by 2×2 area averaging (int16), masks reduced by "any of the 2×2
  block" so small nodules survive; windowing happens at load time (config fields).
- ``LICENSE-pyradiomics.txt``: the sdist's licence, verbatim.

Run (needs numpy and wheel in the environment for ``pip download``)::

    python scripts/build_builtin_data.py                 # downloads with pip
    python scripts/build_builtin_data.py --sdist /tmp/pyradiomics-3.0.1.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from thetascope.data.nrrd import read_nrrd  # noqa: E402

SHA256 = "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"
ASSETS = ROOT / "src" / "thetascope" / "data" / "assets"


def fetch_sdist(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
           "pyradiomics==3.0.1", "-d", str(dest)]
    subprocess.run(cmd, check=True)
    return next(dest.glob("pyradiomics-3.0.1.tar.gz"))


def verify(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest} does not match the expected {SHA256}; "
                 "re-download the pyradiomics 3.0.1 sdist")


def read_member(tar: tarfile.TarFile, name: str) -> np.ndarray:
    blob = tar.extractfile(f"pyradiomics-3.0.1/data/{name}").read()  # type: ignore[union-attr]
    return read_nrrd(blob, name)[0]


def slices(tar: tarfile.TarFile, stems: list[str], reduce2: bool) -> dict[str, np.ndarray]:
    images, masks, ids, vols, idx = [], [], [], [], []
    for stem in stems:
        img = read_member(tar, f"{stem}_image.nrrd").astype(np.int16)
        lab = read_member(tar, f"{stem}_label.nrrd") > 0
        if img.shape != lab.shape:
            sys.exit(f"{stem}: image {img.shape} and label {lab.shape} differ")
        if reduce2:
            z, h, w = img.shape
            img = img.reshape(z, h // 2, 2, w // 2, 2).astype(np.float32).mean((2, 4))
            img = np.round(img).astype(np.int16)
            lab = lab.reshape(z, h // 2, 2, w // 2, 2).any((2, 4))
        for k in range(img.shape[0]):
            images.append(img[k])
            masks.append(lab[k].astype(np.uint8))
            ids.append(f"{stem}_z{k:02d}")
            vols.append(stem)
            idx.append(k)
    return {"images": np.stack(images), "masks": np.stack(masks), "ids": np.array(ids),
            "volume": np.array(vols), "slice_index": np.array(idx, dtype=np.int16)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sdist", type=Path, help="local pyradiomics-3.0.1.tar.gz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or fetch_sdist(Path(tmp))
        verify(sdist)
        ASSETS.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist, "r:gz") as tar:
            mri = slices(tar, ["brain1", "brain2"], reduce2=False)
            ct = slices(tar, ["lung1", "lung2"], reduce2=True)
            lic = tar.extractfile("pyradiomics-3.0.1/LICENSE.txt").read()  # type: ignore[union-attr]
    np.savez_compressed(ASSETS / "mri_lesion.npz", **mri)
    np.savez_compressed(ASSETS / "ct_nodule.npz", **ct)
    (ASSETS / "LICENSE-pyradiomics.txt").write_bytes(lic)
    for name, d in (("mri_lesion", mri), ("ct_nodule", ct)):
        n_masked = int((d["masks"].reshape(len(d["masks"]), -1).sum(1) > 0).sum())
        size = (ASSETS / f"{name}.npz").stat().st_size / 1e6
        print(f"{name}: {d['images'].shape} slices, {n_masked} with a mask, {size:.1f} MB")


if __name__ == "__main__":
    main()
