"""BraTS 2020 / 2021 / 2023 case folders of NIfTI volumes, read as axial 2-D slices.

    raw = load_brats(BratsSpec(root="/data/MICCAI_BraTS2020_TrainingData"))
    raw = load_brats(BratsSpec(root=..., modality=["flair", "t1ce", "t2"],
                               slice_policy="all-tumour", max_slices_per_case=4))

Layouts (docs/DATASETS.md): ``BraTS20_Training_NNN/BraTS20_Training_NNN_{flair,t1,t1ce,t2,
seg}.nii[.gz]`` (case 355's label file is ``W39_1998.09.19_Segm.nii``: any ``*seg*`` file
is the label file), ``BraTS2021_<id>/BraTS2021_<id>_*.nii.gz`` and 2023
``BraTS-GLI-<id>-<n>-{t1n,t1c,t2w,t2f,seg}.nii.gz`` (t2f = flair, t1n = t1, t1c = t1ce,
t2w = t2). Whole tumour = every non-zero label (2020/2021: 1, 2, 4; 2023: 1, 2, 3).

Orientation: ``canonical`` reorients each volume to RAS+ (``nibabel.as_closest_canonical``)
and shows the axial slice (last axis) with anterior at the top and the patient's left on
the image's left; ``array`` takes ``volume[:, :, z]`` as stored (the reference code).

Bad input (``data.on_bad_input``): a volume that is not 3-D (2-D, or 4-D with more than one
frame), has NaN or Inf voxels (the case is dropped, never zeroed: such values come from a
broken conversion), or resolves through a symlink outside ``root``.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from thetascope.config import BRATS_MODALITIES, BratsSpec
from thetascope.data.builtin import RawSet
from thetascope.data.problems import BadFile, DataError, LoadOptions, Problems, outside_root
from thetascope.data.roots import check_root

CASE_NAME = re.compile(r"^(BraTS20_\w+_\d+|BraTS2021_\d+|BraTS-[A-Z]+-\d+-\d+)$")
NIFTI = (".nii", ".nii.gz")
LABELS = {"2023": {0, 1, 2, 3}, "2020/2021": {0, 1, 2, 4}}
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError,
                nib.orientations.OrientationError)


def is_nifti(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(NIFTI)


def file_token(path: Path) -> str:
    """``BraTS20_Training_001_t1ce.nii.gz`` -> ``t1ce``; ``...-t2f.nii.gz`` -> ``t2f``."""
    stem = re.sub(r"\.nii(\.gz)?$", "", path.name, flags=re.I)
    return re.split(r"[_-]", stem)[-1].lower()


def find_case_dirs(root: Path) -> list[Path]:
    """Sub-folders of ``root`` named like BraTS cases or holding NIfTI files; if there are
    none but ``root`` has one sub-folder (an unzipped archive), look inside it."""
    if not root.is_dir():
        return []
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    cases = [d for d in subdirs if CASE_NAME.match(d.name) or any(map(is_nifti, d.iterdir()))]
    if not cases and len(subdirs) == 1:
        return find_case_dirs(subdirs[0])
    return cases


def case_files(case: Path) -> tuple[dict[str, Path], Path | None, str]:
    """(modality -> file, label file or None, edition) of one case folder."""
    files = sorted(p for p in case.iterdir() if is_nifti(p))
    mods, seg = {}, None
    tokens = {file_token(p): p for p in files}
    for token, path in tokens.items():
        if token in BRATS_MODALITIES:
            mods[BRATS_MODALITIES[token]] = path
    seg = tokens.get("seg") or next((p for p in files if "seg" in p.name.lower()), None)
    edition = "2023" if tokens.keys() & {"t2f", "t1n", "t1c", "t2w"} else "2020/2021"
    return mods, seg, edition


def read_volume(path: Path, orientation: str, labels: bool = False) -> np.ndarray:
    """A 3-D array (float32, or int labels); ``BadFile`` if unreadable or not 3-D."""
    try:
        img = nib.load(str(path))
        shape = img.shape
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) != 3:
            raise BadFile(f"not a 3-D volume: shape {img.shape}",
                          "give one 3-D NIfTI volume per modality")
        if orientation == "canonical":
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj) if labels else img.get_fdata(dtype=np.float32)
    except FileNotFoundError:
        raise BadFile("missing file", "check the path") from None
    except _READ_ERRORS as exc:
        raise BadFile(f"unreadable NIfTI: {exc}", "re-download or remove this case") from None
    if not labels and not np.isfinite(data).all():
        nan, inf = int(np.isnan(data).sum()), int(np.isinf(data).sum())
        raise BadFile(f"non-finite voxels: {nan} NaN and {inf} Inf",
                      "repair the volume (e.g. set them to 0) or remove this case")
    return data.reshape(data.shape[:3])


def select_slices(area: np.ndarray, spec: BratsSpec) -> list[int]:
    """Axial indices for the spec's slice policy, given tumour area per slice."""
    depth = len(area)
    tumour = np.flatnonzero(area)
    if spec.slice_policy == "fixed":
        return [spec.slice_index]
    if spec.slice_policy == "middle" or not tumour.size:
        return [depth // 2]
    if spec.slice_policy == "max-tumour":
        return [int(np.argmax(area))]
    n = min(spec.max_slices_per_case, tumour.size)
    picks = np.unique(np.round(np.linspace(0, tumour.size - 1, n)).astype(int))
    return [int(tumour[i]) for i in picks]


def _axial(volume: np.ndarray, z: int, orientation: str) -> np.ndarray:
    s = volume[:, :, z]
    return np.rot90(s).copy() if orientation == "canonical" else np.asarray(s).copy()


def _scale(volume: np.ndarray, slices: list[np.ndarray], spec: BratsSpec) -> list[np.ndarray]:
    if spec.intensity == "minmax":  # the paper: per slice
        out = []
        for s in slices:
            lo, hi = float(s.min()), float(s.max())
            out.append(np.zeros_like(s) if hi <= lo else (s - lo) / (hi - lo))
        return out
    nonzero = volume[volume != 0]
    lo, hi = np.percentile(nonzero, [spec.percentile_low, spec.percentile_high])
    if hi <= lo:
        return [np.zeros_like(s) for s in slices]
    return [np.where(s != 0, np.clip((s - lo) / (hi - lo), 0, 1), 0) for s in slices]


def _load_case(case: Path, spec: BratsSpec, out: RawSet, problems: Problems,
               root: Path | None = None) -> None:
    mods, seg_path, edition = case_files(case)
    for path in (*mods.values(), seg_path):
        if root is not None and path is not None and (why := outside_root(path, root)):
            problems.report(path, *why)
            return
    if not mods and seg_path is None:
        problems.report(case, "empty folder: no NIfTI files",
                        "remove the folder or restore its .nii/.nii.gz files")
        return
    missing = [m for m in spec.modalities if m not in mods]
    if missing:
        problems.report(case, f"missing modality: no {missing[0]} volume in the case folder",
                        f"restore {case.name}_{missing[0]}.nii.gz or choose another modality")
        return
    if seg_path is None:
        problems.report(case, "no mask: no *seg* label volume in the case folder",
                        "restore the case's _seg.nii.gz label file")
        return
    try:
        seg = read_volume(seg_path, spec.orientation, labels=True)
    except BadFile as bad:
        problems.report(seg_path, bad.reason, bad.fix)
        return
    values = set(np.unique(seg).tolist())
    if values - LABELS[edition]:
        problems.report(seg_path, f"unexpected mask labels: {sorted(values - LABELS[edition])} "
                        f"(BraTS {edition} labels are {sorted(LABELS[edition])})",
                        "check that this is the case's label file")
        return
    tumour = seg > 0
    if not tumour.any():
        problems.tolerate(seg_path, "empty mask: the label volume has no tumour",
                          "check the label file")
    zs = select_slices(tumour.sum(axis=(0, 1)), spec)
    if zs[0] >= seg.shape[2]:
        problems.report(case, f"slice index out of range: {zs[0]} ≥ depth {seg.shape[2]}",
                        "lower slice_index or use slice_policy=middle")
        return
    channels = []
    for m in spec.modalities:
        try:
            vol = read_volume(mods[m], spec.orientation)
        except BadFile as bad:
            problems.report(mods[m], bad.reason, bad.fix)
            return
        if vol.shape != seg.shape:
            problems.report(mods[m], f"size mismatch: volume {vol.shape} but labels "
                            f"{seg.shape}", "the modality and label volumes must align")
            return
        if not vol.any():
            problems.report(mods[m], "blank volume: every voxel is zero",
                            "re-download this case or remove it")
            return
        channels.append(_scale(vol, [_axial(vol, z, spec.orientation) for z in zs], spec))
    for i, z in enumerate(zs):
        planes = [c[i].astype(np.float32) for c in channels]
        out.images.append(planes[0] if len(planes) == 1 else np.stack(planes))
        out.masks.append(_axial(tumour, z, spec.orientation))
        out.ids.append(f"{case.name}_z{z:03d}")
        out.meta.append({"image_path": str(mods[spec.modalities[0]]),
                         "mask_path": str(seg_path), "case": case.name, "slice_index": z,
                         "raw_shape": list(planes[0].shape), "edition": edition})


def load_brats(spec: BratsSpec, opts: LoadOptions | None = None) -> RawSet:
    root = Path(spec.root).expanduser()
    check_root(root, missing_ok=True)  # a link loop, no permission: in words
    if not root.is_dir():
        raise DataError(f"{root}: folder not found; a 'brats' dataset needs the folder that "
                        "holds the case folders (e.g. MICCAI_BraTS2020_TrainingData)")
    cases = find_case_dirs(root)
    if not cases:
        raise DataError(f"{root}: no BraTS case folders (BraTS20_Training_NNN/, "
                        "BraTS2021_NNNNN/, BraTS-GLI-NNNNN-NNN/ holding .nii[.gz] volumes); "
                        "point root at the folder that holds them")
    problems = Problems(opts or LoadOptions())
    out = RawSet([], [], [], synthetic=False, scaled=True, source=(
        f"BraTS {root} ({'+'.join(spec.modalities)}, slice {spec.slice_policy}, "
        f"{spec.intensity}, {spec.orientation})"))
    for case in cases[: spec.max_cases]:
        _load_case(case, spec, out, problems, root)
    out.skipped = problems.skipped
    return out
