"""Explain a model at one θ and score the maps: the part a trained cell and the untrained
reference (``sweep/references.py``) share, so both go through exactly the same pair,
SmoothGrad, rotate-back, binarisation and scoring.

    sal = explain_at(model, images, theta, cfg, device, seed)       # (N, H, W) numpy maps
    sal = explain_embedding(net, images, theta, cfg, device, seed)  # any embedding network
    recs = score_records(sal, masks, ids, theta, cfg)                 # [{image_id, metric, value}]
    final = scored_map(map_x, map_r, theta, "mean", True, "fourier")  # the map that is scored
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from thetascope.attribution.inference import SaliencyEncoder
from thetascope.attribution.smoothgrad import SmoothGradSettings, guided_relus, smoothgrad_pair
from thetascope.attribution.targets import create_target
from thetascope.config import ExperimentConfig
from thetascope.geometry import rotate, valid_region
from thetascope.metrics.overlap import score_image
from thetascope.ssl.model import SSLModel
from thetascope.ssl.pairs import inscribed_crop, make_pair


def rotate_maps(maps: torch.Tensor, theta: float, method: str) -> torch.Tensor:
    """Rotate (N, H, W) maps by θ with ``saliency.map_rotation``'s method."""
    return rotate(maps[:, None], theta, method)[:, 0]  # type: ignore[arg-type]


def scored_map(map_x: torch.Tensor, map_r: torch.Tensor, theta: float, view: str,
               rotate_back: bool, method: str) -> torch.Tensor:
    """The map that is scored, in the original image's frame: x's map, the rotated view's
    map rotated back by −θ (``method``: ``saliency.map_rotation``), or their mean."""
    back = rotate_maps(map_r, -theta, method) if rotate_back else map_r
    if view == "original":
        return map_x
    if view == "rotated":
        return back
    return 0.5 * (map_x + back)


def explain_at(
    model: SSLModel,
    images: np.ndarray,
    theta: float,
    cfg: ExperimentConfig,
    device: torch.device,
    seed: int,
    on_chunk: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """SmoothGrad of ``saliency.target`` for the pairs (x, rot_θ x) of ``images`` through
    ``model.query_encoder()`` in eval mode (on a BN-folded copy), combined into the scored
    maps."""
    # model.embed's function on a BN-folded copy (attribution/inference.py); NHWC for bf16
    net = SaliencyEncoder(model.query_encoder(), channels_last=cfg.saliency.precision == "bf16")
    return explain_embedding(net, images, theta, cfg, device, seed, on_chunk)


def explain_embedding(
    net: torch.nn.Module,
    images: np.ndarray,
    theta: float,
    cfg: ExperimentConfig,
    device: torch.device,
    seed: int,
    on_chunk: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``explain_at`` for any embedding network ``net`` (eval mode, (N, C, H, W) →
    (N, D)): the pairs, SmoothGrad of ``saliency.target``, the rotate-back and the view
    combination, exactly as a sweep cell does them. ``thetascope.saliency`` calls this."""
    g = cfg.geometry
    x, r = make_pair(torch.from_numpy(images), theta, g.interpolation, g.fill, g.circle_mask,
                     g.rotate_then_crop)
    target = create_target(cfg.saliency.target, net)
    guided = guided_relus(net) if cfg.saliency.backprop == "guided" else contextlib.nullcontext()
    with guided:
        map_x, map_r = smoothgrad_pair(target, x.to(device), r.to(device),
                                       SmoothGradSettings.from_config(cfg), seed=seed,
                                       on_chunk=on_chunk)
    s = cfg.saliency
    return scored_map(map_x.cpu(), map_r.cpu(), theta, s.view, s.rotate_back,
                      s.map_rotation).numpy()


def score_records(sal: np.ndarray, masks: np.ndarray, ids: list[str], theta: float,
                  cfg: ExperimentConfig) -> list[dict]:
    """One record per (image, metric) of ``cfg.metrics.names`` (+ ``mask_outside_valid``),
    scored inside the region valid at θ. ``masks`` are the dataset's; with
    ``geometry.rotate_then_crop`` they are cut like the views."""
    masks = inscribed_crop(masks) if cfg.geometry.rotate_then_crop else masks
    h, w = sal.shape[-2:]
    valid = valid_region(h, w, theta, cfg.geometry.circle_mask).numpy()
    rule, names = cfg.metrics.binarize, list(cfg.metrics.names)
    return [{"image_id": image_id, "metric": metric, "value": value}
            for i, image_id in enumerate(ids)
            for metric, value in score_image(sal[i], masks[i], valid, rule, names).items()]
