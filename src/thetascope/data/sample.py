"""What every dataset loader produces: samples of float images with boolean masks.

    s = Sample(image=np.zeros((3, 64, 64), np.float32), mask=np.zeros((64, 64), bool),
               id="case_01")
    ds = LoadedDataset(name="demo", kind="folder", synthetic=False, ssp=[s], eval=[s])
    ds.ssp_array().shape      # (1, 3, 64, 64)

The data layer knows nothing about models: arrays are numpy, images are in [0, 1].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

GROUP_KEYS = ("group", "volume", "case", "patient", "subject")


@dataclass
class Sample:
    image: np.ndarray  # float32 (C, H, W), values in [0, 1]
    mask: np.ndarray | None  # bool (H, W); None when the source has no mask
    id: str
    meta: dict = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The sample's source: its manifest ``group``, volume, case, patient or subject when
        known, else the sample itself. Slices of one volume are not independent images:
        statistics resample and split by this."""
        for key in GROUP_KEYS:
            if self.meta.get(key) is not None:
                return str(self.meta[key])
        return self.id


@dataclass
class LoadedDataset:
    """A dataset ready for a sweep: an SSP pool and an evaluation set with masks."""

    name: str
    kind: str
    synthetic: bool
    ssp: list[Sample]
    eval: list[Sample]
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cache_status: str = ""  # "hit", "miss", "stale" or "" (not cached)
    # Degenerate evaluation images (data/degenerate.py): (image id, reason) of each image
    # with a mask that was left out of the evaluation set because no score on it means
    # anything (no contrast, a mask covering or missing the valid region); their share of
    # the would-be evaluation set (every image with a non-empty mask, before max_eval);
    # dominated: that share is over data.max_degenerate_share (the verdict is inconclusive).
    degenerate: list[tuple[str, str]] = field(default_factory=list)
    degenerate_share: float = 0.0
    degenerate_dominated: bool = False

    def ssp_array(self) -> np.ndarray:
        return np.stack([s.image for s in self.ssp]).astype(np.float32)

    def eval_arrays(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        images = np.stack([s.image for s in self.eval]).astype(np.float32)
        masks = np.stack([s.mask for s in self.eval]).astype(bool)  # type: ignore[misc]
        return images, masks, [s.id for s in self.eval]

    def groups(self) -> dict[str, str]:
        """Image id -> source group (``Sample.group``) of every sample."""
        return {s.id: s.group for s in (*self.ssp, *self.eval)}

    def fingerprint(self) -> str:
        """Hash of every array and id: the data part of each cell's identity."""
        h = hashlib.sha256()
        for group in (self.ssp, self.eval):
            h.update(str(len(group)).encode())
            for s in group:
                h.update(s.id.encode())
                h.update(np.ascontiguousarray(s.image).tobytes())
                if s.mask is not None:
                    h.update(np.ascontiguousarray(s.mask).tobytes())
        return h.hexdigest()[:16]

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


@dataclass
class PreparedSet:
    """Every sample of a dataset preprocessed, before the SSP/evaluation split (what the
    on-disk cache stores). ``raw_foreground[i]``: sample i's mask had foreground before
    resizing; ``skipped_files``: (path, reason) of inputs the loader dropped."""

    samples: list[Sample]
    raw_foreground: list[bool]
    skipped_files: list[tuple[str, str]]
    source: str
    synthetic: bool
