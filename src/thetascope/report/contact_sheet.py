"""A contact sheet: a few preprocessed samples of a dataset with their mask contours.

    path = write_contact_sheet(samples, Path("out/contact_brats.png"), title="brats", n=8)

Samples are picked evenly over the dataset, those with a non-empty mask first. Colour
(three distinct channels) is shown as RGB, anything else as grayscale; the mask outline is
cyan, as in the run's galleries.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from thetascope.data.sample import Sample  # noqa: E402


def pick_samples(samples: list[Sample], n: int) -> list[Sample]:
    """Up to ``n`` samples spread evenly, preferring ones with a non-empty mask."""
    has_fg = [s.mask is not None and bool(s.mask.any()) for s in samples]
    masked = [s for s, fg in zip(samples, has_fg, strict=True) if fg]
    rest = [s for s, fg in zip(samples, has_fg, strict=True) if not fg]
    pool = masked if len(masked) >= n else masked + rest
    if len(pool) <= n:
        return pool
    idx = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return [pool[i] for i in idx]


def _show(ax, s: Sample) -> None:
    img = s.image
    colour = img.shape[0] == 3 and not (np.array_equal(img[0], img[1])
                                        and np.array_equal(img[0], img[2]))
    if colour:
        ax.imshow(np.moveaxis(img, 0, -1).clip(0, 1))
    else:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
    if s.mask is not None and s.mask.any():
        ax.contour(s.mask, levels=[0.5], colors="cyan", linewidths=0.8)
    label = s.id if len(s.id) <= 28 else "…" + s.id[-27:]
    if s.mask is None:
        label += " (no mask)"
    ax.set_title(label, fontsize=7)
    ax.axis("off")


def write_contact_sheet(samples: list[Sample], path: Path, title: str = "",
                        n: int = 8) -> Path:
    chosen = pick_samples(samples, n)
    if not chosen:
        raise ValueError("no samples to draw")
    cols = min(4, len(chosen))
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, chosen, strict=False):
        _show(ax, s)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
