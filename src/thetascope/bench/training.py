"""SSP training throughput against a plain MoCo loop, and K θ-models fused vs one by one.

The baseline is written here the way facebookresearch/moco's ``main_moco.py`` and
``builder.py`` do it on one device: two encoders, a queue, InfoNCE, SGD, precomputed
views; no shuffle-BN (it needs several GPUs). thetascope's ``pretrain`` runs on the same
images and settings (fp32; then bf16 autocast + channels_last), so the ratio is the
framework's overhead (or gain).

    rows = bench_training([("resnet18", 64), ("resnet50", 128)], steps=6)
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from thetascope.bench.common import Row, matmul_peak
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.stacked import pretrain_stacked
from thetascope.ssl.train import TrainSettings, pretrain

BATCH, K_QUEUE, DIM = 16, 64, 128


class ReferenceMoCo(nn.Module):
    """MoCo as in facebookresearch/moco builder.py (single device, no shuffle-BN)."""

    def __init__(self, encoder: nn.Module, K: int = K_QUEUE, m: float = 0.99,
                 T: float = 0.2) -> None:
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q, self.encoder_k = encoder, copy.deepcopy(encoder)
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(DIM, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters(),
                              strict=True):
                pk.data = pk.data * self.m + pq.data * (1.0 - self.m)
            k = F.normalize(self.encoder_k(im_k), dim=1)
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, self.queue.clone().detach())
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        ptr = int(self.queue_ptr)
        self.queue[:, ptr:ptr + k.shape[0]] = k.T
        self.queue_ptr[0] = (ptr + k.shape[0]) % self.K
        return logits, labels


def _images(n: int, size: int) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, 3, size, size)


def _reference_rate(encoder: str, images: torch.Tensor, steps: int) -> tuple[float, list]:
    torch.manual_seed(0)
    model = ReferenceMoCo(MoCo(encoder, dim=DIM, K=K_QUEUE).encoder_q)
    a, b = make_pair(images, 30.0)
    opt = torch.optim.SGD(model.encoder_q.parameters(), lr=0.03, momentum=0.9,
                          weight_decay=1e-4)
    model.train()
    losses, t0 = [], 0.0
    for step in range(steps + 1):  # step 0 is warm-up
        if step == 1:
            t0 = time.perf_counter()
        idx = torch.arange(step * BATCH, (step + 1) * BATCH) % images.shape[0]
        logits, labels = model(a[idx], b[idx])
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return steps * BATCH / (time.perf_counter() - t0), losses


def _ours_rate(encoder: str, images: torch.Tensor, steps: int, precision: str) -> tuple:
    torch.manual_seed(0)
    model = MoCo(encoder, dim=DIM, K=K_QUEUE, split_bn=2)
    t = {}

    def on_step(step: int, loss: float) -> None:
        t[step] = time.perf_counter()

    settings = TrainSettings(steps=steps + 1, batch_size=BATCH, precision=precision)
    losses = pretrain(model, images, pair_builder("fixed-theta", 30.0), settings, 0, on_step)
    return steps * BATCH / (t[steps] - t[0]), losses


def step_flops(encoder: str, size: int) -> float:
    """FLOPs of one MoCo step: query forward + backward, key forward."""
    model = MoCo(encoder, dim=DIM, K=K_QUEUE)
    x = torch.rand(BATCH, 3, size, size)
    with FlopCounterMode(display=False) as fc:
        model.encoder_q(x).sum().backward()
        with torch.no_grad():
            model.encoder_k(x)
    return float(fc.get_total_flops())


def bench_training(configs: list[tuple[str, int]], steps: int = 6) -> list[Row]:
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    rows = []
    for encoder, size in configs:
        images = _images(BATCH * 4, size)
        base, base_losses = _reference_rate(encoder, images, steps)
        flops = step_flops(encoder, size)
        for precision, target in (("fp32", 0.95), ("bf16", 1.6)):
            ours, losses = _ours_rate(encoder, images, steps, precision)
            achieved = ours / BATCH * flops
            rows.append(Row(
                f"SSP training {encoder} {size}px {precision}"
                + (" + channels_last" if precision == "bf16" else ""),
                "reference MoCo loop (main_moco.py/builder.py style), fp32", base, ours,
                "images/s", target,
                notes={"mfu": round(achieved / peaks[precision], 4),
                       "matmul_peak_gflops": round(peaks[precision] / 1e9, 1),
                       "flops_per_step": flops, "first_losses": losses[:3],
                       "reference_first_losses": base_losses[:3]}))
    return rows


def bench_multi_theta(k: int = 8, size: int = 64, steps: int = 4) -> Row:
    """K fixed-θ ResNet-18 models fused vs trained one after another (aggregate img/s)."""
    images = _images(BATCH * 4, size)
    thetas = [i * 360.0 / k for i in range(k)]
    settings = TrainSettings(steps=steps, batch_size=BATCH)

    def models() -> list[MoCo]:
        out = []
        for _ in thetas:
            torch.manual_seed(0)
            out.append(MoCo("resnet18", dim=DIM, K=32, split_bn=2))
        return out

    warm = models()[:2]
    pretrain_stacked(warm, images, thetas[:2], TrainSettings(steps=1, batch_size=BATCH), 0)
    t0 = time.perf_counter()
    for md, th in zip(models(), thetas, strict=True):
        pretrain(md, images, pair_builder("fixed-theta", th), settings, 0)
    seq = k * steps * BATCH / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    pretrain_stacked(models(), images, thetas, settings, 0)
    fused = k * steps * BATCH / (time.perf_counter() - t0)
    return Row(f"training {k} θ-models at once (ResNet-18, {size}px)",
               f"{k} sequential pretrain runs", seq, fused, "images/s (all models)", 1.3)
