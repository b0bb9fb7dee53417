"""Correctness checks that need a CUDA GPU; run before timing anything there.

    python benchmarks/gpu_checks.py            # prints one line per check, exits 1 on a failure

1. Fused θ training (``pretrain_stacked``) on the GPU equals training the models one by
   one on the GPU, in float64 (in float32 training amplifies rounding noise to a few %
   within a handful of steps in either implementation; tests/ssl/test_stacked.py says the same
   of the CPU).
2. Training on the GPU follows the CPU's loss curve in float64 (``split_bn=1``: the key
   shuffle draws from the device's own generator, so with split BN the batches' statistics
   differ by design between devices).
3. SmoothGrad maps on the GPU equal the CPU's with no noise.
4. bf16 SmoothGrad on the GPU correlates with fp32 (≥ 0.95, the issue's bound).

The CPU test suite pins all of these on the CPU; this script is the GPU's counterpart,
kept in the repository because a lent GPU machine keeps nothing.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from thetascope.attribution.smoothgrad import SmoothGradSettings, smoothgrad_pair
from thetascope.attribution.targets import pair_cosine
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.stacked import pretrain_stacked
from thetascope.ssl.train import TrainSettings, pretrain


def _models(n: int, device: str, split_bn: int = 2) -> list[MoCo]:
    out = []
    for _ in range(n):
        torch.manual_seed(0)
        out.append(MoCo("resnet18", dim=128, K=32, split_bn=split_bn).to(device))
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device visible")
        return 1
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    failures = 0

    def check(name: str, value: float, bound: float, higher: bool = False) -> None:
        nonlocal failures
        ok = value >= bound if higher else value <= bound
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3g} ({'≥' if higher else '≤'} {bound})")

    torch.set_default_dtype(torch.float64)
    torch.manual_seed(1)
    images = torch.rand(48, 3, 64, 64)
    thetas = [0.0, 45.0, 90.0, 200.0]
    settings = TrainSettings(steps=6, batch_size=16, precision="fp32")
    fused = pretrain_stacked(_models(4, "cuda"), images, thetas, settings, 0)
    single = [pretrain(md, images, pair_builder("fixed-theta", t), settings, 0)
              for md, t in zip(_models(4, "cuda"), thetas, strict=True)]
    check("float64 fused vs one-by-one loss curves on cuda (max rel diff)",
          _rel(fused, single), 1e-6)
    pair = pair_builder("fixed-theta", 45.0)
    gpu = pretrain(_models(1, "cuda", 1)[0], images, pair, settings, 0)
    cpu = pretrain(_models(1, "cpu", 1)[0], images, pair, settings, 0)
    check("float64 cuda vs cpu loss curve, split_bn=1 (max rel diff)", _rel(gpu, cpu), 1e-6)
    torch.set_default_dtype(torch.float32)
    fused = pretrain_stacked(_models(4, "cuda"), images.float(), thetas, settings, 0)
    single = [pretrain(md, images.float(), pair_builder("fixed-theta", t), settings, 0)
              for md, t in zip(_models(4, "cuda"), thetas, strict=True)]
    print(f"info float32 fused vs one-by-one on cuda, rel diff per step: "
          f"{[round(_rel(np.array(fused)[:, i], np.array(single)[:, i]), 7) for i in range(6)]}")

    torch.manual_seed(0)
    model = MoCo("resnet18", dim=128, K=16).eval()
    a, r = make_pair(torch.rand(4, 3, 96, 96), 30.0, circle=False)
    zero = SmoothGradSettings(samples=1, noise_level=0.0, precision="fp32")
    mx_cpu, _ = smoothgrad_pair(pair_cosine(model.embed), a, r, zero)
    model = model.cuda()
    target = pair_cosine(model.embed)
    mx_gpu, _ = smoothgrad_pair(target, a.cuda(), r.cuda(), zero)
    check("smoothgrad cuda vs cpu, no noise (max rel diff)", _rel(mx_gpu.cpu(), mx_cpu), 1e-3)

    f32, _ = smoothgrad_pair(target, a.cuda(), r.cuda(), SmoothGradSettings(precision="fp32"),
                             seed=3)
    b16, _ = smoothgrad_pair(target, a.cuda(), r.cuda(), SmoothGradSettings(precision="bf16"),
                             seed=3)
    corr = float(np.corrcoef(f32.cpu().numpy().ravel(), b16.float().cpu().numpy().ravel())[0, 1])
    check("smoothgrad bf16 vs fp32 on cuda (correlation)", corr, 0.95, higher=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
