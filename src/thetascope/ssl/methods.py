"""The built-in SSL methods, registered through ``register_method`` as a user's would be.

    model = get_method("moco_v2").build(cfg.ssl, in_channels=1, image_size=64, n_images=120)
    model = get_method("simclr").build(cfg.ssl, in_channels=3, image_size=64, n_images=48)

A builder reads the ``ssl`` config section by field name (``thetascope.config.SSLConfig``)
and returns an ``SSLModel`` (``model.py``); ``n_images`` is the SSP pool's size (MoCo sizes
its queue by it, ``train.resolve_queue_size``).
"""

from __future__ import annotations

import math
from typing import Any

from thetascope.ssl.moco import MoCo
from thetascope.ssl.registry import register_method
from thetascope.ssl.simclr import SimCLR
from thetascope.ssl.train import resolve_queue_size


@register_method("moco_v2", uses_queue=True, theta_fusion=True, label="MoCo v2",
                 description="MoCo v2: momentum key encoder and a queue of negatives",
                 chance_loss=lambda batch, k: math.log((k or 0) + 1))  # K negatives + 1
def build_moco_v2(ssl: Any, *, in_channels: int, image_size: int, n_images: int) -> MoCo:
    k = resolve_queue_size(ssl.queue_size, ssl.batch_size, n_images)
    return MoCo(ssl.encoder, dim=ssl.dim, K=k, m=ssl.momentum, T=ssl.temperature,
                mlp=ssl.mlp, split_bn=ssl.split_bn, freeze_queue=ssl.freeze_queue,
                in_channels=in_channels, image_size=image_size,
                mask_self_negatives=ssl.mask_self_negatives, symmetric=ssl.symmetric)


@register_method("simclr", label="SimCLR",
                 description="SimCLR: NT-Xent over the batch's 2N views",
                 chance_loss=lambda batch, k: math.log(2 * batch - 1))  # 2N − 1 candidates
def build_simclr(ssl: Any, *, in_channels: int, image_size: int, n_images: int) -> SimCLR:
    return SimCLR(ssl.encoder, dim=ssl.dim, T=ssl.temperature, mlp=ssl.mlp,
                  in_channels=in_channels, image_size=image_size)
