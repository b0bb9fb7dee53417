"""Small MoCo models, phantom images and a float64 switch shared by the training tests.

    from moco_helpers import default_dtype, phantom_images, tiny_moco
    model = tiny_moco(seed=0)                     # ResNet-18, dim 16, K 16, split BN 2
    images = phantom_images(count=32, size=64)    # (32, 3, 64, 64) in [0, 1]
    with default_dtype(torch.float64):            # exactness is checked in float64
        sep, sep_models, fused, fused_models = train_fused_and_separate(
            [0.0, 45.0], images.double(), TrainSettings(steps=6, batch_size=8), seed=3)

Used by tests/ssl/test_stacked.py (fused θ on the CPU) and tests/gpu/test_cuda.py (the
same checks on a GPU), so both build the same models.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from thetascope.data.phantoms import generate
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import pair_builder
from thetascope.ssl.stacked import pretrain_stacked
from thetascope.ssl.train import TrainSettings, pretrain


def tiny_moco(seed: int = 0, split_bn: int = 2) -> MoCo:
    """A ResNet-18 MoCo small enough for a test, its weights fixed by ``seed``."""
    torch.manual_seed(seed)
    return MoCo("resnet18", dim=16, K=16, m=0.99, T=0.2, split_bn=split_bn)


def phantom_images(count: int = 32, size: int = 32) -> torch.Tensor:
    """``count`` polyp phantoms as 3-channel images, in the default dtype."""
    images, _ = generate("phantom-polyp", count=count, size=size, seed=0)
    return torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1).to(torch.get_default_dtype())


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Build models and tensors in ``dtype`` inside the block. Exactness is checked in
    float64: in float32, training amplifies rounding noise (1e-6 after one step, a few %
    after a handful of steps) in either implementation and on either device."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def train_fused_and_separate(
    thetas: list[float], images: torch.Tensor, settings: TrainSettings, seed: int,
    device: str | torch.device = "cpu",
) -> tuple[list[list[float]], list[MoCo], list[list[float]], list[MoCo]]:
    """Train one ``tiny_moco`` per θ with ``pretrain``, then the same models fused with
    ``pretrain_stacked`` (what ``sweep.theta_batch`` > 1 runs), all on ``device``.

    Returns (separate curves, separate models, fused curves, fused models); the two
    should agree to float tolerance."""
    separate = [tiny_moco().to(device) for _ in thetas]
    curves = [pretrain(md, images, pair_builder("fixed-theta", t), settings, seed=seed)
              for md, t in zip(separate, thetas, strict=True)]
    fused = [tiny_moco().to(device) for _ in thetas]
    return curves, separate, pretrain_stacked(fused, images, thetas, settings, seed), fused
