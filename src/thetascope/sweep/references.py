"""Reference curves: what the measurement gives without learning, at every sweep θ.

One reference cell per (dataset, seed), stored like a θ cell (atomic folder, reused on
resume) under ``references/<key>/``; its rows join ``results.parquet`` with a ``model``
column other than ``trained``:

- ``untrained``: the seeded initial model of the seed (the weights every θ cell of that
  seed starts from) through exactly the same pair, SmoothGrad, rotate-back, binarisation
  and scoring as a trained cell (``sweep/explain.py``); no training.
- ``resample``: the floor of the geometry alone: the untrained model's θ = 0 maps, rotated
  by θ and back with ``saliency.map_rotation``, combined as ``saliency.view`` says and
  scored; a map that does not change with θ still scores differently when resampling
  smooths it at some angles and not at others.
- ``chance``: a map of uniform noise through the same binarisation (Dice, IoU), and the
  mask's share of the valid region (pointing game, mass in mask); ``metrics/chance.py``.

    cells = plan_references(cfg, datasets)       # [Cell(..., theta=nan, baseline="reference")]
    out = run_reference(cells[0], ds, cfg)       # CellOutput: rows at every sweep θ
    store = reference_store(Path("runs/x")); store.is_done(cells[0].key)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from thetascope.config import ExperimentConfig, stable_hash
from thetascope.data.sample import LoadedDataset
from thetascope.geometry import valid_region
from thetascope.metrics.chance import chance_scores
from thetascope.sweep.cell import CellOutput, build_model, provenance, result_rows
from thetascope.sweep.explain import explain_at, rotate_maps, score_records, scored_map
from thetascope.sweep.plan import Cell, cell_identity, dataset_seeds
from thetascope.sweep.store import ResultStore

REFERENCE_DIR = "references"
REFERENCE_KINDS = ("untrained", "resample", "chance")
# the SSP fields that decide the initial weights of the query encoder; the others only
# shape training, which a reference never does
_MODEL_FIELDS = ("method", "encoder", "weights", "dim", "mlp")


def reference_identity(cfg: ExperimentConfig, spec_dump: dict, data_fp: str,
                       seed: int) -> dict:
    """What decides a reference cell's rows: data, geometry, the initial model, saliency,
    metrics, the seed, the θ grid and the kinds; never the training recipe."""
    ident = cell_identity(cfg, spec_dump, data_fp, 0.0, seed)
    for k in ("theta", "protocol", "theta_batch", "downstream"):
        ident.pop(k, None)
    ident["ssl"] = {k: ident["ssl"][k] for k in _MODEL_FIELDS}
    ident.update(unit="reference", kinds=sorted(cfg.sweep.references),
                 chance_draws=cfg.sweep.chance_draws,
                 thetas=sorted(float(t) for t in cfg.sweep.thetas))
    return ident


def plan_references(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]) -> list[Cell]:
    """Reference cells in dataset × seed order; none when ``sweep.references`` is empty."""
    if not cfg.sweep.references:
        return []
    return [Cell(stable_hash(reference_identity(cfg, spec, fp, seed)), name, float("nan"),
                 seed, "reference", cfg.ssl.method, cfg.ssl.encoder, None, "reference")
            for name, spec, fp, seed in dataset_seeds(cfg, datasets)]


def reference_store(root: Path) -> ResultStore:
    """The results store of the reference cells: ``<root>/references/<key>/``."""
    return ResultStore(Path(root), cells=REFERENCE_DIR)


def _chance_records(masks: np.ndarray, ids: list[str], theta: float, cfg: ExperimentConfig,
                    seed: int) -> list[dict]:
    if cfg.geometry.rotate_then_crop:  # scored like the views: cut to the inscribed square
        from thetascope.ssl.pairs import inscribed_crop

        masks = inscribed_crop(masks)
    h, w = masks.shape[-2:]
    valid = valid_region(h, w, theta, cfg.geometry.circle_mask).numpy()
    out = []
    for i, image_id in enumerate(ids):
        scores = chance_scores(masks[i], valid, cfg.metrics.binarize, list(cfg.metrics.names),
                               cfg.sweep.chance_draws, seed * 1_000_003 + i)
        out += [{"image_id": image_id, "metric": m, "value": v, "theta": theta}
                for m, v in scores.items()]
    return out


def run_reference(
    cell: Cell,
    ds: LoadedDataset,
    cfg: ExperimentConfig,
    device: torch.device | None = None,
    on_saliency: Callable[[int, int], None] | None = None,
) -> CellOutput:
    """Every reference kind of ``sweep.references`` at every sweep θ for one (dataset, seed)."""
    device = device or torch.device("cpu")
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    kinds, thetas = set(cfg.sweep.references), [float(t) for t in cfg.sweep.thetas]
    ev, masks, ids = ds.eval_arrays()
    groups = ds.groups()
    frames: list[pd.DataFrame] = []
    k = min(cfg.saliency.gallery_images, len(ids))
    gallery: list[np.ndarray] = []
    if kinds & {"untrained", "resample"}:
        model = build_model(cfg, len(ds.ssp), cell.seed).to(device)
        model.eval()
        maps = {}
        need = thetas if "untrained" in kinds else []
        need = need + ([0.0] if "resample" in kinds and 0.0 not in
                       [t % 360.0 for t in need] else [])
        for i, theta in enumerate(need):
            maps[theta] = explain_at(model, ev, theta, cfg, device, cell.seed,
                                     _progress(on_saliency, i, len(need)))
        if "untrained" in kinds:
            recs = [dict(r, theta=t) for t in thetas
                    for r in score_records(maps[t], masks, ids, t, cfg)]
            frames.append(result_rows(recs, cell, cfg, "untrained", groups))
            gallery = [maps[t][:k].astype(np.float16) for t in thetas]
        if "resample" in kinds:
            zero = next(t for t in maps if t % 360.0 == 0.0)
            frames.append(result_rows(_resample_records(maps[zero], masks, ids, thetas, cfg),
                                      cell, cfg, "resample", groups))
    if "chance" in kinds:
        recs = [r for t in thetas for r in _chance_records(masks, ids, t, cfg, cell.seed)]
        frames.append(result_rows(recs, cell, cfg, "chance", groups))
    rows = pd.concat(frames, ignore_index=True)
    saved = {"ids": np.array(ids[:k]), "thetas": np.array(thetas)}
    if gallery:
        saved["untrained"] = np.stack(gallery)  # (T, k, H, W): the untrained model's maps
    meta = {"key": cell.key, "dataset": cell.dataset, "seed": cell.seed,
            "references": sorted(kinds), "thetas": thetas, "data_fingerprint": ds.fingerprint(),
            "n_eval": len(ids), "wall_s": round(time.perf_counter() - t0, 3),
            "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
            **provenance(device)}
    return CellOutput(rows, [], saved, meta)


def _resample_records(map0: np.ndarray, masks: np.ndarray, ids: list[str],
                      thetas: list[float], cfg: ExperimentConfig) -> list[dict]:
    """The θ = 0 maps through rotate(θ), rotate(−θ) and the view combination, scored."""
    s = cfg.saliency
    m0 = torch.from_numpy(map0)
    out = []
    for t in thetas:
        rotated = rotate_maps(m0, t, s.map_rotation)
        sal = scored_map(m0, rotated, t, s.view, s.rotate_back, s.map_rotation).numpy()
        out += [dict(r, theta=t) for r in score_records(sal, masks, ids, t, cfg)]
    return out


def _progress(cb: Callable[[int, int], None] | None, i: int,
              n: int) -> Callable[[int, int], None] | None:
    """Report a θ's SmoothGrad rows as a share of the whole reference cell."""
    if cb is None:
        return None
    return lambda done, total: cb(i * total + done, n * total)
