"""The figures of docs/STUDY.md, from a finished run of ``configs/study.yaml``.

    thetascope run --config study --out runs/study
    python scripts/study_figures.py runs/study docs/study

Copies the run's Dice-vs-θ (with the references), orientation and score-vs-orientation
figures, and draws a compact saliency gallery per dataset (the untrained model, then five
of the thirteen θ, four images): the run's own galleries hold every θ and are ≈ 1.5 MB
each. Every PNG is re-encoded with a 256-colour palette (Pillow) so the write-up stays
under 1.5 MB.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

from thetascope.config import load_config
from thetascope.data.registry import create_dataset
from thetascope.report.figures import gallery
from thetascope.sweep.plan import plan_cells
from thetascope.sweep.references import plan_references, reference_store
from thetascope.sweep.store import ResultStore

COPIED = ("dice_vs_theta.png", "orient_curves.png", "score_vs_orientation.png")
GALLERY_THETAS = [0.0, 45.0, 90.0, 135.0, 180.0]


def _palette(src: Path, dst: Path) -> int:
    """Write ``src`` as a 256-colour PNG at ``dst``; returns its size in bytes."""
    img = Image.open(src).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    img.save(dst, optimize=True)
    return dst.stat().st_size


def main(run: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(run / "config.yaml")
    datasets = {}
    for spec in cfg.data.datasets:
        ds = create_dataset(spec, cfg.data, cfg.geometry.circle_mask)
        datasets[ds.name] = ds
    cells = plan_cells(cfg, datasets)
    store = ResultStore(run)
    refs = reference_store(run)
    total = 0
    for name in COPIED:
        total += _palette(run / "figures" / name, out / name)
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds in datasets.items():
            first = min((c for c in plan_references(cfg, {name: ds})), key=lambda c: c.seed)
            maps = refs.read_maps(first.key) if refs.is_done(first.key) else None
            png = gallery(Path(tmp), name, ds, [c for c in cells if c.dataset == name], store,
                          GALLERY_THETAS, maps)
            if png is not None:
                total += _palette(png, out / f"gallery_{name}.png")
    print(f"wrote {out} ({total / 2**20:.2f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
